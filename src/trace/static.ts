/**
 * The static half of a trace: from kernel state only, walk the path hop by hop in one direction and
 * say at each hop whether the packet would pass, and if not, why (one reason from the fixed
 * vocabulary), with the state that proves it and the command that fixes it. Routing decisions come
 * from `ip route get … iif …` answered by the kernel itself (so policy routing, rp_filter and
 * forwarding are applied as the kernel would); the rest compares neighbour/FDB entries, link state,
 * addresses, MTUs, sysctls and netfilter rules against what the topology says must be there.
 */
import {firstHost, networkAddress, prefixContains, prefixLength} from '../core/ip.js'
import {shellWord} from '../core/quote.js'
import {
  describeRule,
  evaluateNetfilter,
  removalCommand,
  type IptablesRuleset,
  type NfHook,
  type NfPacket,
  type NftRuleset,
} from '../kernel/netfilter.js'
import {bridgeCmd, execCmd, ipCmd, sysctlName} from './ns-commands.js'
import {policyHint, policyOfDrop} from './netfilter-objects.js'
import type {KernelReader, KernelSnapshot, LinkInfo, RouteEntry, RouteGetAnswer, RouteQuery} from '../kernel/reader.js'
import type {
  FaultReason,
  HopStage,
  HopStatus,
  ProbeProtocol,
  TraceDirection,
  TraceEndpoint,
  TraceHop,
  TraceMode,
  TraceNetns,
  TraceNode,
  TraceTopology,
} from './types.js'

/** VXLAN over IPv4: outer IP 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_OVERHEAD = 50

export interface NsView {
  /** How hops name this namespace. */
  label: string
  netns: TraceNetns
  reader: KernelReader
  snap: KernelSnapshot
  ipt?: IptablesRuleset
  nft?: NftRuleset
  /** `ip route get` answers by lookupKey(). */
  lookups: Map<string, RouteGetAnswer>
}

export interface NodeView extends NsView {
  node: TraceNode
}

export interface PodView extends NsView {
  ep: TraceEndpoint
  ifname: string
  eth?: LinkInfo
  nodeView: NodeView
  /** The pod's veth peer in the node namespace. */
  hostVeth?: LinkInfo
}

export interface PathContext {
  topo: TraceTopology
  mode: TraceMode
  vtep: string
  underlay: string
  vxlanPort: number
  vni: number
  /** vpc: the router between the nodes, read like a node (its hops are named VPC_ROUTER_NAME). */
  router?: NodeView
  protocols: ProbeProtocol[]
  tcpPort?: number
  udpPort?: number
}

export type DraftHop = Omit<TraceHop, 'index'>

export function lookupKey(q: RouteQuery): string {
  return `${q.dst}|${q.from ?? ''}|${q.iif ?? ''}`
}

// ---------------------------------------------------------------------------------------------
// small readers over a snapshot

export function findLink(v: NsView, ifname: string | undefined): LinkInfo | undefined {
  if (!ifname) return undefined
  return v.snap.links.find((l) => l.ifname === ifname)
}

function hasAddr(link: LinkInfo | undefined, ip: string): boolean {
  return (link?.addr_info ?? []).some((a) => a.family === 'inet' && a.local === ip)
}

function linkWithAddr(v: NsView, ip: string): LinkInfo | undefined {
  return v.snap.links.find((l) => hasAddr(l, ip))
}

function adminUp(l: LinkInfo): boolean {
  return l.flags.includes('UP')
}

function carrier(l: LinkInfo): boolean {
  return l.flags.includes('LOWER_UP') && !l.flags.includes('NO-CARRIER')
}

export function linkLine(l: LinkInfo): string {
  const addrs = (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`)
  return `${l.ifname}: <${l.flags.join(',')}> mtu ${l.mtu} state ${l.operstate}${l.address ? ` link/ether ${l.address}` : ''}${addrs.length ? ` inet ${addrs.join(' ')}` : ''}`
}

export function routeLine(r: RouteEntry): string {
  const parts = [r.type && r.type !== 'unicast' ? `${r.type} ${r.dst}` : r.dst]
  if (r.from) parts.push(`from ${r.from}`)
  if (r.gateway) parts.push(`via ${r.gateway}`)
  if (r.dev) parts.push(`dev ${r.dev}`)
  if (r.table && r.table !== 'main') parts.push(`table ${r.table}`)
  if (r.iif) parts.push(`iif ${r.iif}`)
  if (r.flags?.length) parts.push(r.flags.join(' '))
  return parts.join(' ')
}

function sysctl(v: NsView, ...path: string[]): string | undefined {
  return v.snap.sysctls[['net', 'ipv4', ...path].join('/')]
}

/** rp_filter as the kernel applies it: max(conf.all, conf.<iface>). */
export function effectiveRpFilter(v: NsView, ifname: string): {value: number; all: number; dev: number} | undefined {
  const all = sysctl(v, 'conf', 'all', 'rp_filter')
  const dev = sysctl(v, 'conf', ifname, 'rp_filter')
  if (all === undefined && dev === undefined) return undefined
  const a = Number(all ?? 0)
  const d = Number(dev ?? 0)
  return {value: Math.max(a, d), all: a, dev: d}
}

function missing(v: NsView, part: string): boolean {
  return v.snap.missing.includes(part) || v.snap.missing.includes('all')
}

function lookup(v: NsView, q: RouteQuery): RouteGetAnswer | undefined {
  return v.lookups.get(lookupKey(q))
}

/** The node that owns an address: its VTEP address (podCIDR network address) or its node IP. */
function nodeByGateway(topo: TraceTopology, gw: string | undefined): TraceNode | undefined {
  if (!gw) return undefined
  return topo.nodes.find((n) => n.nodeIP === gw || networkAddress(n.podCIDR) === gw)
}

/** A route that covers ip more specifically than default (i.e. someone installed a route for it). */
function coveringRoutes(v: NsView, ip: string): RouteEntry[] {
  return v.snap.routes.filter(
    (r) =>
      r.dst !== 'default' &&
      (r.type === undefined || r.type === 'unicast' || r.type === 'unreachable' || r.type === 'blackhole') &&
      prefixContains(r.dst, ip),
  )
}

// ---------------------------------------------------------------------------------------------
// one hop under construction

class Hop {
  status: HopStatus = 'ok'
  private notes: string[] = []
  evidence: string[] = []
  reason?: FaultReason
  hint?: string
  policy?: string

  constructor(
    readonly direction: TraceDirection,
    readonly node: string,
    readonly netns: string,
    public device: string,
    readonly stage: HopStage,
  ) {}

  /** The first failure at a hop wins; later ones only add evidence. */
  fail(reason: FaultReason, detail: string, hint: string, evidence: string[] = []): void {
    if (this.status === 'fail') {
      this.evidence.push(...evidence)
      return
    }
    this.status = 'fail'
    this.reason = reason
    this.hint = hint
    this.notes.unshift(detail)
    this.evidence.push(...evidence)
  }

  warn(detail: string, evidence: string[] = []): void {
    if (this.status === 'ok' || this.status === 'unknown') this.status = 'warn'
    this.notes.push(detail)
    this.evidence.push(...evidence)
  }

  unknown(detail: string): void {
    if (this.status === 'ok') this.status = 'unknown'
    this.notes.push(detail)
  }

  ok(detail: string, evidence: string[] = []): void {
    this.notes.push(detail)
    this.evidence.push(...evidence)
  }

  get failed(): boolean {
    return this.status === 'fail'
  }

  done(): DraftHop {
    const hop: DraftHop = {
      direction: this.direction,
      node: this.node,
      netns: this.netns,
      device: this.device,
      stage: this.stage,
      status: this.status,
      detail: this.notes.join('; '),
    }
    if (this.evidence.length) hop.evidence = [...new Set(this.evidence)]
    if (this.reason) hop.reason = this.reason
    if (this.hint) hop.hint = this.hint
    if (this.policy) hop.policy = this.policy
    return hop
  }
}

/**
 * Link state, with veth peers in mind: a veth with no carrier because its peer is admin-down only
 * warns here; the fault belongs to the peer (which is the link to bring up).
 */
function checkLink(
  h: Hop,
  v: NsView,
  link: LinkInfo | undefined,
  name: string,
  peer?: {v: NsView; link?: LinkInfo},
): boolean {
  if (missing(v, 'links') || (!link && (missing(v, 'addresses') || missing(v, 'veths')))) {
    h.unknown(`${name}: link state not readable`)
    return true
  }
  if (!link) {
    h.fail('link-down', `${name} does not exist in ${v.label}`, `${ipCmd(v.netns, 'link show')}`, [
      `no link named ${name} in ${v.label}`,
    ])
    return false
  }
  if (!adminUp(link)) {
    h.fail(
      'link-down',
      `${link.ifname} is administratively down`,
      ipCmd(v.netns, `link set dev ${shellWord(link.ifname)} up`),
      [linkLine(link)],
    )
    return false
  }
  if (!carrier(link) && link.linkinfo?.info_kind !== 'vxlan') {
    if (peer?.link && !adminUp(peer.link)) {
      h.warn(`${link.ifname} has no carrier: its peer ${peer.link.ifname} in ${peer.v.label} is down`, [linkLine(link)])
      return true
    }
    h.fail(
      'link-down',
      `${link.ifname} has no carrier (state ${link.operstate})`,
      ipCmd(v.netns, `link set dev ${shellWord(link.ifname)} up`),
      [linkLine(link)],
    )
    return false
  }
  return true
}

function filterCheck(h: Hop, v: NsView, hooks: NfHook[], packets: NfPacket[], reason: FaultReason, what: string): void {
  if (missing(v, 'iptables') && missing(v, 'nft')) {
    h.unknown('netfilter not readable')
    return
  }
  for (const pkt of packets) {
    const verdict = evaluateNetfilter(v.ipt, v.nft, hooks, pkt)
    const desc = describePacket(pkt)
    if (verdict.verdict === 'drop' && verdict.by) {
      // A drop in a NetworkPolicy chain is the policy's: name it, and what to change in it.
      const policy = policyOfDrop(v.ipt, verdict.by)
      if (policy && h.status !== 'fail') {
        h.fail(
          'policy-denied',
          `${what} ${desc} is dropped by NetworkPolicy ${policy.policies.join(', ')} (${policy.direction} of ${policy.pod})`,
          policyHint(policy, pkt),
          policy.evidence,
        )
        h.policy = policy.policies[0]
        return
      }
      h.fail(
        reason,
        `${what} ${desc} is dropped by ${verdict.by.source === 'iptables' ? `iptables ${verdict.by.table}/${verdict.by.chain}` : `nft ${verdict.by.family} ${verdict.by.table} ${verdict.by.chain}`}`,
        execCmd(v.netns, removalCommand(verdict.by)),
        [describeRule(verdict.by)],
      )
      return
    }
    for (const u of verdict.uncertain) h.warn(`a ${u.target} rule might match ${desc}`, [describeRule(u)])
  }
}

function describePacket(p: NfPacket): string {
  const port = p.dport !== undefined ? `:${p.dport}` : p.sport !== undefined ? ` (from :${p.sport})` : ''
  const kind =
    p.proto === 'icmp'
      ? p.icmpType === 0
        ? 'icmp echo-reply'
        : 'icmp echo-request'
      : p.proto === 'tcp'
        ? `tcp ${(p.tcpFlags ?? []).join(',')}`
        : 'udp'
  return `${kind} ${p.src} → ${p.dst}${port}`
}

/**
 * The packets that cross a direction during a trace: the requests of probes sent that way (NEW) and
 * the replies to probes sent the other way (ESTABLISHED).
 */
function innerPackets(
  ctx: PathContext,
  dir: TraceDirection,
  src: string,
  dst: string,
): Omit<NfPacket, 'iif' | 'oif'>[] {
  const out: Omit<NfPacket, 'iif' | 'oif'>[] = [{src, dst, proto: 'icmp', icmpType: 8, ctstate: 'NEW'}]
  if (dir === 'forward') {
    if (ctx.protocols.includes('tcp') && ctx.tcpPort)
      out.push({src, dst, proto: 'tcp', dport: ctx.tcpPort, tcpFlags: ['SYN'], ctstate: 'NEW'})
    if (ctx.protocols.includes('udp') && ctx.udpPort)
      out.push({src, dst, proto: 'udp', dport: ctx.udpPort, ctstate: 'NEW'})
    out.push({src, dst, proto: 'icmp', icmpType: 0, ctstate: 'ESTABLISHED'})
  } else {
    out.push({src, dst, proto: 'icmp', icmpType: 0, ctstate: 'ESTABLISHED'})
    if (ctx.protocols.includes('tcp') && ctx.tcpPort)
      out.push({src, dst, proto: 'tcp', sport: ctx.tcpPort, tcpFlags: ['SYN', 'ACK'], ctstate: 'ESTABLISHED'})
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// route lookups to run (so the engine can batch them per namespace)

function crossNode(src: PodView, dst: PodView): boolean {
  return src.nodeView !== dst.nodeView
}

/**
 * Every `ip route get` the walk needs, per namespace, for one exec each. Lookups whose ingress is a
 * pod's host veth name it by `iifFor: <pod IP>` (resolved in the same exec through the node's route
 * to the pod), so no second round is needed unless that route is broken.
 */
export function pathQueries(ctx: PathContext, a: PodView, b: PodView): Map<NsView, RouteQuery[]> {
  const m = new Map<NsView, RouteQuery[]>()
  const add = (v: NsView, q: RouteQuery) => {
    const list = m.get(v) ?? []
    if (!list.some((x) => queryKey(x) === queryKey(q))) list.push(q)
    m.set(v, list)
  }
  add(a, {dst: b.ep.ip, from: a.ep.ip})
  add(b, {dst: a.ep.ip, from: b.ep.ip})
  for (const [s, d] of [
    [a, b],
    [b, a],
  ] as const) {
    add(s.nodeView, {dst: d.ep.ip, from: s.ep.ip, iifFor: s.ep.ip})
    // Reverse lookups explain a strict rp_filter verdict on either node.
    add(s.nodeView, {dst: s.ep.ip})
    add(d.nodeView, {dst: s.ep.ip})
    if (crossNode(s, d)) {
      add(s.nodeView, {dst: d.nodeView.node.nodeIP})
      if (ctx.router) {
        add(ctx.router, {dst: d.ep.ip, from: s.ep.ip, iif: ctx.topo.router?.iface ?? 'vpc0'})
        add(s.nodeView, {dst: ctx.router.node.nodeIP})
      }
      add(d.nodeView, {dst: d.ep.ip, from: s.ep.ip, iif: ctx.mode === 'vxlan' ? ctx.vtep : ctx.underlay})
      if (ctx.mode === 'vxlan') {
        add(d.nodeView, {dst: d.nodeView.node.nodeIP, from: s.nodeView.node.nodeIP, iif: ctx.underlay})
      }
    }
  }
  return m
}

function queryKey(q: RouteQuery): string {
  return q.iifFor ? `${q.dst}|${q.from ?? ''}|@${q.iifFor}` : lookupKey(q)
}

/**
 * Lookups through the host veth found by ifindex that the first round could not answer (its
 * `iifFor` resolved to another device, e.g. because the pod's /32 route is gone).
 */
export function missingVethQueries(a: PodView, b: PodView): Map<NsView, RouteQuery[]> {
  const m = new Map<NsView, RouteQuery[]>()
  for (const [s, d] of [
    [a, b],
    [b, a],
  ] as const) {
    if (!s.hostVeth) continue
    const q = {dst: d.ep.ip, from: s.ep.ip, iif: s.hostVeth.ifname}
    if (!s.nodeView.lookups.has(lookupKey(q))) m.set(s.nodeView, [...(m.get(s.nodeView) ?? []), q])
  }
  return m
}

// ---------------------------------------------------------------------------------------------
// the walk

/** Builds the hops for one direction, src pod → dst pod. */
export function analyzeDirection(ctx: PathContext, dir: TraceDirection, src: PodView, dst: PodView): DraftHop[] {
  const hops: DraftHop[] = []
  const sNode = src.nodeView
  const dNode = dst.nodeView
  const cross = sNode !== dNode

  // 1. pod egress -----------------------------------------------------------------------------
  const podEgress = new Hop(dir, src.ep.node, src.label, src.ifname, 'pod-egress')
  let gateway: string | undefined
  if (checkLink(podEgress, src, src.eth, src.ifname, {v: sNode, link: src.hostVeth})) {
    if (!missing(src, 'links') && !hasAddr(src.eth, src.ep.ip)) {
      podEgress.fail(
        'address-missing',
        `${src.ifname} does not hold the pod IP ${src.ep.ip}`,
        ipCmd(src.netns, `addr add ${src.ep.ip}/${prefixLength(sNode.node.podCIDR)} dev ${shellWord(src.ifname)}`),
        src.eth ? [linkLine(src.eth)] : [],
      )
    }
  }
  const podRoute = lookup(src, {dst: dst.ep.ip, from: src.ep.ip})
  if (podRoute && !podRoute.ok && !podRoute.unavailable) {
    const gw = firstHost(sNode.node.podCIDR)
    podEgress.fail(
      'no-route',
      `the pod has no route to ${dst.ep.ip}: ${podRoute.error}`,
      ipCmd(src.netns, `route replace default via ${gw} dev ${shellWord(src.ifname)} onlink`),
      [`ip route get ${dst.ep.ip} from ${src.ep.ip}: ${podRoute.error}`],
    )
  } else if (podRoute?.ok) {
    const r = podRoute.route
    gateway = r.gateway
    if (r.dev !== src.ifname || (r.type && r.type !== 'unicast')) {
      podEgress.fail(
        'wrong-route',
        `the pod routes ${dst.ep.ip} ${r.type && r.type !== 'unicast' ? `as ${r.type}` : `via ${r.dev}`}, not ${src.ifname}`,
        ipCmd(
          src.netns,
          `route replace default via ${firstHost(sNode.node.podCIDR)} dev ${shellWord(src.ifname)} onlink`,
        ),
        [`ip route get ${dst.ep.ip} from ${src.ep.ip}: ${routeLine(r)}`],
      )
    } else {
      podEgress.ok(`route ${routeLine(r)}`)
    }
  } else {
    podEgress.unknown('pod route lookup unavailable')
  }
  if (src.eth) podEgress.ok(`${src.ifname} mtu ${src.eth.mtu}`)
  filterCheck(
    podEgress,
    src,
    ['output', 'postrouting'],
    innerPackets(ctx, dir, src.ep.ip, dst.ep.ip).map((p) => ({...p, oif: src.ifname})),
    'filtered',
    'pod OUTPUT:',
  )
  hops.push(podEgress.done())

  // 2. host veth ingress ----------------------------------------------------------------------
  const hv = src.hostVeth
  const hvIn = new Hop(dir, sNode.node.name, sNode.label, hv?.ifname ?? `peer of ${src.ifname}`, 'host-veth-ingress')
  if (!hv && src.eth && !missing(sNode, 'links') && !missing(sNode, 'veths')) {
    hvIn.fail(
      'link-down',
      `no veth peer of ${src.label}/${src.ifname} (ifindex ${src.eth.ifindex}, peer ifindex ${src.eth.link_index ?? '?'}) in ${sNode.label}`,
      ipCmd(sNode.netns, 'link show type veth'),
      [linkLine(src.eth)],
    )
  } else if (hv) {
    if (checkLink(hvIn, sNode, hv, hv.ifname, {v: src, link: src.eth})) {
      if (gateway) {
        const holder = linkWithAddr(sNode, gateway)
        if (hasAddr(hv, gateway)) {
          hvIn.ok(`holds gateway ${gateway}`)
        } else if (holder) {
          hvIn.warn(`gateway ${gateway} is on ${holder.ifname}, not on ${hv.ifname} (needs proxy ARP)`)
        } else {
          hvIn.fail(
            'address-missing',
            `the pod's gateway ${gateway} is not on ${hv.ifname} (nor anywhere on ${sNode.node.name})`,
            ipCmd(sNode.netns, `addr add ${gateway}/32 dev ${shellWord(hv.ifname)}`),
            [linkLine(hv)],
          )
        }
      }
      if (src.eth && hv.mtu !== src.eth.mtu) hvIn.warn(`mtu ${hv.mtu} differs from the pod's ${src.eth.mtu}`)
    }
  } else {
    hvIn.unknown('host veth not readable')
  }
  hops.push(hvIn.done())

  // 3. routing on the source node ---------------------------------------------------------------
  const expectSrc = expectedRoute(ctx, src, dst)
  const srcRoute = routeHop(ctx, dir, sNode, src, dst, hv?.ifname, expectSrc, 'source')
  hops.push(srcRoute.hop.done())
  const outDev = srcRoute.dev ?? expectSrc.dev

  // 4. FORWARD on the source node ---------------------------------------------------------------
  const fwdS = new Hop(dir, sNode.node.name, sNode.label, `${hv?.ifname ?? '?'} → ${outDev ?? '?'}`, 'filter')
  filterCheck(
    fwdS,
    sNode,
    ['prerouting', 'forward', 'postrouting'],
    innerPackets(ctx, dir, src.ep.ip, dst.ep.ip).map((p) => ({...p, iif: hv?.ifname, oif: outDev})),
    'filtered',
    'FORWARD:',
  )
  if (fwdS.status === 'ok') fwdS.ok('netfilter accepts the probe packets')
  hops.push(fwdS.done())

  if (cross) {
    if (ctx.mode === 'vxlan') hops.push(...vxlanHops(ctx, dir, src, dst))
    else if (ctx.mode === 'vpc' && ctx.router) hops.push(...vpcHops(ctx, ctx.router, dir, src, dst))
    else hops.push(...hostGwHops(ctx, dir, src, dst))
    // routing + FORWARD on the destination node
    const inDev = ctx.mode === 'vxlan' ? ctx.vtep : ctx.underlay
    const expectDst = {dev: dst.hostVeth?.ifname}
    const dstRoute = routeHop(ctx, dir, dNode, src, dst, inDev, expectDst, 'destination')
    hops.push(dstRoute.hop.done())
    const fwdD = new Hop(dir, dNode.node.name, dNode.label, `${inDev} → ${dst.hostVeth?.ifname ?? '?'}`, 'filter')
    filterCheck(
      fwdD,
      dNode,
      ['prerouting', 'forward', 'postrouting'],
      innerPackets(ctx, dir, src.ep.ip, dst.ep.ip).map((p) => ({...p, iif: inDev, oif: dst.hostVeth?.ifname})),
      'filtered',
      'FORWARD:',
    )
    if (fwdD.status === 'ok') fwdD.ok('netfilter accepts the probe packets')
    hops.push(fwdD.done())
  }

  // host veth egress (destination pod's veth) -------------------------------------------------
  const dhv = dst.hostVeth
  const hvOut = new Hop(dir, dNode.node.name, dNode.label, dhv?.ifname ?? `peer of ${dst.ifname}`, 'host-veth-egress')
  if (!dhv && dst.eth && !missing(dNode, 'links') && !missing(dNode, 'veths')) {
    hvOut.fail(
      'link-down',
      `no veth peer of ${dst.label}/${dst.ifname} in ${dNode.label}`,
      ipCmd(dNode.netns, 'link show type veth'),
      [linkLine(dst.eth)],
    )
  } else if (dhv) {
    if (checkLink(hvOut, dNode, dhv, dhv.ifname, {v: dst, link: dst.eth})) {
      const n = dNode.snap.neigh.find((e) => e.dst === dst.ep.ip && e.dev === dhv.ifname)
      const state = n?.state ?? []
      const podReady = dst.eth && adminUp(dst.eth) && hasAddr(dst.eth, dst.ep.ip)
      // INCOMPLETE alone is a resolution under way: a packet forwarded to the pod a moment before the
      // read (a probe, a retry of the pod's own traffic) leaves it so for the few milliseconds ARP takes,
      // and flagging it made a healthy path's trace depend on when it read. Only FAILED says the pod did
      // not answer; a pod that never answers is still found by the live probe, which reads the
      // neighbours again after it (engine.ts, `unresolved`).
      if (n && state.includes('INCOMPLETE') && !state.includes('FAILED')) {
        hvOut.ok(`neighbour ${dst.ep.ip} INCOMPLETE (being resolved when read)`)
      } else if (n && state.includes('FAILED')) {
        if (podReady) {
          hvOut.fail(
            'no-neighbor',
            `the pod ${dst.ep.ip} does not answer ARP on ${dhv.ifname} (${state.join(',')})`,
            ipCmd(dNode.netns, `neigh flush dev ${shellWord(dhv.ifname)}`),
            [`neigh ${dst.ep.ip} dev ${dhv.ifname} ${state.join(',')}`],
          )
        } else {
          hvOut.warn(`neighbour ${dst.ep.ip} is ${state.join(',')} (explained by the pod side)`)
        }
      } else if (n) {
        hvOut.ok(`neighbour ${dst.ep.ip} ${n.lladdr ?? ''} ${state.join(',')}`.trim())
      }
    }
  } else {
    hvOut.unknown('host veth not readable')
  }
  hops.push(hvOut.done())

  // pod ingress --------------------------------------------------------------------------------
  const podIn = new Hop(dir, dst.ep.node, dst.label, dst.ifname, 'pod-ingress')
  if (checkLink(podIn, dst, dst.eth, dst.ifname, {v: dNode, link: dhv})) {
    if (!missing(dst, 'links') && !hasAddr(dst.eth, dst.ep.ip)) {
      podIn.fail(
        'address-missing',
        `${dst.ifname} does not hold the pod IP ${dst.ep.ip}`,
        ipCmd(dst.netns, `addr add ${dst.ep.ip}/${prefixLength(dNode.node.podCIDR)} dev ${shellWord(dst.ifname)}`),
        dst.eth ? [linkLine(dst.eth)] : [],
      )
    } else if (dst.eth) {
      podIn.ok(`${dst.ifname} holds ${dst.ep.ip}, mtu ${dst.eth.mtu}`)
    }
  }
  // The pod's own rp_filter: its reply route must leave through the interface the packet came in on.
  const rp = effectiveRpFilter(dst, dst.ifname)
  const back = lookup(dst, {dst: src.ep.ip, from: dst.ep.ip})
  if (rp && rp.value === 1 && back?.ok && back.route.dev !== dst.ifname) {
    podIn.fail(
      'rp-filter',
      `strict rp_filter in the pod, but its route back to ${src.ep.ip} leaves via ${back.route.dev}`,
      execCmd(
        dst.netns,
        `sysctl -w ${sysctlName('net', 'ipv4', 'conf', 'all', 'rp_filter')}=2 ${shellWord(`${sysctlName('net', 'ipv4', 'conf', dst.ifname, 'rp_filter')}=2`)}`,
      ),
      [`rp_filter all=${rp.all} ${dst.ifname}=${rp.dev}`, `ip route get ${src.ep.ip}: ${routeLine(back.route)}`],
    )
  }
  filterCheck(
    podIn,
    dst,
    ['prerouting', 'input'],
    innerPackets(ctx, dir, src.ep.ip, dst.ep.ip).map((p) => ({...p, iif: dst.ifname})),
    'filtered',
    'pod INPUT:',
  )
  hops.push(podIn.done())

  return hops
}

interface Expectation {
  dev?: string
  gateway?: string
}

function expectedRoute(ctx: PathContext, src: PodView, dst: PodView): Expectation {
  if (src.nodeView === dst.nodeView) return {dev: dst.hostVeth?.ifname}
  if (ctx.mode === 'vxlan') return {dev: ctx.vtep, gateway: networkAddress(dst.nodeView.node.podCIDR)}
  // vpc: the node knows no pod CIDR but its own; everything else goes to the router.
  if (ctx.mode === 'vpc' && ctx.topo.router) return {dev: ctx.underlay, gateway: ctx.topo.router.ip}
  // bgp: a peer behind a router is reached through that router (bird's gateway recursive), so the
  // next hop is the peer only when it shares the underlay subnet.
  if (ctx.mode === 'bgp' && !onUnderlaySubnet(ctx, src.nodeView, dst.nodeView.node.nodeIP)) return {dev: ctx.underlay}
  return {dev: ctx.underlay, gateway: dst.nodeView.node.nodeIP}
}

/** Whether `ip` is on the subnet of a node's underlay address (unknown counts as yes, as host-gw assumes). */
function onUnderlaySubnet(ctx: PathContext, v: NodeView, ip: string): boolean {
  const ul = findLink(v, ctx.underlay)
  const a = (ul?.addr_info ?? []).find((x) => x.family === 'inet' && x.local === v.node.nodeIP)
  if (!a?.prefixlen) return true
  return prefixContains(`${a.local}/${a.prefixlen}`, ip)
}

/**
 * vpc: a node's two routes (src/lab/network.ts, vpcHost): its address is a /32, so the router is
 * reached by a host route and the default route goes through it. Without the host route the kernel
 * refuses the default one (the gateway is on no link), so the fix puts back both.
 */
function vpcRoutesFix(ctx: PathContext, v: NodeView, router: string): string {
  return [
    `route replace ${router} dev ${shellWord(ctx.underlay)} scope link`,
    `route replace default via ${router} dev ${shellWord(ctx.underlay)}`,
  ]
    .map((c) => ipCmd(v.netns, c))
    .join(' && ')
}

/**
 * The fix for a node whose underlay address is gone. In vpc the kernel flushed the link's routes with
 * its last address (the router's host route and the default), so they come back with it.
 */
function nodeAddressFix(ctx: PathContext, v: NodeView, peer: NodeView): string {
  const add = ipCmd(v.netns, `addr add ${v.node.nodeIP}/${underlayPrefix(ctx, peer)} dev ${shellWord(ctx.underlay)}`)
  return ctx.mode === 'vpc' && ctx.topo.router ? `${add} && ${vpcRoutesFix(ctx, v, ctx.topo.router.ip)}` : add
}

function routeFixHint(
  ctx: PathContext,
  v: NodeView,
  src: PodView,
  dst: PodView,
  role: 'source' | 'destination',
): string {
  const dNode = dst.nodeView.node
  if (role === 'destination' || src.nodeView === dst.nodeView) {
    return ipCmd(
      v.netns,
      `route replace ${dst.ep.ip}/32 dev ${dst.hostVeth ? shellWord(dst.hostVeth.ifname) : '<host veth>'}`,
    )
  }
  if (ctx.mode === 'vxlan') {
    return ipCmd(
      v.netns,
      `route replace ${dNode.podCIDR} via ${networkAddress(dNode.podCIDR)} dev ${shellWord(ctx.vtep)} onlink`,
    )
  }
  if (ctx.mode === 'vpc' && ctx.topo.router) return vpcRoutesFix(ctx, v, ctx.topo.router.ip)
  return ipCmd(v.netns, `route replace ${dNode.podCIDR} via ${dNode.nodeIP} dev ${shellWord(ctx.underlay)}`)
}

/** The routing decision for a packet src→dst arriving on iif at node v, as the kernel answers it. */
function routeHop(
  ctx: PathContext,
  dir: TraceDirection,
  v: NodeView,
  src: PodView,
  dst: PodView,
  iif: string | undefined,
  expect: Expectation,
  role: 'source' | 'destination',
): {hop: Hop; dev?: string} {
  const h = new Hop(dir, v.node.name, v.label, expect.dev ?? '?', 'route')
  const fixRoute = routeFixHint(ctx, v, src, dst, role)
  // Routes through a host veth are flushed when it goes admin-down: that link, not the route, is
  // the fault (reported at host-veth-egress), so a missing route to the pod only warns here.
  const dhv = dst.hostVeth
  const vethDown = dhv !== undefined && !adminUp(dhv) && expect.dev === dhv.ifname
  // Likewise when the host veth lost its last IPv4 address (the gateway): the kernel disables IP on
  // it and flushes its routes. Putting the address back does not bring the route back: both commands.
  const vethNoIp =
    dhv !== undefined &&
    expect.dev === dhv.ifname &&
    !(dhv.addr_info ?? []).some((x) => x.family === 'inet') &&
    !missing(v, 'links')
  const routeFault = (reason: FaultReason, detail: string, evidence: string[]) => {
    if (vethDown) {
      h.warn(`${detail} (routes through ${dhv!.ifname} were flushed when it went down)`, evidence)
    } else if (vethNoIp) {
      const gw = podGateway(dst)
      h.device = dhv!.ifname
      h.fail(
        'address-missing',
        `${dhv!.ifname} has no IPv4 address (the pod's gateway ${gw} is gone), so the kernel flushed its routes: ${detail}`,
        `${ipCmd(v.netns, `addr add ${gw}/32 dev ${shellWord(dhv!.ifname)}`)} && ${fixRoute}`,
        [...evidence, linkLine(dhv!)],
      )
    } else {
      h.fail(reason, detail, fixRoute, evidence)
    }
  }
  const q: RouteQuery = {dst: dst.ep.ip, from: src.ep.ip, iif}
  const ans = iif ? lookup(v, q) : undefined
  const qText = `ip route get ${dst.ep.ip} from ${src.ep.ip}${iif ? ` iif ${iif}` : ''}`

  // Forwarding first: with it off the kernel answers "No route to host" for every forwarded packet.
  const ipf = sysctl(v, 'ip_forward')
  const devFwd = iif ? sysctl(v, 'conf', iif, 'forwarding') : undefined
  if (ipf === '0') {
    h.fail(
      'forwarding-disabled',
      `IP forwarding is off on ${v.node.name}`,
      execCmd(v.netns, 'sysctl -w net.ipv4.ip_forward=1'),
      ['net.ipv4.ip_forward = 0', ...(ans && !ans.ok ? [`${qText}: ${ans.error}`] : [])],
    )
    return {hop: h}
  }
  if (devFwd === '0' && iif) {
    h.fail(
      'forwarding-disabled',
      `forwarding is off for packets arriving on ${iif}`,
      execCmd(v.netns, `sysctl -w ${shellWord(`${sysctlName('net', 'ipv4', 'conf', iif, 'forwarding')}=1`)}`),
      [`${sysctlName('net', 'ipv4', 'conf', iif, 'forwarding')} = 0`],
    )
    return {hop: h}
  }
  if (ipf === undefined && missing(v, 'sysctls')) h.unknown('sysctls not readable')

  if (!ans || (!ans.ok && ans.unavailable)) {
    // No kernel lookup (remote reader, or iif unknown): fall back to the route table.
    const covering = coveringRoutes(v, dst.ep.ip)
    if (missing(v, 'routes') && !v.snap.routes.length) {
      h.unknown('routes not readable')
      return {hop: h}
    }
    const best = covering.sort((a, b) => prefixLength(b.dst) - prefixLength(a.dst))[0]
    if (!best) {
      routeFault('no-route', `no route for ${dst.ep.ip} on ${v.node.name}`, [`no route covers ${dst.ep.ip}`])
      return {hop: h}
    }
    compareRoute(ctx, h, v, best, expect, fixRoute, `route table: ${routeLine(best)}`, dst, vethDown)
    if (!iif) h.unknown('no kernel lookup (ingress device unknown)')
    return {hop: h, dev: best.dev}
  }

  if (!ans.ok) {
    const rp = iif ? effectiveRpFilter(v, iif) : undefined
    if (/invalid argument|cross-device/i.test(ans.error) && rp && rp.value > 0) {
      const rev = lookup(v, {dst: src.ep.ip})
      const revLine = rev?.ok ? routeLine(rev.route) : rev ? rev.error : 'unknown'
      const revDev = rev?.ok ? rev.route.dev : undefined
      h.device = iif ?? h.device
      h.fail(
        'rp-filter',
        `reverse-path filter drops ${src.ep.ip} arriving on ${iif}: the route back leaves via ${revDev ?? 'nowhere'} (rp_filter ${rp.value === 1 ? 'strict' : 'loose'})`,
        rp.value === 1 && revDev
          ? execCmd(
              v.netns,
              `sysctl -w ${sysctlName('net', 'ipv4', 'conf', 'all', 'rp_filter')}=2 ${shellWord(`${sysctlName('net', 'ipv4', 'conf', iif!, 'rp_filter')}=2`)}`,
            )
          : fixRouteForReverse(ctx, v, src),
        [
          `rp_filter: all=${rp.all} ${iif}=${rp.dev} → effective ${rp.value}`,
          `ip route get ${src.ep.ip}: ${revLine}`,
          `${qText}: ${ans.error}`,
        ],
      )
      return {hop: h}
    }
    const covering = coveringRoutes(v, dst.ep.ip)
    routeFault('no-route', `${v.node.name} has no route to ${dst.ep.ip} (${ans.error})`, [
      `${qText}: ${ans.error}`,
      covering.length ? `routes: ${covering.map(routeLine).join(', ')}` : `no route covers ${dst.ep.ip}`,
    ])
    return {hop: h}
  }

  const r = ans.route
  h.device = r.dev ?? h.device
  if (r.type && ['unreachable', 'blackhole', 'prohibit', 'throw'].includes(r.type)) {
    routeFault('no-route', `${v.node.name} routes ${dst.ep.ip} as ${r.type}`, [`${qText}: ${routeLine(r)}`])
    return {hop: h, dev: r.dev}
  }
  if (r.type === 'local') {
    h.fail(
      'wrong-route',
      `${dst.ep.ip} is a local address on ${v.node.name}`,
      ipCmd(v.netns, `addr show to ${dst.ep.ip}`),
      [`${qText}: ${routeLine(r)}`],
    )
    return {hop: h, dev: r.dev}
  }
  compareRoute(ctx, h, v, r, expect, fixRoute, `${qText}: ${routeLine(r)}`, dst, vethDown)
  return {hop: h, dev: r.dev}
}

/** The destination pod's default gateway (from its own route lookup), or the ptp convention .1. */
function podGateway(pod: PodView): string {
  for (const a of pod.lookups.values())
    if (a.ok && a.route.gateway && a.route.dev === pod.ifname) return a.route.gateway
  return firstHost(pod.nodeView.node.podCIDR)
}

function fixRouteForReverse(ctx: PathContext, v: NodeView, src: PodView): string {
  const sNode = src.nodeView.node
  if (v === src.nodeView)
    return ipCmd(
      v.netns,
      `route replace ${src.ep.ip}/32 dev ${src.hostVeth ? shellWord(src.hostVeth.ifname) : '<host veth>'}`,
    )
  if (ctx.mode === 'vxlan') {
    return ipCmd(
      v.netns,
      `route replace ${sNode.podCIDR} via ${networkAddress(sNode.podCIDR)} dev ${shellWord(ctx.vtep)} onlink`,
    )
  }
  if (ctx.mode === 'vpc' && ctx.topo.router) return vpcRoutesFix(ctx, v, ctx.topo.router.ip)
  return ipCmd(v.netns, `route replace ${sNode.podCIDR} via ${sNode.nodeIP} dev ${shellWord(ctx.underlay)}`)
}

function compareRoute(
  ctx: PathContext,
  h: Hop,
  v: NodeView,
  r: RouteEntry,
  expect: Expectation,
  fixRoute: string,
  evidence: string,
  dst: PodView,
  vethDown: boolean,
): void {
  const devOk = !expect.dev || r.dev === expect.dev
  const gwOk = !expect.gateway || r.gateway === expect.gateway
  if (devOk && gwOk) {
    h.ok(evidence.replace(/^.*?: /, ''), [evidence])
    if (!expect.dev) h.unknown('expected device unknown')
    return
  }
  const covering = coveringRoutes(v, dst.ep.ip)
  if (vethDown) {
    h.warn(
      `${dst.ep.ip} is routed via ${r.dev}: the routes through ${dst.hostVeth!.ifname} were flushed when it went down`,
      [evidence],
    )
    return
  }
  if (!covering.length) {
    h.fail(
      'no-route',
      `no route for ${dst.nodeView.node.podCIDR} on ${v.node.name}; the lookup fell through to ${routeLine(r)}`,
      fixRoute,
      [evidence],
    )
    return
  }
  const other = nodeByGateway(ctx.topo, r.gateway)
  const expectedText = `${expect.gateway ? `via ${expect.gateway} ` : ''}dev ${expect.dev ?? '?'}`
  const why =
    other && other.name !== dst.nodeView.node.name
      ? `the route points to node ${other.name} (${r.gateway}), but ${dst.ep.ip} lives on ${dst.nodeView.node.name}`
      : `${dst.ep.ip} is routed ${r.gateway ? `via ${r.gateway} ` : ''}dev ${r.dev}, expected ${expectedText}`
  h.fail('wrong-route', why, fixRoute, [evidence, `expected ${expectedText}`])
}

/** neighbour → FDB → encap → underlay tx → underlay rx → decap (flannel's three objects per peer). */
function vxlanHops(ctx: PathContext, dir: TraceDirection, src: PodView, dst: PodView): DraftHop[] {
  const sNode = src.nodeView
  const dNode = dst.nodeView
  const out: DraftHop[] = []
  const vtepS = findLink(sNode, ctx.vtep)
  const vtepD = findLink(dNode, ctx.vtep)
  const gw = networkAddress(dNode.node.podCIDR)
  // The MAC that must be used: the remote VTEP's real MAC when we can read it, else its annotation.
  const wantMac = (vtepD?.address ?? dNode.node.vtepMAC)?.toLowerCase()

  // neighbour
  const nh = new Hop(dir, sNode.node.name, sNode.label, ctx.vtep, 'neighbor')
  const neigh = sNode.snap.neigh.find((n) => n.dst === gw && n.dev === ctx.vtep)
  const neighHint = ipCmd(
    sNode.netns,
    `neigh replace ${gw} lladdr ${wantMac ?? '<vtep mac>'} dev ${shellWord(ctx.vtep)} nud permanent`,
  )
  let usedMac = neigh?.lladdr?.toLowerCase()
  if (missing(sNode, 'neigh') && !sNode.snap.neigh.length) {
    nh.unknown('neighbours not readable')
  } else if (!neigh || !neigh.lladdr || neigh.state?.some((s) => s === 'FAILED' || s === 'INCOMPLETE')) {
    nh.fail('no-neighbor', `no neighbour entry for ${gw} (${dNode.node.name}'s VTEP) on ${ctx.vtep}`, neighHint, [
      neigh
        ? `neigh ${gw} dev ${ctx.vtep} ${(neigh.state ?? []).join(',')}`
        : `ip neigh show ${gw} dev ${ctx.vtep}: (none)`,
    ])
    usedMac = undefined
  } else if (wantMac && usedMac !== wantMac) {
    nh.fail(
      'stale-fdb',
      `neighbour ${gw} points at ${usedMac}, but ${dNode.node.name}'s VTEP MAC is ${wantMac}`,
      neighHint,
      [
        `neigh ${gw} lladdr ${usedMac} dev ${ctx.vtep} ${(neigh.state ?? []).join(',')}`,
        `${dNode.node.name} ${ctx.vtep} MAC ${wantMac}`,
      ],
    )
  } else {
    nh.ok(`${gw} lladdr ${usedMac} ${(neigh.state ?? []).join(',')}`)
    if (dNode.node.vtepMAC && vtepD?.address && dNode.node.vtepMAC.toLowerCase() !== vtepD.address.toLowerCase()) {
      nh.warn(`${dNode.node.name}'s annotation says VTEP MAC ${dNode.node.vtepMAC}, the device has ${vtepD.address}`)
    }
  }
  out.push(nh.done())

  // FDB
  const fh = new Hop(dir, sNode.node.name, sNode.label, ctx.vtep, 'fdb')
  const mac = usedMac ?? wantMac
  const fdbHint = bridgeCmd(
    sNode.netns,
    `fdb replace ${mac ?? '<vtep mac>'} dev ${shellWord(ctx.vtep)} dst ${dNode.node.nodeIP} self permanent`,
  )
  const entries = sNode.snap.fdb.filter((f) => f.ifname === ctx.vtep && f.mac.toLowerCase() === mac)
  const dflt = sNode.snap.fdb.filter((f) => f.ifname === ctx.vtep && f.mac === '00:00:00:00:00:00')
  if (missing(sNode, 'fdb') && !sNode.snap.fdb.length) {
    fh.unknown('FDB not readable')
  } else if (!mac) {
    fh.unknown('no MAC to look up (neighbour missing)')
  } else if (!entries.length) {
    if (dflt.some((f) => f.dst === dNode.node.nodeIP)) {
      fh.warn(`no FDB entry for ${mac}; the default (00:00:00:00:00:00) entry floods to ${dNode.node.nodeIP}`)
    } else {
      fh.fail(
        'no-fdb',
        `no FDB entry for ${mac} on ${ctx.vtep}: the kernel has nowhere to send the VXLAN packet`,
        fdbHint,
        [
          `bridge fdb show dev ${ctx.vtep}: ${
            sNode.snap.fdb
              .filter((f) => f.ifname === ctx.vtep)
              .map((f) => `${f.mac} dst ${f.dst ?? '-'}`)
              .join(', ') || '(none)'
          }`,
        ],
      )
    }
  } else if (!entries.some((f) => f.dst === dNode.node.nodeIP)) {
    const wrong = entries.map((f) => f.dst ?? '-')
    const owner = nodeByGateway(ctx.topo, wrong[0])
    fh.fail(
      'stale-fdb',
      `FDB sends ${mac} to ${wrong.join(', ')}${owner ? ` (node ${owner.name})` : ''}, but ${dNode.node.name} is at ${dNode.node.nodeIP}`,
      fdbHint,
      entries.map((f) =>
        `${f.mac} dev ${ctx.vtep} dst ${f.dst ?? '-'} ${(f.flags ?? []).join(' ')} ${f.state ?? ''}`.trim(),
      ),
    )
  } else {
    if (entries.length > 1) fh.warn(`${entries.length} FDB entries for ${mac}: every packet is replicated`)
    fh.ok(`${mac} dst ${dNode.node.nodeIP}`)
  }
  out.push(fh.done())

  // encap: the VTEP itself and the MTU chain pod → vtep
  const eh = new Hop(dir, sNode.node.name, sNode.label, ctx.vtep, 'encap')
  if (checkLink(eh, sNode, vtepS, ctx.vtep)) {
    if (vtepS) {
      const info = vtepS.linkinfo?.info_data ?? {}
      const id = info.id as number | undefined
      const port = info.port as number | undefined
      if (id !== undefined && id !== ctx.vni) eh.warn(`VNI ${id}, expected ${ctx.vni}`)
      const dInfo = vtepD?.linkinfo?.info_data
      if (dInfo && id !== undefined && dInfo.id !== undefined && dInfo.id !== id) {
        eh.fail(
          'unknown',
          `VNI ${id} here but ${String(dInfo.id)} on ${dNode.node.name}: the peer drops the packets`,
          ipCmd(sNode.netns, `-d link show ${shellWord(ctx.vtep)}`),
          [`${sNode.node.name} ${ctx.vtep} id ${id}`, `${dNode.node.name} ${ctx.vtep} id ${String(dInfo.id)}`],
        )
      }
      if (dInfo && port !== undefined && dInfo.port !== undefined && dInfo.port !== port) {
        eh.fail(
          'underlay-blocked',
          `dstport ${port} here but ${String(dInfo.port)} on ${dNode.node.name}`,
          ipCmd(sNode.netns, `-d link show ${shellWord(ctx.vtep)}`),
          [
            `${sNode.node.name} ${ctx.vtep} dstport ${port}`,
            `${dNode.node.name} ${ctx.vtep} dstport ${String(dInfo.port)}`,
          ],
        )
      }
      if (src.eth && src.eth.mtu > vtepS.mtu) {
        eh.fail(
          'mtu',
          `pod MTU ${src.eth.mtu} > ${ctx.vtep} MTU ${vtepS.mtu}: full-size packets can't enter the tunnel`,
          ipCmd(src.netns, `link set dev ${shellWord(src.ifname)} mtu ${vtepS.mtu}`),
          [`${src.label} ${src.ifname} mtu ${src.eth.mtu}`, `${sNode.node.name} ${ctx.vtep} mtu ${vtepS.mtu}`],
        )
      }
      eh.ok(`VNI ${id ?? '?'} dstport ${port ?? '?'} mtu ${vtepS.mtu} ${vtepS.address ?? ''}`.trim())
    }
  }
  out.push(eh.done())

  // underlay tx: eth0 of the source node
  const sUl = findLink(sNode, ctx.underlay)
  const tx = new Hop(dir, sNode.node.name, sNode.label, ctx.underlay, 'underlay-tx')
  underlayTxChecks(
    ctx,
    tx,
    sNode,
    dNode,
    sUl,
    vtepS ? vtepS.mtu + VXLAN_OVERHEAD : undefined,
    `${ctx.vtep} MTU ${vtepS?.mtu} + ${VXLAN_OVERHEAD} VXLAN overhead`,
  )
  filterCheck(
    tx,
    sNode,
    ['output', 'postrouting'],
    [
      {
        src: sNode.node.nodeIP,
        dst: dNode.node.nodeIP,
        proto: 'udp',
        dport: ctx.vxlanPort,
        oif: ctx.underlay,
        ctstate: 'NEW',
      },
    ],
    'underlay-blocked',
    'VXLAN',
  )
  out.push(tx.done())

  // underlay rx: eth0 of the destination node
  const dUl = findLink(dNode, ctx.underlay)
  const rx = new Hop(dir, dNode.node.name, dNode.label, ctx.underlay, 'underlay-rx')
  underlayRxChecks(ctx, rx, sNode, dNode, dUl, vtepS ? vtepS.mtu + VXLAN_OVERHEAD : undefined)
  filterCheck(
    rx,
    dNode,
    ['prerouting', 'input'],
    [
      {
        src: sNode.node.nodeIP,
        dst: dNode.node.nodeIP,
        proto: 'udp',
        dport: ctx.vxlanPort,
        iif: ctx.underlay,
        ctstate: 'NEW',
      },
    ],
    'underlay-blocked',
    'VXLAN',
  )
  const outer = lookup(dNode, {dst: dNode.node.nodeIP, from: sNode.node.nodeIP, iif: ctx.underlay})
  if (outer && !outer.ok && !outer.unavailable && !rx.failed) {
    const rp = effectiveRpFilter(dNode, ctx.underlay)
    rx.fail(
      rp && rp.value > 0 ? 'rp-filter' : 'underlay-blocked',
      `${dNode.node.name} does not accept VXLAN packets from ${sNode.node.nodeIP} on ${ctx.underlay}: ${outer.error}`,
      fixRouteForReverseNode(ctx, dNode, sNode),
      [`ip route get ${dNode.node.nodeIP} from ${sNode.node.nodeIP} iif ${ctx.underlay}: ${outer.error}`],
    )
  }
  out.push(rx.done())

  // decap: the destination VTEP
  const dh = new Hop(dir, dNode.node.name, dNode.label, ctx.vtep, 'decap')
  if (checkLink(dh, dNode, vtepD, ctx.vtep)) {
    if (vtepD) {
      dh.ok(`${ctx.vtep} ${vtepD.address ?? ''} mtu ${vtepD.mtu}`)
      if (dNode.node.vtepMAC && vtepD.address && vtepD.address.toLowerCase() !== dNode.node.vtepMAC.toLowerCase()) {
        dh.warn(`annotation cnidbg.dev/vtep-mac is ${dNode.node.vtepMAC}, the device has ${vtepD.address}`)
      }
      if (vtepS && src.eth && dst.eth && dst.eth.mtu < Math.min(src.eth.mtu, vtepS.mtu)) {
        dh.warn(`the destination pod's MTU ${dst.eth.mtu} is below the tunnel's ${vtepS.mtu}`)
      }
    }
  }
  out.push(dh.done())
  return out
}

function fixRouteForReverseNode(ctx: PathContext, v: NodeView, peer: NodeView): string {
  return ipCmd(v.netns, `route replace ${peer.node.nodeIP} dev ${shellWord(ctx.underlay)}`)
}

/** The underlay prefix length, taken from the peer node's underlay address (same L2 segment); /32 if unknown. */
function underlayPrefix(ctx: PathContext, peer: NodeView): number {
  const a = findLink(peer, ctx.underlay)?.addr_info?.find((x) => x.family === 'inet' && x.local === peer.node.nodeIP)
  return a?.prefixlen ?? 32
}

function underlayTxChecks(
  ctx: PathContext,
  h: Hop,
  sNode: NodeView,
  dNode: NodeView,
  ul: LinkInfo | undefined,
  outerSize: number | undefined,
  sizeWhy: string,
): void {
  if (!checkLink(h, sNode, ul, ctx.underlay)) return
  if (!ul) return
  if (!missing(sNode, 'addresses') && !hasAddr(ul, sNode.node.nodeIP)) {
    h.fail(
      'address-missing',
      `${ctx.underlay} does not hold the node IP ${sNode.node.nodeIP}`,
      nodeAddressFix(ctx, sNode, dNode),
      [linkLine(ul)],
    )
  }
  if (outerSize !== undefined && outerSize > ul.mtu) {
    h.fail(
      'mtu',
      `${sizeWhy} = ${outerSize} > ${ctx.underlay} MTU ${ul.mtu}: full-size packets don't fit the underlay`,
      ipCmd(sNode.netns, `link set dev ${shellWord(ctx.underlay)} mtu ${outerSize}`),
      [linkLine(ul)],
    )
  }
  const ans = lookup(sNode, {dst: dNode.node.nodeIP})
  const reason: FaultReason = ctx.mode === 'vxlan' ? 'underlay-blocked' : 'no-route'
  if (ans && !ans.ok && !ans.unavailable) {
    h.fail(
      reason,
      `no underlay route to ${dNode.node.name} (${dNode.node.nodeIP}): ${ans.error}`,
      ipCmd(sNode.netns, `route show ${dNode.node.nodeIP}`),
      [`ip route get ${dNode.node.nodeIP}: ${ans.error}`],
    )
  } else if (ans?.ok) {
    const nextHop = ans.route.gateway ?? dNode.node.nodeIP
    const n = sNode.snap.neigh.find((e) => e.dst === nextHop && e.dev === (ans.route.dev ?? ctx.underlay))
    if (n?.state?.some((s) => s === 'FAILED' || s === 'INCOMPLETE')) {
      h.fail(
        ctx.mode === 'vxlan' ? 'underlay-blocked' : 'no-neighbor',
        `${nextHop} does not answer ARP on ${ans.route.dev ?? ctx.underlay} (${n.state.join(',')})`,
        ipCmd(sNode.netns, `neigh flush dev ${shellWord(ans.route.dev ?? ctx.underlay)}`),
        [`neigh ${nextHop} dev ${ans.route.dev ?? ctx.underlay} ${n.state.join(',')}`],
      )
    }
    h.ok(
      `to ${dNode.node.nodeIP}: ${routeLine(ans.route)}${n ? `, neighbour ${n.lladdr ?? ''} ${(n.state ?? []).join(',')}` : ''}`,
    )
  }
}

function underlayRxChecks(
  ctx: PathContext,
  h: Hop,
  sNode: NodeView,
  dNode: NodeView,
  ul: LinkInfo | undefined,
  incomingSize: number | undefined,
): void {
  if (!checkLink(h, dNode, ul, ctx.underlay)) return
  if (!ul) return
  if (!missing(dNode, 'addresses') && !hasAddr(ul, dNode.node.nodeIP)) {
    h.fail(
      'address-missing',
      `${ctx.underlay} does not hold the node IP ${dNode.node.nodeIP}`,
      nodeAddressFix(ctx, dNode, sNode),
      [linkLine(ul)],
    )
  }
  if (incomingSize !== undefined && incomingSize > ul.mtu) {
    h.fail(
      'mtu',
      `${sNode.node.name} sends up to ${incomingSize}-byte packets, but ${dNode.node.name}'s ${ctx.underlay} MTU is ${ul.mtu}`,
      ipCmd(dNode.netns, `link set dev ${shellWord(ctx.underlay)} mtu ${incomingSize}`),
      [linkLine(ul)],
    )
  }
  if (h.status === 'ok') h.ok(`${ctx.underlay} ${dNode.node.nodeIP} mtu ${ul.mtu}`)
}

/** host-gw: next hop is the remote node IP on the underlay; the receiving node routes to the pod. */
function hostGwHops(ctx: PathContext, dir: TraceDirection, src: PodView, dst: PodView): DraftHop[] {
  const sNode = src.nodeView
  const dNode = dst.nodeView
  const sUl = findLink(sNode, ctx.underlay)
  const nh = new Hop(dir, sNode.node.name, sNode.label, ctx.underlay, 'next-hop')
  underlayTxChecks(ctx, nh, sNode, dNode, sUl, src.eth?.mtu, `pod MTU`)
  const dUl = findLink(dNode, ctx.underlay)
  const rx = new Hop(dir, dNode.node.name, dNode.label, ctx.underlay, 'underlay-rx')
  underlayRxChecks(ctx, rx, sNode, dNode, dUl, src.eth?.mtu)
  return [nh.done(), rx.done()]
}

/** How hops and faults name the VPC router. */
export const VPC_ROUTER_NAME = 'vpc-router'
/** The route table's entries in the router's kernel (daemon/backends/vpc.ts, VPC_ROUTE_PROTO). */
const VPC_PROTO = '206'
/** The router's source/destination check (lab/faults/vpc.ts): nft table and chain. */
const SRC_DST = {table: 'cnidbg_vpc', chain: 'src_dst_check'}

/** The MAC an nft rule matches with `ether saddr == MAC`, if it has that match. */
function etherSaddr(expr: unknown[]): string | undefined {
  for (const e of expr) {
    const m = (e as {match?: {op?: string; left?: {payload?: {protocol?: string; field?: string}}; right?: unknown}})
      .match
    if (m?.op === '==' && m.left?.payload?.protocol === 'ether' && m.left.payload.field === 'saddr')
      return typeof m.right === 'string' ? m.right.toLowerCase() : undefined
  }
  return undefined
}

/**
 * vpc: source node → VPC router (source/destination check, then its route table) → destination node.
 * The router's route table is the cloud's: an entry missing there is `route-table-missing`, fixed
 * by the owning node's daemon (CreateRoute) or by putting the entry back.
 */
function vpcHops(ctx: PathContext, rv: NodeView, dir: TraceDirection, src: PodView, dst: PodView): DraftHop[] {
  const sNode = src.nodeView
  const dNode = dst.nodeView
  const routerIf = ctx.topo.router?.iface ?? 'vpc0'
  const out: DraftHop[] = []

  // source node → router
  const nh = new Hop(dir, sNode.node.name, sNode.label, ctx.underlay, 'next-hop')
  const sUl = findLink(sNode, ctx.underlay)
  if (checkLink(nh, sNode, sUl, ctx.underlay)) {
    const ans = lookup(sNode, {dst: rv.node.nodeIP})
    if (ans && !ans.ok && !ans.unavailable)
      nh.fail(
        'no-route',
        `no route to the VPC router ${rv.node.nodeIP}: ${ans.error}`,
        vpcRoutesFix(ctx, sNode, rv.node.nodeIP),
        [`ip route get ${rv.node.nodeIP}: ${ans.error}`],
      )
    else nh.ok(`to ${VPC_ROUTER_NAME} ${rv.node.nodeIP}${ans?.ok ? `: ${routeLine(ans.route)}` : ''}`)
  }
  out.push(nh.done())

  // the router's source/destination check
  const chk = new Hop(dir, VPC_ROUTER_NAME, rv.label, routerIf, 'filter')
  const mac = sUl?.address?.toLowerCase()
  if (missing(rv, 'nft')) chk.unknown('nft not readable on the VPC router')
  else if (mac === undefined && src.ep.ip !== sNode.node.nodeIP)
    // The check matches the node by its MAC (read over /diag, the underlay has none): nothing to
    // match the router's rules against, so "off" would be a guess.
    chk.unknown(`the MAC of ${sNode.node.name}'s ${ctx.underlay} is unknown: its source/destination check was not read`)
  else {
    const rule = rv.nft?.rules.find(
      (r) => r.table === SRC_DST.table && r.chain === SRC_DST.chain && mac !== undefined && etherSaddr(r.expr) === mac,
    )
    if (rule && src.ep.ip !== sNode.node.nodeIP) {
      chk.fail(
        'src-dst-check',
        `the VPC router's source/destination check is on for ${sNode.node.name}: packets from its MAC ${mac} must have source ${sNode.node.nodeIP}, so ${src.ep.ip} (a pod) is dropped`,
        `mark ${sNode.node.name} for forwarding (turn its source/destination check off): ${execCmd(rv.netns, `nft delete rule ${rule.family} ${rule.table} ${rule.chain} handle ${rule.handle ?? '?'}`)}`,
        [
          `nft ${rule.family} ${rule.table} ${rule.chain} handle ${rule.handle ?? '?'}: ether saddr ${mac} (${sNode.node.name}) and ip saddr != ${sNode.node.nodeIP} → drop`,
        ],
      )
    } else chk.ok(`source/destination check off for ${sNode.node.name}`)
  }
  out.push(chk.done())

  // the router's route table
  const rt = new Hop(dir, VPC_ROUTER_NAME, rv.label, routerIf, 'route')
  const q = {dst: dst.ep.ip, from: src.ep.ip, iif: routerIf}
  const ans = lookup(rv, q)
  const qText = `ip route get ${dst.ep.ip} from ${src.ep.ip} iif ${routerIf}`
  const table = rv.snap.routes.filter((r) => r.protocol === VPC_PROTO || r.protocol === 'static')
  const tableText = `route table: ${table.length ? table.map(routeLine).join(', ') : '(empty)'}`
  const fix = `${ipCmd(rv.netns, `route replace ${dNode.node.podCIDR} via ${dNode.node.nodeIP} dev ${shellWord(routerIf)} proto ${VPC_PROTO}`)}, or start ${dNode.node.name}'s daemon (it keeps its pod CIDR's entry through the route-table API)`
  const entry = table.find((r) => r.dst === dNode.node.podCIDR)
  if (!ans || (!ans.ok && ans.unavailable)) {
    if (missing(rv, 'routes')) rt.unknown('route table not readable')
    else if (!entry)
      rt.fail(
        'route-table-missing',
        `the VPC route table has no entry for ${dNode.node.podCIDR} (${dNode.node.name})`,
        fix,
        [tableText],
      )
    else rt.ok(routeLine(entry), [tableText])
  } else if (!ans.ok || (ans.route.type && ans.route.type !== 'unicast')) {
    rt.fail(
      'route-table-missing',
      `the VPC route table has no entry for ${dNode.node.podCIDR} (${dNode.node.name}): ${ans.ok ? ans.route.type : ans.error}`,
      fix,
      [`${qText}: ${ans.ok ? routeLine(ans.route) : ans.error}`, tableText],
    )
  } else if (ans.route.gateway !== dNode.node.nodeIP) {
    const other = nodeByGateway(ctx.topo, ans.route.gateway)
    rt.fail(
      entry ? 'wrong-route' : 'route-table-missing',
      `the VPC router sends ${dst.ep.ip} via ${ans.route.gateway ?? 'no gateway'}${other ? ` (${other.name})` : ''}, but it lives on ${dNode.node.name} (${dNode.node.nodeIP})`,
      fix,
      [`${qText}: ${routeLine(ans.route)}`, tableText],
    )
  } else rt.ok(routeLine(ans.route), [`${qText}: ${routeLine(ans.route)}`])
  out.push(rt.done())

  // router → destination node
  const dUl = findLink(dNode, ctx.underlay)
  const rx = new Hop(dir, dNode.node.name, dNode.label, ctx.underlay, 'underlay-rx')
  underlayRxChecks(ctx, rx, sNode, dNode, dUl, src.eth?.mtu)
  out.push(rx.done())
  return out
}
