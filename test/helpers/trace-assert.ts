/** Shared checks and fault-case plumbing for the trace engine tests. */
import type {Test} from 'tap'

import type {Envelope} from '../../src/core/envelope.js'
import {run} from '../../src/netns/index.js'
import type {RunResult} from '../../src/process/exec.js'
import type {FaultReason, TraceDirection, TraceResult} from '../../src/trace/types.js'
import type {TraceLab} from './trace-topology.js'

/** The result of a `cnidbg trace … --json` run `where` (a node), or an error saying what it printed. */
export function traceResultOf(r: RunResult, where: string, context: () => string = () => ''): TraceResult {
  let env: Envelope<TraceResult>
  try {
    env = JSON.parse(r.stdout) as Envelope<TraceResult>
  } catch {
    throw new Error(
      `trace from ${where} printed no envelope (exit ${r.exitCode}): ${r.stdout}\n${r.stderr}\n${context()}`,
    )
  }
  if (!env.result)
    throw new Error(`trace from ${where} failed: ${JSON.stringify(env.error)}\n${r.stderr}\n${context()}`)
  return env.result
}

export interface FaultCase {
  name: string
  inject: () => Promise<unknown>
  heal: (r: TraceResult | undefined) => Promise<unknown>
  expect: {reason: FaultReason; node: string; direction: TraceDirection; device?: string}
  /** Other acceptable (node, direction) places for the fault. */
  either?: Array<{node: string; direction: TraceDirection}>
  /** The pair to trace (default: the cross-node pair). */
  pair?: [string, string]
  opts?: {port?: number; staticOnly?: boolean}
  /**
   * Decided from what the live observation saw rather than from kernel state: the kernel's drop
   * reasons count there, and the skb:kfree_skb tracepoint reports every namespace's drops with no
   * addresses (src/kernel/dropwatch.ts), so no other trace of the file may run meanwhile.
   */
  alone?: boolean
}

/**
 * Runs fault cases on several identical topologies at once, so that their probe and observation
 * timeouts overlap: case k (of those not `alone`) on copy k mod n, each copy's cases one after
 * another in the given order, each healing what it broke before the next starts, as on a single
 * copy. The `alone` cases follow, one at a time on the first copy. `casesOf` builds the same list
 * (same names, same order) for any copy.
 */
export async function runFaultCases(
  t: Test,
  labs: readonly TraceLab[],
  casesOf: (lab: TraceLab) => FaultCase[],
  runCase: (t: Test, lab: TraceLab, c: FaultCase) => Promise<void>,
): Promise<void> {
  await t.test(`fault cases on ${labs.length} copies of the cluster at once`, async (t) => {
    t.jobs = labs.length
    labs.forEach((lab, i) => {
      const mine = casesOf(lab)
        .filter((c) => !c.alone)
        .filter((_, k) => k % labs.length === i)
      t.test(`copy ${i + 1}: ${mine.length} cases in turn`, async (t) => {
        for (const c of mine) await t.test(c.name, (t) => runCase(t, lab, c))
      })
    })
  })
  for (const c of casesOf(labs[0]!).filter((x) => x.alone)) await t.test(c.name, (t) => runCase(t, labs[0]!, c))
}

/** Hints name our namespaces explicitly; refuse to run anything that doesn't (never the root netns). */
const SAFE_COMMAND = /^(ip -n cnidbg-trc-|bridge -n cnidbg-trc-|ip netns exec cnidbg-trc-)/

/**
 * Throws unless every command of `hint` runs in a test namespace. The hint runs whole through
 * `sh -c`: commands may be joined by `&&` only, each one checked; anything else the shell would read
 * as another command or a substitution (`;`, `|`, a lone `&`, a newline, `$`, a backquote, a
 * redirection) is refused, even quoted.
 */
export function assertSafeHint(hint: string): void {
  const refuse = (why: string) => {
    throw new Error(`refusing to run hint outside a test namespace (${why}): ${hint}`)
  }
  if (/[;|\n\r$`<>]/.test(hint) || /&/.test(hint.replaceAll('&&', ''))) refuse('a shell operator other than &&')
  for (const part of hint.split('&&').map((x) => x.trim())) if (!SAFE_COMMAND.test(part)) refuse(part || 'empty')
}

/** Runs a fix hint from a trace (proves the hint is an exact, working command). */
export async function runHint(hint: string): Promise<void> {
  assertSafeHint(hint)
  const r = await run('sh', ['-c', hint], {timeoutMs: 10_000})
  if (r.exitCode !== 0) throw new Error(`hint failed: ${hint}: ${r.stderr.trim()}`)
}

/** One line per hop, for failure messages. */
export function hopTable(r: TraceResult): string {
  return r.hops
    .map((h) => `${h.index} ${h.direction} ${h.stage} ${h.node} ${h.netns} ${h.device} ${h.status}: ${h.detail}`)
    .join('\n')
}

export function summary(r: TraceResult): Record<string, unknown> {
  return {
    verdict: r.verdict,
    fault: r.fault,
    probes: r.probes.map(
      (p) => `${p.protocol}${p.df ? '-df' : ''} ${p.direction ?? ''} ${p.ok ? 'ok' : 'FAIL'} ${p.detail}`,
    ),
    notFine: r.hops.filter((h) => h.status !== 'ok').map((h) => `${h.index} ${h.stage} ${h.status}: ${h.detail}`),
    notes: r.notes,
  }
}

/**
 * What two traces of one path must agree on: the verdict, and the fault's reason, node, direction
 * (which way) and NetworkPolicy.
 */
export const verdictOf = (r: TraceResult) => ({
  verdict: r.verdict,
  reason: r.fault?.reason,
  node: r.fault?.node,
  direction: r.fault?.direction,
  policy: r.fault?.policy,
})
