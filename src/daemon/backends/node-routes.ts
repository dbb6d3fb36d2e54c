/**
 * What the backends that route pod CIDRs to node IPs share (host-gw, bgp): one route per peer that
 * runs the same backend, `peerCIDR via peerNodeIP dev <iface>`, and no device of their own, so a
 * VTEP left from a vxlan run is deleted. They differ only in a peer off this node's subnet: host-gw
 * can't reach it (a reason instead of a route), bgp reaches it through a router.
 */
import {contains, parseIP, parseNetwork} from '../../core/ip.js'
import {ipBatch} from '../../netns/netns.js'
import {ANN_BACKEND_TYPE, ANN_NODE_IP, type PeerNode, type SkippedPeer} from '../annotations.js'
import type {LinkInfo} from '../kernel-state.js'
import type {Route} from '../model.js'
import type {LocalContext, LocalResult, PeerPlan, PlanContext} from './backend.js'

/** A VTEP this daemon created in an earlier vxlan run: ours by name, and in the way now. */
const LEFTOVER_VTEP = /^cnidbg\.\d+$/

/**
 * The plan: peers of another backend type are skipped; for each other peer, `route` gives its route,
 * told whether the peer's node IP is on this node's underlay subnet, or a reason to skip it.
 */
export function planNodeRoutes(
  type: string,
  self: PlanContext,
  peers: readonly PeerNode[],
  route: (peer: PeerNode, onSegment: boolean) => Route | {skip: string},
): {plans: PeerPlan[]; skipped: SkippedPeer[]} {
  const plans: PeerPlan[] = []
  const skipped: SkippedPeer[] = []
  const segment = parseNetwork(`${self.underlay.ip}/${self.underlay.prefix}`, {loose: true, family: 4})
  for (const peer of peers) {
    if (peer.backendType !== type) {
      skipped.push({name: peer.name, reason: `backend-type ${peer.backendType}, this node runs ${type}`})
      continue
    }
    const ip = parseIP(peer.nodeIP)
    const r = route(peer, segment !== undefined && ip !== undefined && contains(segment, ip))
    if ('skip' in r) skipped.push({name: peer.name, reason: r.skip})
    else plans.push({peer, neighs: [], fdbs: [], routes: [r]})
  }
  return {plans, skipped}
}

/**
 * This node's side: no device (a leftover VTEP is deleted), no encapsulation, so pods get the
 * underlay MTU (flannel hostgw MTU()), and the node IP and backend type to publish.
 */
export async function nodeRoutesLocal(type: string, ctx: LocalContext): Promise<LocalResult> {
  const changes = await deleteLeftoverVteps(ctx.netns, ctx.links, type)
  return {
    mtu: ctx.underlay.mtu,
    annotations: {[ANN_NODE_IP]: ctx.underlay.ip, [ANN_BACKEND_TYPE]: type},
    changes,
  }
}

/** Deletes the VTEPs an earlier vxlan run left; returns what it did, for the log. */
export async function deleteLeftoverVteps(
  netns: string | undefined,
  links: readonly LinkInfo[],
  type: string,
): Promise<string[]> {
  const leftovers = links.filter((l) => LEFTOVER_VTEP.test(l.name) && l.kind === 'vxlan')
  if (leftovers.length === 0) return []
  await ipBatch(
    leftovers.map((l) => `link del dev ${l.name}`),
    netns,
  )
  return leftovers.map((l) => `deleted leftover VTEP ${l.name} (this node now runs ${type})`)
}
