/** Shared checks and fault-case plumbing for the trace engine tests. */
import {run} from '../../src/netns/index.js'
import type {FaultReason, TraceDirection, TraceResult} from '../../src/trace/types.js'

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
}

/** Hints name our namespaces explicitly; refuse to run anything that doesn't (never the root netns). */
const SAFE_HINT = /^(ip -n cnidbg-trc-|bridge -n cnidbg-trc-|ip netns exec cnidbg-trc-)/

/** Runs a fix hint from a trace (proves the hint is an exact, working command). */
export async function runHint(hint: string): Promise<void> {
  if (!SAFE_HINT.test(hint)) throw new Error(`refusing to run hint outside a test namespace: ${hint}`)
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
