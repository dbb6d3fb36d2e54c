/**
 * bgp backend: a real BGP speaker (bird2, the routing daemon Calico runs) on every node. The daemon
 * does not program routes itself: it keeps bird running with a configuration made from the Nodes,
 * and bird announces this node's pod CIDR and installs what its peers announce (`proto bird`).
 *
 * - Peering: iBGP in one AS (64512 by default). Full mesh between the nodes, unless some nodes carry
 *   the label `cnidbg.dev/route-reflector=true`: then reflectors peer with every node (the others as
 *   route-reflector clients) and the other nodes peer with the reflectors only. Global peers (a
 *   router that must learn the pod CIDRs, as a top-of-rack switch does) are added as plain iBGP
 *   peers: given by address (--bgp-peer), or found as the next hop of the node's own underlay
 *   routes (--bgp-peer-gateway).
 * - Sessions are multihop with `gateway recursive`, so a peer behind a router is reached through
 *   the node's own underlay route to it: this is what lets pod routes cross an L3 hop, which host-gw
 *   cannot do.
 * - The diff still runs (reconcile.ts): the desired routes are `peerCIDR via peerIP` (any next hop
 *   when the peer is not on this node's subnet), the actual ones the `proto bird` routes, and the
 *   Programmer cannot add anything: a missing route is reported with the state of the session that
 *   should have brought it, which is what /diag and trace show.
 */
import type {PeerNode, SkippedPeer} from '../annotations.js'
import {
  BIRD_KERNEL_METRIC,
  BIRD_ROUTE_PROTO,
  birdConfig,
  type BirdPeer,
  type BgpSession,
  DEFAULT_BGP_AS,
  LABEL_ROUTE_REFLECTOR,
  sessionsOf,
} from '../bird.js'
import {parseIP} from '../../core/ip.js'
import {parseRoutes, readNode, type LinkInfo} from '../kernel-state.js'
import {type Ownership, routeKey} from '../model.js'
import type {Op} from '../reconcile.js'
import {BirdSpeaker, type SpeakerStatus} from '../speaker.js'
import type {
  ApplyResult,
  Backend,
  DeviceStatus,
  LocalContext,
  LocalResult,
  PeerPlan,
  PlanContext,
  Programmer,
  SyncContext,
} from './backend.js'
import {ip} from '../../netns/netns.js'
import {deleteLeftoverVteps, nodeRoutesLocal, planNodeRoutes} from './node-routes.js'

export interface BgpOptions {
  /** This node's state dir: bird's files go to `<dir>/bird`. */
  nodeDir: string
  netns: string | undefined
  iface: string
  asn?: number
  /** Extra iBGP peers every node has (validated IPv4 addresses). */
  globalPeers?: readonly string[]
  /**
   * Also peer with the next hop of each of this node's own routes on `iface` (the default gateway of
   * a real node, the router between a routed lab underlay's subnets): no per-node address to pass.
   */
  peerGateway?: boolean
  log?: (msg: string) => void
}

/** What /diag shows under `bgp`. */
export interface BgpDiag {
  asn: number
  routerId: string | null
  reflector: boolean
  speaker: SpeakerStatus
  sessions: BgpSession[]
  /** Why the sessions could not be read (bird down, socket error). */
  protocolsError: string | null
}

function isReflector(labels: Record<string, string> | undefined): boolean {
  return labels?.[LABEL_ROUTE_REFLECTOR] === 'true'
}

export class BgpBackend implements Backend {
  readonly type = 'bgp'
  readonly ownership: Ownership = {routeProto: BIRD_ROUTE_PROTO, neighDevs: [], fdbDevs: []}
  readonly programmer: Programmer
  readonly speaker: BirdSpeaker
  readonly asn: number
  private peers: BirdPeer[] = []
  private routerId: string | null = null
  private reflector = false
  private sessions: BgpSession[] = []
  private protocolsError: string | null = null

  constructor(private readonly opts: BgpOptions) {
    this.asn = opts.asn ?? DEFAULT_BGP_AS
    this.speaker = new BirdSpeaker(`${opts.nodeDir}/bird`, opts.netns, opts.log)
    this.programmer = {
      target: 'speaker:bird',
      read: async () => (await readNode(opts.netns, this.ownership)).state,
      apply: async (ops) => this.explain(ops),
    }
  }

  ensureLocal(ctx: LocalContext): Promise<LocalResult> {
    return nodeRoutesLocal(this.type, ctx)
  }

  plan(self: PlanContext, peers: readonly PeerNode[]): {plans: PeerPlan[]; skipped: SkippedPeer[]} {
    return planNodeRoutes(this.type, self, peers, (peer, onSegment) => ({
      dst: peer.podCIDR,
      // On this node's subnet the peer itself is the next hop; behind a router, bird resolves it
      // through the underlay route (gateway recursive), so any next hop on eth0 will do.
      ...(onSegment ? {via: peer.nodeIP} : {anyVia: true}),
      dev: self.underlay.iface,
      onlink: false,
      metric: BIRD_KERNEL_METRIC,
    }))
  }

  /** The BGP peers of this node, by the route-reflector rule in the header. */
  static peersOf(
    selfLabels: Record<string, string> | undefined,
    plans: readonly PeerPlan[],
    globalPeers: readonly string[],
  ): BirdPeer[] {
    const selfRR = isReflector(selfLabels)
    const anyRR = selfRR || plans.some((p) => isReflector(p.peer.labels))
    const out: BirdPeer[] = []
    for (const {peer} of plans) {
      const peerRR = isReflector(peer.labels)
      if (!anyRR) out.push({ip: peer.nodeIP, role: 'mesh', node: peer.name})
      else if (selfRR) out.push({ip: peer.nodeIP, role: peerRR ? 'reflector' : 'rr-client', node: peer.name})
      else if (peerRR) out.push({ip: peer.nodeIP, role: 'reflector', node: peer.name})
    }
    for (const ip of globalPeers) out.push({ip, role: 'external', node: 'global peer'})
    return out
  }

  /** Writes bird's config for these peers, keeps bird running, and reads its sessions. */
  async sync(ctx: SyncContext): Promise<string[]> {
    this.notePlans(ctx.plans)
    this.reflector = isReflector(ctx.self.labels)
    this.routerId = ctx.self.underlay.ip
    const globals = [...(this.opts.globalPeers ?? [])]
    if (this.opts.peerGateway)
      for (const gw of await this.gateways(ctx.plans)) if (!globals.includes(gw)) globals.push(gw)
    this.peers = BgpBackend.peersOf(ctx.self.labels, ctx.plans, globals)
    const config = birdConfig({
      routerId: ctx.self.underlay.ip,
      asn: this.asn,
      podCIDR: ctx.self.podCIDR,
      iface: this.opts.iface,
      reflector: this.reflector,
      peers: this.peers,
    })
    const changes = await this.speaker.ensure(config)
    await this.refreshSessions()
    return changes
  }

  /**
   * The next hops of this node's routes on the underlay interface, less bird's own routes and the
   * other nodes (already mesh peers): what `peerGateway` peers with.
   */
  private async gateways(plans: readonly PeerPlan[]): Promise<string[]> {
    const r = await ip(['-4', '-N', '-j', 'route', 'show', 'table', 'main', 'dev', this.opts.iface], this.opts.netns)
    if (r.exitCode !== 0) throw new Error(`reading the routes on ${this.opts.iface}: ${r.stderr.trim()}`)
    const nodes = new Set(plans.map((p) => p.peer.nodeIP))
    const out: string[] = []
    // With `dev` given, iproute2 leaves the device out of each route: the dev is ours.
    for (const route of parseRoutes(JSON.parse(r.stdout || '[]'))) {
      const gw = route.via
      if (!gw || route.proto === String(BIRD_ROUTE_PROTO) || nodes.has(gw) || out.includes(gw)) continue
      if (parseIP(gw)?.family === 4) out.push(gw)
    }
    return out
  }

  async refreshSessions(): Promise<BgpSession[]> {
    const protocols = await this.speaker.protocols()
    if ('error' in protocols) {
      this.protocolsError = protocols.error
      this.sessions = sessionsOf(this.peers, [])
    } else {
      this.protocolsError = null
      this.sessions = sessionsOf(this.peers, protocols)
    }
    return this.sessions
  }

  /** Routes are bird's to install: each op becomes the reason bird has not done it. */
  private async explain(ops: readonly Op[]): Promise<ApplyResult> {
    const errors = ops.map((op) => {
      const dst = op.kind === 'route' ? op.route.dst : ''
      const plan = this.peers.find((p) => p.role !== 'external' && this.cidrOf(p.node) === dst)
      // With route reflectors the route comes through a reflector, not from its owner directly.
      const s = plan
        ? this.sessions.find((x) => x.peerIP === plan.ip)
        : (this.sessions.find((x) => x.role === 'reflector' && !x.established) ??
          this.sessions.find((x) => x.role === 'reflector'))
      let error: string
      if (op.action === 'del') error = `bird installed ${dst}, which no peer's CIDR accounts for`
      else if (this.protocolsError) error = `not learned: ${this.protocolsError}`
      else if (!s) error = `not learned: no BGP session with its owner (route reflector missing?)`
      else if (!s.established)
        error = `not learned: session with ${s.peerNode} (${s.peerIP}) is ${s.state}${s.lastError ? `, last error: ${s.lastError}` : ''}`
      else
        error = `not learned: ${s.peerNode} (${s.peerIP}) does not announce it (session Established, ${s.routesImported ?? 0} routes imported)`
      return {op, command: `bird: ${op.kind === 'route' ? routeKey(op.route) : ''}`, error}
    })
    return {applied: 0, errors, execs: 0}
  }

  private cidrs = new Map<string, string>()
  private cidrOf(node: string): string | undefined {
    return this.cidrs.get(node)
  }

  /** Remembers which CIDR each peer owns (for the explanations above). */
  notePlans(plans: readonly PeerPlan[]): void {
    this.cidrs = new Map(plans.map((p) => [p.peer.name, p.peer.podCIDR]))
  }

  describeLocal(): DeviceStatus[] {
    return []
  }

  diag(): BgpDiag {
    return {
      asn: this.asn,
      routerId: this.routerId,
      reflector: this.reflector,
      speaker: this.speaker.status(),
      sessions: this.sessions,
      protocolsError: this.protocolsError,
    }
  }

  teardownLocal(netns: string | undefined, links: readonly LinkInfo[]): Promise<string[]> {
    return deleteLeftoverVteps(netns, links, this.type)
  }
}
