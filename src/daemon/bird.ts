/**
 * bird2's side of the bgp backend, pure: the configuration text the daemon gives each node's bird,
 * and the parser of `birdc show protocols all` (the output Calico's `calicoctl node status` reads).
 *
 * Every value that reaches the configuration comes from the API (node IPs, pod CIDRs, labels) and is
 * hostile: it is parsed here into an address or a network and printed back in canonical form, and
 * protocol names are made from the parsed address, never from a node name. A value that does not
 * parse is refused (`BirdConfigError`) before any text is written, so no string from the API is ever
 * spliced into the file.
 */
import {formatCIDR, formatIP, parseIP, parseNetwork} from '../core/ip.js'

/** iBGP, one private AS for the whole cluster, as Calico's default. */
export const DEFAULT_BGP_AS = 64512
/** RTPROT_BIRD: the `proto bird` routes bird installs in the kernel (iproute2's rt_protos). */
export const BIRD_ROUTE_PROTO = 12
/** bird's kernel protocol installs routes with this metric unless told otherwise. */
export const BIRD_KERNEL_METRIC = 32
/**
 * Short timers, so a dead or filtered peer shows within seconds: keepalive every 2 s, the session
 * declared down after 6 s without one (RFC 4271 allows a hold time down to 3 s).
 */
export const BGP_HOLD_TIME = 6
export const BGP_KEEPALIVE_TIME = 2
/** The node label that makes a node a route reflector (value "true"). */
export const LABEL_ROUTE_REFLECTOR = 'cnidbg.dev/route-reflector'
/** The static protocol that originates this node's pod CIDR (`birdc disable` it to stop announcing). */
export const ORIGIN_PROTOCOL = 'pod_cidr'

export class BirdConfigError extends Error {
  override name = 'BirdConfigError'
}

export type PeerRole = 'mesh' | 'rr-client' | 'reflector' | 'external'

export interface BirdPeer {
  /** The peer's underlay address (validated, canonical). */
  ip: string
  role: PeerRole
  /** Who the peer is, for /diag and trace (a node name, or "global peer"); never written to the config. */
  node: string
}

export interface BirdConfigInput {
  routerId: string
  asn: number
  /** The pod CIDR this node originates; none for a router that only learns. */
  podCIDR?: string
  /** The underlay interface (validated by the daemon's options); none = every interface. */
  iface?: string
  /** This node reflects routes (it has the route-reflector label). */
  reflector: boolean
  peers: readonly BirdPeer[]
}

function ipv4(text: string, what: string): string {
  const a = parseIP(text)
  if (!a || a.family !== 4) throw new BirdConfigError(`${what} is not an IPv4 address: ${JSON.stringify(text)}`)
  return formatIP(a)
}

function network(text: string, what: string): string {
  const n = parseNetwork(text, {family: 4})
  if (!n) throw new BirdConfigError(`${what} is not an IPv4 network: ${JSON.stringify(text)}`)
  return formatCIDR(n)
}

/** The bgp protocol's name for a peer: `peer_198_18_0_3`, from the parsed address only. */
export function protocolName(ip: string): string {
  return `peer_${ipv4(ip, 'peer address').replaceAll('.', '_')}`
}

/** The peer address back from a protocol name (undefined for other protocols). */
export function protocolPeerIP(name: string): string | undefined {
  const m = /^peer_(\d+)_(\d+)_(\d+)_(\d+)$/.exec(name)
  return m ? `${m[1]}.${m[2]}.${m[3]}.${m[4]}` : undefined
}

/**
 * The whole bird.conf of a node. Deterministic (peers sorted), so the daemon reconfigures bird only
 * when a peer, a role or the CIDR really changed.
 */
export function birdConfig(input: BirdConfigInput): string {
  const routerId = ipv4(input.routerId, 'router id')
  const podCIDR = input.podCIDR === undefined ? undefined : network(input.podCIDR, 'pod CIDR')
  if (!Number.isInteger(input.asn) || input.asn < 1 || input.asn > 4_294_967_294)
    throw new BirdConfigError(`AS number out of range: ${input.asn}`)
  if (input.iface !== undefined && !/^[A-Za-z0-9_.@-]{1,15}$/.test(input.iface))
    throw new BirdConfigError(`invalid interface name ${JSON.stringify(input.iface)}`)
  const peers = [...input.peers]
    .map((p) => ({...p, ip: ipv4(p.ip, `address of peer ${JSON.stringify(p.node)}`)}))
    .filter((p) => p.ip !== routerId)
    .sort((a, b) => (parseIP(a.ip)!.value < parseIP(b.ip)!.value ? -1 : 1))
  const seen = new Set<string>()
  const lines = [
    '# Written by the cnidbg node daemon; rewritten whenever the nodes change.',
    `router id ${routerId};`,
    '',
    'protocol device { scan time 2; }',
    // Connected underlay subnets and the underlay routes the node has (learn) make the IGP table that
    // resolves a multihop peer's next hop (gateway recursive): a peer behind a router is reached
    // through that router.
    input.iface ? `protocol direct { ipv4; interface "${input.iface}"; }` : 'protocol direct { ipv4; }',
    'protocol kernel {',
    '  ipv4 { import all; export where source = RTS_BGP; };',
    '  learn;',
    // Learned routes stay in this node's kernel across a bird restart; the peers withdraw them at
    // once (graceful restart off below), so a dead speaker is visible within seconds.
    '  persist;',
    '  scan time 2;',
    `  metric ${BIRD_KERNEL_METRIC};`,
    '}',
    '',
    ...(podCIDR ? [`protocol static ${ORIGIN_PROTOCOL} { ipv4; route ${podCIDR} blackhole; }`, ''] : []),
    'template bgp cnidbg_peer {',
    `  local as ${input.asn};`,
    '  multihop;',
    `  hold time ${BGP_HOLD_TIME};`,
    `  keepalive time ${BGP_KEEPALIVE_TIME};`,
    '  connect delay time 1;',
    '  connect retry time 2;',
    '  error wait time 1, 10;',
    '  graceful restart off;',
    // Originated CIDRs and (on a reflector) reflected routes; bird never sends an iBGP-learned route
    // to a non-client iBGP peer, so a mesh member re-announces nothing. No `next hop self`: a
    // reflected route keeps its originator's address as next hop.
    '  ipv4 { import all; export where source ~ [RTS_STATIC, RTS_BGP]; gateway recursive; };',
    '}',
  ]
  if (input.reflector) lines.push(`# route reflector, cluster id ${routerId}`)
  for (const p of peers) {
    if (seen.has(p.ip)) continue
    seen.add(p.ip)
    const rr = p.role === 'rr-client' && input.reflector ? ` rr client; rr cluster id ${routerId};` : ''
    lines.push(
      `protocol bgp ${protocolName(p.ip)} from cnidbg_peer { neighbor ${p.ip} as ${input.asn};${rr} }  # ${p.role}`,
    )
  }
  return lines.join('\n') + '\n'
}

// ---------------------------------------------------------------------------------------------
// `birdc show protocols all`

export interface BirdProtocol {
  name: string
  proto: string
  /** up, start, down, … (the State column). */
  state: string
  since: string
  /** The Info column: Established, Active, Connect, Idle, … plus any message. */
  info: string
  /** BGP only. */
  bgpState?: string
  neighbor?: string
  lastError?: string
  routes?: {imported: number; exported: number}
}

/**
 * Parses `show protocols all` (bird 2.0). Protocol header lines start at column 0 (name, proto, table,
 * state, since, info…); detail lines are indented. Tolerant: unknown lines are skipped.
 */
export function parseProtocols(text: string): BirdProtocol[] {
  const out: BirdProtocol[] = []
  let cur: BirdProtocol | undefined
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '')
    if (!line || /^BIRD \d/.test(line) || /^Name\s+Proto\s+Table/.test(line)) continue
    if (!/^\s/.test(line)) {
      const w = line.split(/\s+/)
      if (w.length < 5) continue
      cur = {name: w[0]!, proto: w[1]!, state: w[3]!, since: w[4]!, info: w.slice(5).join(' ')}
      // `Since` may be a date and a time (bird's `timeformat protocol iso long`).
      if (/^\d{4}-\d\d-\d\d$/.test(w[4]!) && w[5] && /^\d/.test(w[5])) {
        cur.since = `${w[4]} ${w[5]}`
        cur.info = w.slice(6).join(' ')
      }
      out.push(cur)
      continue
    }
    if (!cur) continue
    const kv = /^\s+([A-Za-z][A-Za-z0-9 ]*?):\s*(.*)$/.exec(line)
    if (!kv) continue
    const [, key, value] = kv
    if (key === 'BGP state') cur.bgpState = value
    else if (key === 'Neighbor address') cur.neighbor = value
    else if (key === 'Last error') cur.lastError = value
    else if (key === 'Routes') {
      const m = /(\d+) imported, (?:\d+ filtered, )?(\d+) exported/.exec(value ?? '')
      if (m) cur.routes = {imported: Number(m[1]), exported: Number(m[2])}
    }
  }
  return out
}

/** One BGP session as /diag shows it. */
export interface BgpSession {
  /** The bird protocol name (peer_<ip>). */
  protocol: string
  peerIP: string
  /** The node at that address, or "global peer". */
  peerNode: string
  role: PeerRole
  /** Established, Active, Connect, Idle, OpenSent, … or "absent" when bird has no such protocol. */
  state: string
  established: boolean
  since?: string
  info?: string
  lastError?: string
  routesImported?: number
  routesExported?: number
}

/** Joins the configured peers with what bird reports about them. */
export function sessionsOf(peers: readonly BirdPeer[], protocols: readonly BirdProtocol[]): BgpSession[] {
  return peers.map((p) => {
    const name = protocolName(p.ip)
    const pr = protocols.find((x) => x.name === name)
    const state = pr ? (pr.bgpState ?? pr.info.split(' ')[0] ?? pr.state) : 'absent'
    return {
      protocol: name,
      peerIP: p.ip,
      peerNode: p.node,
      role: p.role,
      state,
      established: state === 'Established',
      since: pr?.since,
      info: pr?.info || undefined,
      lastError: pr?.lastError,
      routesImported: pr?.routes?.imported,
      routesExported: pr?.routes?.exported,
    }
  })
}
