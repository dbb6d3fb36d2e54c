/**
 * host-gw backend, modelled on flannel's (pkg/backend/hostgw/hostgw.go, pkg/backend/route_network.go):
 * no device and no encapsulation, one route per remote node, `remotePodCIDR via remoteNodeIP dev
 * <iface>`. It needs every node on one L2 segment; a peer that isn't gets a reason instead of a
 * route the kernel would refuse ("Nexthop has invalid gateway").
 */
import {ipBatch} from '../../netns/netns.js'
import {ANN_BACKEND_TYPE, ANN_NODE_IP, type PeerNode, type SkippedPeer} from '../annotations.js'
import {contains, parseIP, parseNetwork} from '../../core/ip.js'
import type {LinkInfo} from '../kernel-state.js'
import {type Ownership, ROUTE_PROTO} from '../model.js'
import type {Backend, DeviceStatus, LocalContext, LocalResult, PeerPlan, PlanContext} from './backend.js'

/** A VTEP this daemon created in an earlier vxlan run: ours by name, and in the way now. */
const LEFTOVER_VTEP = /^cnidbg\.\d+$/

export class HostGwBackend implements Backend {
  readonly type = 'host-gw'
  readonly ownership: Ownership

  constructor(opts: {routeProto?: number} = {}) {
    this.ownership = {routeProto: opts.routeProto ?? ROUTE_PROTO, neighDevs: [], fdbDevs: []}
  }

  async ensureLocal(ctx: LocalContext): Promise<LocalResult> {
    const changes = await this.teardownLocal(ctx.netns, ctx.links)
    return {
      // No encapsulation: pods get the underlay MTU (flannel hostgw MTU()).
      mtu: ctx.underlay.mtu,
      annotations: {[ANN_NODE_IP]: ctx.underlay.ip, [ANN_BACKEND_TYPE]: this.type},
      changes,
    }
  }

  plan(self: PlanContext, peers: readonly PeerNode[]): {plans: PeerPlan[]; skipped: SkippedPeer[]} {
    const plans: PeerPlan[] = []
    const skipped: SkippedPeer[] = []
    const segment = parseNetwork(`${self.underlay.ip}/${self.underlay.prefix}`, {loose: true, family: 4})
    for (const peer of peers) {
      if (peer.backendType !== this.type) {
        skipped.push({name: peer.name, reason: `backend-type ${peer.backendType}, this node runs ${this.type}`})
        continue
      }
      const ip = parseIP(peer.nodeIP)
      if (!segment || ip === undefined || !contains(segment, ip)) {
        skipped.push({
          name: peer.name,
          reason: `node IP ${peer.nodeIP} is not on ${self.underlay.iface}'s subnet ${self.underlay.ip}/${self.underlay.prefix}: host-gw needs every node on one L2 segment`,
        })
        continue
      }
      plans.push({
        peer,
        neighs: [],
        fdbs: [],
        routes: [{dst: peer.podCIDR, via: peer.nodeIP, dev: self.underlay.iface, onlink: false, metric: 0}],
      })
    }
    return {plans, skipped}
  }

  describeLocal(): DeviceStatus[] {
    return []
  }

  async teardownLocal(netns: string | undefined, links: readonly LinkInfo[]): Promise<string[]> {
    const leftovers = links.filter((l) => LEFTOVER_VTEP.test(l.name) && l.kind === 'vxlan')
    if (leftovers.length === 0) return []
    await ipBatch(
      leftovers.map((l) => `link del dev ${l.name}`),
      netns,
    )
    return leftovers.map((l) => `deleted leftover VTEP ${l.name} (this node now runs host-gw)`)
  }
}
