/**
 * vpc mode: why the VPC router's route table has no entry for a node's pod CIDR. Each node's daemon
 * keeps its own entry through the route-table API (src/daemon/backends/vpc.ts); when the table holds
 * its quota, the API refuses the CreateRoute (409 RouteLimitExceeded) and the daemon says so in its
 * /diag (`lastReconcile.errors`). A `route-table-missing` hop then says the table is full, with the
 * daemon's own words as evidence and a hint that fixes the cause, not the entry.
 */
import {readDaemonDiag} from './bgp.js'
import type {TraceHop, TraceNode} from './types.js'

/** What a node daemon's /diag says about its last pass, as far as trace reads it. */
export type DaemonErrorsReader = (node: TraceNode) => Promise<{errors: string[]} | {error: string}>

/** The owner's daemon's errors of its last pass (from its /diag), with the kubeconfig user's token. */
export function daemonErrorsReader(token?: string): DaemonErrorsReader {
  return async (node) => {
    const read = await readDaemonDiag(node, token)
    if ('error' in read) return read
    const last = read.doc.lastReconcile as {errors?: unknown} | null | undefined
    const errors = Array.isArray(last?.errors) ? last.errors.filter((e): e is string => typeof e === 'string') : []
    return {errors}
  }
}

const QUOTA = /RouteLimitExceeded|route table is full/

/**
 * For every `route-table-missing` hop, asks the daemon of the node that owns the missing CIDR why its
 * entry is not there; when the table refused it for the quota, says so. Returns notes on daemons
 * that could not be read.
 */
export async function refineVpcHops(
  hops: TraceHop[],
  destinationOf: (dir: TraceHop['direction']) => TraceNode,
  read: DaemonErrorsReader,
): Promise<string[]> {
  const notes: string[] = []
  for (const hop of hops) {
    if (hop.status !== 'fail' || hop.reason !== 'route-table-missing') continue
    const owner = destinationOf(hop.direction)
    const answer = await read(owner)
    if ('error' in answer) {
      // Without a diagnostics URL (a cluster's node read through its agent) there is nothing to say.
      if (owner.diagUrl) notes.push(`why ${owner.podCIDR} has no route-table entry: ${answer.error}`)
      continue
    }
    const refusal = answer.errors.find((e) => QUOTA.test(e) && e.includes(owner.podCIDR))
    if (!refusal) continue
    hop.detail = `${hop.detail}: the route table is full, its quota refused ${owner.name}'s CreateRoute`
    hop.evidence = [...(hop.evidence ?? []), `${owner.name}'s daemon: ${refusal}`]
    hop.hint = `raise the route table's quota, or delete an entry no node uses (a removed node's); ${owner.name}'s daemon tries again by itself within 12 s`
  }
  return notes
}
