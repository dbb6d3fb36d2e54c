/**
 * The node agent's HTTP API (version 1), shared by the server (server.ts) and its client
 * (client.ts). Every body is JSON. What a request reads is its `target`: the node's namespace when
 * absent, or a pod on the node by its IP (found by address, host veth or the CNI result cache, so a
 * pod that lost its address is still found).
 *
 * | method, path           | verb on nodes/proxy | body → answer                                            |
 * |------------------------|---------------------|----------------------------------------------------------|
 * | GET /healthz           | none (no credential)| `ok`                                                     |
 * | GET /v1/node           | get                 | → NodeInfo                                               |
 * | GET /v1/pods?ip=A&ip=B | get                 | → PodsAnswer                                             |
 * | POST /v1/snapshot      | get                 | SnapshotBody → SnapshotAnswer (a KernelSnapshot)         |
 * | POST /v1/netfilter     | get                 | NetfilterBody → NetfilterAnswer (a packet's verdict)     |
 * | POST /v1/conntrack     | get                 | ConntrackBody → ConntrackRead                            |
 * | POST /v1/sockets       | get                 | SocketsBody → SocketsAnswer (TCP listeners on a port)    |
 * | GET /v1/bgp            | get                 | → BgpAnswer (the node daemon's BGP sessions)             |
 * | POST /v1/probe         | create              | ProbeBody → ProbeAnswer (a probe's source side)          |
 * | POST /v1/listen        | create              | ListenBody → ListenAnswer (its destination side starts)  |
 * | POST /v1/listen/stop   | create              | ListenStopBody → ListenResult (and it ends)              |
 * | POST /v1/observe       | create              | ObserveBody → ObserveAnswer (captures, counters, drops)  |
 * | POST /v1/observe/stop  | create              | ObserveStopBody → ObserveResult (and it ends)            |
 *
 * Reads are POSTs where they take a body, and still need only `get`: the verb follows the path,
 * never the method, so that a caller who may read can read. Paths that act on the node (live probes)
 * need `create`. Errors are `{"error": message}` with a 4xx or 5xx status.
 *
 * /v1/bgp is the one answer the agent does not read from the kernel: it asks the node daemon
 * (`--daemon-url`, its GET /diag, which reads bird's control socket) with the caller's own bearer
 * token, so the daemon's gate decides again what it decided here (`get nodes/proxy` on this node),
 * and the agent needs no right of its own on the daemon.
 *
 * Validation here turns any malformed body into a 400 before anything runs: addresses must be
 * IPv4, interface names and parts come from short fixed alphabets, lists are bounded.
 */
import {HttpError} from '../core/http.js'
import {isIPv4} from '../core/ip.js'
import type {ConntrackFlow, ConntrackRead} from '../kernel/conntrack.js'
import type {NfHook, NfPacket, NfVerdict} from '../kernel/netfilter.js'
import type {PodNetns} from '../kernel/pods.js'
import type {
  BgpAnswer,
  BgpView,
  DestinationKind,
  ListenAnswer,
  ListenBody,
  ListenResult,
  ListenStopBody,
  ObserveAnswer,
  ObserveBody,
  ObserveResult,
  ObserveStopBody,
  ProbeAnswer,
  ProbeBody,
  SocketsAnswer,
  SocketsBody,
  SourceKind,
  Target,
} from '../kernel/node-access.js'
import type {NodeProxyVerb} from '../kube/node-proxy-gate.js'
import {ALL_PARTS, isSafeArg, type KernelSnapshot, type RouteQuery, type SnapshotPart} from '../kernel/reader.js'

export const API_VERSION = 1

export const PATHS = {
  healthz: '/healthz',
  node: '/v1/node',
  pods: '/v1/pods',
  snapshot: '/v1/snapshot',
  netfilter: '/v1/netfilter',
  conntrack: '/v1/conntrack',
  sockets: '/v1/sockets',
  bgp: '/v1/bgp',
  probe: '/v1/probe',
  listen: '/v1/listen',
  listenStop: '/v1/listen/stop',
  observe: '/v1/observe',
  observeStop: '/v1/observe/stop',
} as const

/** Paths that act on the node rather than read it: they need `create nodes/proxy`. */
export const LIVE_PATHS: ReadonlySet<string> = new Set<string>([
  PATHS.probe,
  PATHS.listen,
  PATHS.listenStop,
  PATHS.observe,
  PATHS.observeStop,
])

export type AgentVerb = NodeProxyVerb

/** The verb a path needs on the node's `nodes/proxy`, decided before routing (unknown paths: get). */
export function verbFor(path: string): AgentVerb {
  return LIVE_PATHS.has(path) ? 'create' : 'get'
}

export interface NodeInfo {
  node: string
  apiVersion: number
  /** What the agent reads as the node: `netns <path>`. */
  reads: string
  limits: {maxInFlight: number; opTimeoutMs: number; maxBodyBytes: number}
}

export interface PodsAnswer {
  node: string
  pods: PodNetns[]
  /** Asked-for IPs no way found on this node. */
  missing: string[]
}

export interface SnapshotBody {
  target?: Target
  parts?: SnapshotPart[]
  routeGets?: RouteQuery[]
}

export interface SnapshotAnswer extends KernelSnapshot {
  /** The pod read, for a pod target. */
  pod?: PodNetns
}

export interface NetfilterBody {
  target?: Target
  packet: NfPacket
  hooks: NfHook[]
}

export interface NetfilterAnswer {
  verdict: NfVerdict
  /** Rulesets that could not be read (then the verdict covers the others only). */
  missing: string[]
}

export interface ConntrackBody {
  target?: Target
  flow: ConntrackFlow
}

export type {
  BgpAnswer,
  BgpView,
  DestinationKind,
  ListenAnswer,
  ListenBody,
  ListenResult,
  ListenStopBody,
  ObserveAnswer,
  ObserveBody,
  ObserveResult,
  ObserveStopBody,
  ProbeAnswer,
  ProbeBody,
  SocketsAnswer,
  SocketsBody,
  SourceKind,
  Target,
}
export type {ConntrackRead, KernelSnapshot, PodNetns}

// ---------------------------------------------------------------------------------------------
// Validation

const MAX_ROUTE_GETS = 64
const MAX_PODS = 64
const IFNAME = /^[A-Za-z0-9._:@-]{1,15}$/
const HOOKS: readonly NfHook[] = ['prerouting', 'input', 'forward', 'output', 'postrouting']

type Rec = Record<string, unknown>

function bad(message: string): HttpError {
  return new HttpError(400, message)
}

function object(v: unknown, what: string): Rec {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(`${what} must be a JSON object`)
  return v as Rec
}

function only(o: Rec, keys: readonly string[], what: string): void {
  const extra = Object.keys(o).filter((k) => !keys.includes(k))
  if (extra.length) throw bad(`${what}: unknown field ${JSON.stringify(extra[0])}`)
}

function ipv4(v: unknown, what: string): string {
  if (typeof v !== 'string' || !isIPv4(v)) throw bad(`${what} must be an IPv4 address`)
  return v
}

function ifname(v: unknown, what: string): string {
  if (typeof v !== 'string' || !IFNAME.test(v) || !isSafeArg(v)) throw bad(`${what} must be an interface name`)
  return v
}

function port(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) throw bad(`${what} must be a port`)
  return v
}

function list(v: unknown, what: string, max: number): unknown[] {
  if (!Array.isArray(v)) throw bad(`${what} must be a list`)
  if (v.length > max) throw bad(`${what}: at most ${max} entries`)
  return v
}

export function parseTarget(v: unknown): Target | undefined {
  if (v === undefined) return undefined
  const o = object(v, 'target')
  only(o, ['pod'], 'target')
  return o.pod === undefined ? {} : {pod: ipv4(o.pod, 'target.pod')}
}

function parseRouteQuery(v: unknown, i: number): RouteQuery {
  const what = `routeGets[${i}]`
  const o = object(v, what)
  only(o, ['dst', 'from', 'iif', 'iifFor'], what)
  const q: RouteQuery = {dst: ipv4(o.dst, `${what}.dst`)}
  if (o.from !== undefined) q.from = ipv4(o.from, `${what}.from`)
  if (o.iif !== undefined) q.iif = ifname(o.iif, `${what}.iif`)
  if (o.iifFor !== undefined) q.iifFor = ipv4(o.iifFor, `${what}.iifFor`)
  if (q.iif && q.iifFor) throw bad(`${what}: iif and iifFor exclude each other`)
  return q
}

export function parseSnapshotBody(v: unknown): SnapshotBody {
  const o = object(v, 'the body')
  only(o, ['target', 'parts', 'routeGets'], 'the body')
  const body: SnapshotBody = {}
  const target = parseTarget(o.target)
  if (target) body.target = target
  if (o.parts !== undefined) {
    body.parts = list(o.parts, 'parts', ALL_PARTS.length).map((p) => {
      if (typeof p !== 'string' || !ALL_PARTS.includes(p as SnapshotPart))
        throw bad(`parts: ${JSON.stringify(p)} is none of ${ALL_PARTS.join(', ')}`)
      return p as SnapshotPart
    })
  }
  if (o.routeGets !== undefined) body.routeGets = list(o.routeGets, 'routeGets', MAX_ROUTE_GETS).map(parseRouteQuery)
  return body
}

export function parsePodsQuery(q: URLSearchParams): string[] {
  const ips = q.getAll('ip')
  if (ips.length === 0) throw bad('give the pod IPs as ?ip=…')
  if (ips.length > MAX_PODS) throw bad(`at most ${MAX_PODS} IPs`)
  return ips.map((ip) => ipv4(ip, 'ip'))
}

function parsePacket(v: unknown): NfPacket {
  const o = object(v, 'packet')
  only(o, ['src', 'dst', 'proto', 'sport', 'dport', 'iif', 'oif', 'ctstate', 'icmpType', 'tcpFlags'], 'packet')
  if (o.proto !== 'icmp' && o.proto !== 'tcp' && o.proto !== 'udp') throw bad('packet.proto must be icmp, tcp or udp')
  if (o.ctstate !== 'NEW' && o.ctstate !== 'ESTABLISHED') throw bad('packet.ctstate must be NEW or ESTABLISHED')
  const p: NfPacket = {
    src: ipv4(o.src, 'packet.src'),
    dst: ipv4(o.dst, 'packet.dst'),
    proto: o.proto,
    ctstate: o.ctstate,
  }
  if (o.sport !== undefined) p.sport = port(o.sport, 'packet.sport')
  if (o.dport !== undefined) p.dport = port(o.dport, 'packet.dport')
  if (o.iif !== undefined) p.iif = ifname(o.iif, 'packet.iif')
  if (o.oif !== undefined) p.oif = ifname(o.oif, 'packet.oif')
  if (o.icmpType !== undefined) {
    if (typeof o.icmpType !== 'number' || !Number.isInteger(o.icmpType) || o.icmpType < 0 || o.icmpType > 255)
      throw bad('packet.icmpType must be 0–255')
    p.icmpType = o.icmpType
  }
  if (o.tcpFlags !== undefined) {
    p.tcpFlags = list(o.tcpFlags, 'packet.tcpFlags', 8).map((f) => {
      if (typeof f !== 'string' || !/^[A-Z]{2,4}$/.test(f)) throw bad('packet.tcpFlags: flag names such as SYN, ACK')
      return f
    })
  }
  return p
}

export function parseNetfilterBody(v: unknown): NetfilterBody {
  const o = object(v, 'the body')
  only(o, ['target', 'packet', 'hooks'], 'the body')
  const hooks = list(o.hooks, 'hooks', HOOKS.length).map((h) => {
    if (typeof h !== 'string' || !HOOKS.includes(h as NfHook)) throw bad(`hooks: ${JSON.stringify(h)} is no hook`)
    return h as NfHook
  })
  const body: NetfilterBody = {packet: parsePacket(o.packet), hooks}
  const target = parseTarget(o.target)
  if (target) body.target = target
  return body
}

export function parseSocketsBody(v: unknown): SocketsBody {
  const o = object(v, 'the body')
  only(o, ['target', 'port'], 'the body')
  const body: SocketsBody = {port: int(o.port, 'port', 1, 65535)}
  const target = parseTarget(o.target)
  if (target) body.target = target
  return body
}

export function parseConntrackBody(v: unknown): ConntrackBody {
  const o = object(v, 'the body')
  only(o, ['target', 'flow'], 'the body')
  const f = object(o.flow, 'flow')
  only(f, ['a', 'b', 'proto', 'port'], 'flow')
  const flow: ConntrackFlow = {a: ipv4(f.a, 'flow.a'), b: ipv4(f.b, 'flow.b')}
  if (f.proto !== undefined) {
    if (f.proto !== 'icmp' && f.proto !== 'tcp' && f.proto !== 'udp') throw bad('flow.proto must be icmp, tcp or udp')
    flow.proto = f.proto
  }
  if (f.port !== undefined) flow.port = port(f.port, 'flow.port')
  const body: ConntrackBody = {flow}
  const target = parseTarget(o.target)
  if (target) body.target = target
  return body
}

const SOURCE_KINDS: readonly SourceKind[] = ['icmp-forward', 'icmp-df', 'tcp', 'udp']
const DESTINATION_KINDS: readonly DestinationKind[] = ['icmp-return', 'tcp', 'udp']
const TOKEN = /^[A-Za-z0-9._:-]{1,64}$/

function int(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(`${what} must be ${min}–${max}`)
  return v
}

function kinds<K extends string>(v: unknown, allowed: readonly K[]): K[] {
  const out = list(v, 'kinds', allowed.length).map((k) => {
    if (typeof k !== 'string' || !allowed.includes(k as K))
      throw bad(`kinds: ${JSON.stringify(k)} is none of ${allowed.join(', ')}`)
    return k as K
  })
  if (!out.length) throw bad('kinds: at least one')
  return [...new Set(out)]
}

/** The fields both sides share: sizes, the timeout, ports (required by the kinds that use them), the token. */
type SharedFields = Pick<ProbeBody, 'size' | 'timeoutMs' | 'tcpPort' | 'udpPort' | 'udpToken'>

function probeFields(o: Rec, ks: readonly string[]): SharedFields {
  const f: SharedFields = {}
  if (o.size !== undefined) f.size = int(o.size, 'size', 0, 9000)
  if (o.timeoutMs !== undefined) f.timeoutMs = int(o.timeoutMs, 'timeoutMs', 100, 2000)
  if (o.tcpPort !== undefined) f.tcpPort = int(o.tcpPort, 'tcpPort', 1, 65535)
  if (o.udpPort !== undefined) f.udpPort = int(o.udpPort, 'udpPort', 1, 65535)
  if (ks.includes('tcp') && f.tcpPort === undefined) throw bad('tcp needs tcpPort')
  if (ks.includes('udp') && f.udpPort === undefined) throw bad('udp needs udpPort')
  if (o.udpToken !== undefined) {
    if (typeof o.udpToken !== 'string' || !TOKEN.test(o.udpToken)) throw bad('udpToken: 1–64 of [A-Za-z0-9._:-]')
    f.udpToken = o.udpToken
  }
  return f
}

export function parseProbeBody(v: unknown): ProbeBody {
  const o = object(v, 'the body')
  only(
    o,
    ['from', 'to', 'kinds', 'size', 'dfSize', 'timeoutMs', 'tcpPort', 'userPort', 'udpPort', 'udpToken', 'udpSendMs'],
    'the body',
  )
  const ks = kinds(o.kinds, SOURCE_KINDS)
  const body: ProbeBody = {from: ipv4(o.from, 'from'), to: ipv4(o.to, 'to'), kinds: ks, ...probeFields(o, ks)}
  if (o.dfSize !== undefined) body.dfSize = int(o.dfSize, 'dfSize', 0, 9000)
  if (o.udpSendMs !== undefined) body.udpSendMs = int(o.udpSendMs, 'udpSendMs', 50, 2000)
  if (o.userPort !== undefined) {
    if (typeof o.userPort !== 'boolean') throw bad('userPort must be true or false')
    body.userPort = o.userPort
  }
  return body
}

export function parseListenBody(v: unknown): ListenBody {
  const o = object(v, 'the body')
  only(o, ['pod', 'peer', 'kinds', 'size', 'timeoutMs', 'tcpPort', 'udpPort', 'udpToken'], 'the body')
  const ks = kinds(o.kinds, DESTINATION_KINDS)
  return {pod: ipv4(o.pod, 'pod'), peer: ipv4(o.peer, 'peer'), kinds: ks, ...probeFields(o, ks)}
}

export function parseListenStopBody(v: unknown): ListenStopBody {
  const o = object(v, 'the body')
  only(o, ['id'], 'the body')
  if (typeof o.id !== 'string' || !/^[a-f0-9]{16}$/.test(o.id))
    throw bad('id: a session id, as /v1/listen or /v1/observe gave it')
  return {id: o.id}
}

const LABEL = /^[A-Za-z0-9._:/@-]{1,96}$/

function label(v: unknown, what: string): string {
  if (typeof v !== 'string' || !LABEL.test(v)) throw bad(`${what}: 1–96 of [A-Za-z0-9._:/@-]`)
  return v
}

export function parseObserveBody(v: unknown): ObserveBody {
  const o = object(v, 'the body')
  only(o, ['points', 'spec', 'counters', 'dropReasons'], 'the body')
  const points = list(o.points, 'points', 16).map((p, i) => {
    const x = object(p, `points[${i}]`)
    only(x, ['target', 'device', 'encapsulated', 'label'], `points[${i}]`)
    const point: ObserveBody['points'][number] = {
      device: ifname(x.device, `points[${i}].device`),
      label: label(x.label, `points[${i}].label`),
    }
    const target = parseTarget(x.target)
    if (target) point.target = target
    if (x.encapsulated !== undefined) point.encapsulated = x.encapsulated === true
    return point
  })
  const sp = object(o.spec, 'spec')
  only(sp, ['a', 'b', 'protocol', 'port', 'vxlanPort'], 'spec')
  if (sp.protocol !== 'icmp' && sp.protocol !== 'tcp' && sp.protocol !== 'udp')
    throw bad('spec.protocol must be icmp, tcp or udp')
  const spec: ObserveBody['spec'] = {a: ipv4(sp.a, 'spec.a'), b: ipv4(sp.b, 'spec.b'), protocol: sp.protocol}
  if (sp.port !== undefined) spec.port = int(sp.port, 'spec.port', 1, 65535)
  if (sp.vxlanPort !== undefined) spec.vxlanPort = int(sp.vxlanPort, 'spec.vxlanPort', 1, 65535)
  const body: ObserveBody = {points, spec}
  if (o.counters !== undefined) {
    body.counters = list(o.counters, 'counters', 8).map((c, i) => {
      const x = object(c, `counters[${i}]`)
      only(x, ['target', 'label'], `counters[${i}]`)
      const target = parseTarget(x.target)
      return {...(target ? {target} : {}), label: label(x.label, `counters[${i}].label`)}
    })
  }
  if (o.dropReasons !== undefined) body.dropReasons = o.dropReasons === true
  return body
}

export function parseObserveStopBody(v: unknown): ObserveStopBody {
  return parseListenStopBody(v)
}
