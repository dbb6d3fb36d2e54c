/**
 * Applies a reconcile plan to a node's kernel: consecutive ops for the same tool go into one batch
 * (`ip -batch -` for routes and neighbours, `bridge -batch -` for FDB entries), so a full sync of N
 * peers costs three processes, not 3N. Runs the tools with `-n <netns>` (like `ip -n`), never by
 * entering the namespace, and only through src/process (the one place that starts subprocesses).
 */
import {CommandFailed, runOk} from '../process/exec.js'
import type {ApplyResult, Programmer} from './backends/backend.js'

export type {ApplyResult, OpError} from './backends/backend.js'
import {readNode} from './kernel-state.js'
import {type Ownership, ROUTE_PROTO} from './model.js'
import type {Op} from './reconcile.js'

export type Tool = 'ip' | 'bridge'

export function toolOf(op: Op): Tool {
  return op.kind === 'fdb' ? 'bridge' : 'ip'
}

/** The argument vector for one op (also one line of a batch). Pure; every value was validated upstream. */
export function opArgs(op: Op, proto = ROUTE_PROTO): string[] {
  switch (op.kind) {
    case 'route': {
      const r = op.route
      if (op.action === 'del') {
        // `proto` makes the kernel match only our route (fib_table_delete compares fc_protocol).
        return [
          'route',
          'del',
          r.dst,
          ...(r.via ? ['via', r.via] : []),
          'proto',
          String(proto),
          ...(r.metric ? ['metric', String(r.metric)] : []),
          'table',
          'main',
        ]
      }
      return [
        'route',
        'replace',
        r.dst,
        ...(r.via ? ['via', r.via] : []),
        'dev',
        r.dev,
        ...(r.onlink ? ['onlink'] : []),
        'proto',
        String(proto),
        ...(r.metric ? ['metric', String(r.metric)] : []),
        'table',
        'main',
      ]
    }
    case 'neigh':
      return op.action === 'del'
        ? ['neigh', 'del', op.neigh.ip, 'dev', op.neigh.dev]
        : ['neigh', 'replace', op.neigh.ip, 'lladdr', op.neigh.mac, 'dev', op.neigh.dev, 'nud', 'permanent']
    case 'fdb':
      return op.action === 'del'
        ? ['fdb', 'del', op.fdb.mac, 'dev', op.fdb.dev, 'dst', op.fdb.dst, 'self']
        : ['fdb', 'replace', op.fdb.mac, 'dev', op.fdb.dev, 'dst', op.fdb.dst, 'self', 'permanent']
  }
}

export interface Batch {
  tool: Tool
  ops: Op[]
}

/** Splits ordered ops into runs of the same tool, keeping the order (neigh → fdb → route). */
export function toBatches(ops: readonly Op[]): Batch[] {
  const batches: Batch[] = []
  for (const op of ops) {
    const tool = toolOf(op)
    const last = batches.at(-1)
    if (last && last.tool === tool) last.ops.push(op)
    else batches.push({tool, ops: [op]})
  }
  return batches
}

const ALREADY_GONE = /No such process|No such file or directory|Cannot find device|does not exist/i

function nsArgs(netns: string | undefined): string[] {
  return netns ? ['-n', netns] : []
}

/**
 * Runs the ops. A batch that fails is replayed one op per process: `ip -batch` stops at the first
 * failing `neigh` command even with -force (ipneigh.c exits), and per-op errors are what /diag shows.
 */
export async function applyOps(
  ops: readonly Op[],
  netns: string | undefined,
  proto = ROUTE_PROTO,
): Promise<ApplyResult> {
  const result: ApplyResult = {applied: 0, errors: [], execs: 0}
  for (const batch of toBatches(ops)) {
    const lines = batch.ops.map((op) => opArgs(op, proto).join(' '))
    result.execs++
    try {
      await runOk(batch.tool, [...nsArgs(netns), '-batch', '-'], {input: lines.join('\n') + '\n', timeoutMs: 30_000})
      result.applied += batch.ops.length
      continue
    } catch (error) {
      if (!(error instanceof CommandFailed)) throw error
    }
    for (const op of batch.ops) {
      const args = opArgs(op, proto)
      result.execs++
      try {
        await runOk(batch.tool, [...nsArgs(netns), ...args], {timeoutMs: 30_000})
        result.applied++
      } catch (error) {
        const msg = error instanceof CommandFailed ? error.result.stderr.trim() || error.message : String(error)
        // The failed batch may have deleted it already before stopping: gone is what we wanted.
        if (op.action === 'del' && ALREADY_GONE.test(msg)) {
          result.applied++
          continue
        }
        result.errors.push({op, command: `${batch.tool} ${args.join(' ')}`, error: msg})
      }
    }
  }
  return result
}

/** The default Programmer: this node's kernel, through `ip -n`/`bridge -n`. */
export function kernelProgrammer(netns: string | undefined, own: Ownership): Programmer {
  return {
    target: 'kernel',
    read: async () => (await readNode(netns, own)).state,
    apply: (ops: readonly Op[]) => applyOps(ops, netns, own.routeProto),
  }
}
