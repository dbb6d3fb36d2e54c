/**
 * host-gw backend, modelled on flannel's (pkg/backend/hostgw/hostgw.go, pkg/backend/route_network.go):
 * no device and no encapsulation, one route per remote node, `remotePodCIDR via remoteNodeIP dev
 * <iface>`. It needs every node on one L2 segment; a peer that isn't gets a reason instead of a
 * route the kernel would refuse ("Nexthop has invalid gateway").
 */
import type {PeerNode, SkippedPeer} from '../annotations.js'
import type {LinkInfo} from '../kernel-state.js'
import {type Ownership, ROUTE_PROTO} from '../model.js'
import type {Backend, DeviceStatus, LocalContext, LocalResult, PeerPlan, PlanContext} from './backend.js'
import {deleteLeftoverVteps, nodeRoutesLocal, planNodeRoutes} from './node-routes.js'

export class HostGwBackend implements Backend {
  readonly type = 'host-gw'
  readonly ownership: Ownership

  constructor(opts: {routeProto?: number} = {}) {
    this.ownership = {routeProto: opts.routeProto ?? ROUTE_PROTO, neighDevs: [], fdbDevs: []}
  }

  ensureLocal(ctx: LocalContext): Promise<LocalResult> {
    return nodeRoutesLocal(this.type, ctx)
  }

  plan(self: PlanContext, peers: readonly PeerNode[]): {plans: PeerPlan[]; skipped: SkippedPeer[]} {
    return planNodeRoutes(this.type, self, peers, (peer, onSegment) =>
      onSegment
        ? {dst: peer.podCIDR, via: peer.nodeIP, dev: self.underlay.iface, onlink: false, metric: 0}
        : {
            skip: `node IP ${peer.nodeIP} is not on ${self.underlay.iface}'s subnet ${self.underlay.ip}/${self.underlay.prefix}: host-gw needs every node on one L2 segment`,
          },
    )
  }

  describeLocal(): DeviceStatus[] {
    return []
  }

  teardownLocal(netns: string | undefined, links: readonly LinkInfo[]): Promise<string[]> {
    return deleteLeftoverVteps(netns, links, this.type)
  }
}
