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
// Validation: one checker for every body. A body's shape names each field and how it is checked
// (`fields`): a field it does not name is refused, a required one must be there, and each check
// either returns the value or throws a 400 naming the field. What crosses fields comes after.

const MAX_ROUTE_GETS = 64
const MAX_PODS = 64
const IFNAME = /^[A-Za-z0-9._:@-]{1,15}$/
const HOOKS: readonly NfHook[] = ['prerouting', 'input', 'forward', 'output', 'postrouting']
const PROTOCOLS = ['icmp', 'tcp', 'udp'] as const
const SOURCE_KINDS: readonly SourceKind[] = ['icmp-forward', 'icmp-df', 'tcp', 'udp']
const DESTINATION_KINDS: readonly DestinationKind[] = ['icmp-return', 'tcp', 'udp']
const TOKEN = /^[A-Za-z0-9._:-]{1,64}$/
const LABEL = /^[A-Za-z0-9._:/@-]{1,96}$/
const SESSION_ID = /^[a-f0-9]{16}$/

type Rec = Record<string, unknown>

function bad(message: string): HttpError {
  return new HttpError(400, message)
}

/** Checks one value; `what` names it in the error. */
type Check<T> = (v: unknown, what: string) => T
/** A field that may be absent (undefined). */
interface Optional<T> {
  optional: Check<T>
}
type Shape = Record<string, Check<unknown> | Optional<unknown>>
type Parsed<S extends Shape> = {
  [K in keyof S as S[K] extends Optional<unknown> ? never : K]: S[K] extends Check<infer T> ? T : never
} & {
  [K in keyof S as S[K] extends Optional<unknown> ? K : never]?: S[K] extends Optional<infer T> ? T : never
}

const optional = <T>(check: Check<T>): Optional<T> => ({optional: check})

/** A JSON object with exactly the fields of `shape`, each checked; absent optional ones stay absent. */
function fields<S extends Shape>(v: unknown, what: string, shape: S): Parsed<S> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(`${what} must be a JSON object`)
  const o = v as Rec
  const extra = Object.keys(o).filter((k) => !Object.hasOwn(shape, k))
  if (extra.length) throw bad(`${what}: unknown field ${JSON.stringify(extra[0])}`)
  const out: Rec = {}
  for (const [k, f] of Object.entries(shape)) {
    const name = what === 'the body' ? k : `${what}.${k}`
    if (typeof f === 'function') out[k] = f(o[k], name)
    else if (o[k] !== undefined) out[k] = f.optional(o[k], name)
  }
  return out as Parsed<S>
}

const ipv4: Check<string> = (v, what) => {
  if (typeof v !== 'string' || !isIPv4(v)) throw bad(`${what} must be an IPv4 address`)
  return v
}

const ifname: Check<string> = (v, what) => {
  if (typeof v !== 'string' || !IFNAME.test(v) || !isSafeArg(v)) throw bad(`${what} must be an interface name`)
  return v
}

const int =
  (min: number, max: number): Check<number> =>
  (v, what) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(`${what} must be ${min}–${max}`)
    return v
  }

const port: Check<number> = (v, what) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) throw bad(`${what} must be a port`)
  return v
}

const bool: Check<boolean> = (v, what) => {
  if (typeof v !== 'boolean') throw bad(`${what} must be true or false`)
  return v
}

/** A flag that is on only when `true`: anything else is off. */
const flag: Check<boolean> = (v) => v === true

const matching =
  (re: RegExp, expected: string): Check<string> =>
  (v, what) => {
    if (typeof v !== 'string' || !re.test(v)) throw bad(`${what}: ${expected}`)
    return v
  }

/** One of a few words: `must be a, b or c`. */
const oneOf =
  <W extends string>(words: readonly W[]): Check<W> =>
  (v, what) => {
    if (typeof v !== 'string' || !words.includes(v as W))
      throw bad(`${what} must be ${words.slice(0, -1).join(', ')} or ${words.at(-1)}`)
    return v as W
  }

/** An entry of a list: `list: "x" is none of a, b`. */
const entryOf =
  <W extends string>(words: readonly W[], none = `is none of ${words.join(', ')}`): Check<W> =>
  (v, what) => {
    if (typeof v !== 'string' || !words.includes(v as W))
      throw bad(`${what.replace(/\[\d+\]$/, '')}: ${JSON.stringify(v)} ${none}`)
    return v as W
  }

/** A list of at most `max` entries, each checked (named `what[i]`). */
const listOf =
  <T>(check: Check<T>, max: number): Check<T[]> =>
  (v, what) => {
    if (!Array.isArray(v)) throw bad(`${what} must be a list`)
    if (v.length > max) throw bad(`${what}: at most ${max} entries`)
    return v.map((x, i) => check(x, `${what}[${i}]`))
  }

/** The kinds of a probe: at least one of `allowed`, each once. */
const kindsOf =
  <K extends string>(allowed: readonly K[]): Check<K[]> =>
  (v, what) => {
    const out = listOf(entryOf(allowed), allowed.length)(v, what)
    if (!out.length) throw bad(`${what}: at least one`)
    return [...new Set(out)]
  }

const target: Check<Target> = (v, what) => fields(v, what, {pod: optional(ipv4)})

const routeQuery: Check<RouteQuery> = (v, what) => {
  const q = fields(v, what, {dst: ipv4, from: optional(ipv4), iif: optional(ifname), iifFor: optional(ipv4)})
  if (q.iif && q.iifFor) throw bad(`${what}: iif and iifFor exclude each other`)
  return q
}

export function parseTarget(v: unknown): Target | undefined {
  return v === undefined ? undefined : target(v, 'target')
}

export function parseSnapshotBody(v: unknown): SnapshotBody {
  return fields(v, 'the body', {
    target: optional(target),
    parts: optional(listOf(entryOf(ALL_PARTS as readonly SnapshotPart[]), ALL_PARTS.length)),
    routeGets: optional(listOf(routeQuery, MAX_ROUTE_GETS)),
  })
}

export function parsePodsQuery(q: URLSearchParams): string[] {
  const ips = q.getAll('ip')
  if (ips.length === 0) throw bad('give the pod IPs as ?ip=…')
  if (ips.length > MAX_PODS) throw bad(`at most ${MAX_PODS} IPs`)
  return ips.map((ip) => ipv4(ip, 'ip'))
}

const packet: Check<NfPacket> = (v, what) =>
  fields(v, what, {
    src: ipv4,
    dst: ipv4,
    proto: oneOf(PROTOCOLS),
    ctstate: oneOf(['NEW', 'ESTABLISHED'] as const),
    sport: optional(port),
    dport: optional(port),
    iif: optional(ifname),
    oif: optional(ifname),
    icmpType: optional(int(0, 255)),
    tcpFlags: optional(listOf(matching(/^[A-Z]{2,4}$/, 'flag names such as SYN, ACK'), 8)),
  })

export function parseNetfilterBody(v: unknown): NetfilterBody {
  return fields(v, 'the body', {
    target: optional(target),
    packet,
    hooks: listOf(entryOf(HOOKS, 'is no hook'), HOOKS.length),
  })
}

export function parseSocketsBody(v: unknown): SocketsBody {
  return fields(v, 'the body', {target: optional(target), port: int(1, 65535)})
}

export function parseConntrackBody(v: unknown): ConntrackBody {
  const flow: Check<ConntrackFlow> = (f, what) =>
    fields(f, what, {a: ipv4, b: ipv4, proto: optional(oneOf(PROTOCOLS)), port: optional(port)})
  return fields(v, 'the body', {target: optional(target), flow})
}

/** The fields both sides of a probe share: sizes, the timeout, ports, the token. */
const SHARED = {
  size: optional(int(0, 9000)),
  timeoutMs: optional(int(100, 2000)),
  tcpPort: optional(int(1, 65535)),
  udpPort: optional(int(1, 65535)),
  udpToken: optional(matching(TOKEN, '1–64 of [A-Za-z0-9._:-]')),
}

/** The kinds that use a port need it. */
function portsFor<B extends {kinds: readonly string[]; tcpPort?: number; udpPort?: number}>(body: B): B {
  if (body.kinds.includes('tcp') && body.tcpPort === undefined) throw bad('tcp needs tcpPort')
  if (body.kinds.includes('udp') && body.udpPort === undefined) throw bad('udp needs udpPort')
  return body
}

export function parseProbeBody(v: unknown): ProbeBody {
  return portsFor(
    fields(v, 'the body', {
      from: ipv4,
      to: ipv4,
      kinds: kindsOf(SOURCE_KINDS),
      ...SHARED,
      dfSize: optional(int(0, 9000)),
      userPort: optional(bool),
      udpSendMs: optional(int(50, 2000)),
    }),
  )
}

export function parseListenBody(v: unknown): ListenBody {
  return portsFor(fields(v, 'the body', {pod: ipv4, peer: ipv4, kinds: kindsOf(DESTINATION_KINDS), ...SHARED}))
}

export function parseListenStopBody(v: unknown): ListenStopBody {
  return fields(v, 'the body', {id: matching(SESSION_ID, 'a session id, as /v1/listen or /v1/observe gave it')})
}

const label = matching(LABEL, '1–96 of [A-Za-z0-9._:/@-]')

export function parseObserveBody(v: unknown): ObserveBody {
  const point: Check<ObserveBody['points'][number]> = (p, what) =>
    fields(p, what, {target: optional(target), device: ifname, encapsulated: optional(flag), label})
  const counter: Check<NonNullable<ObserveBody['counters']>[number]> = (c, what) =>
    fields(c, what, {target: optional(target), label})
  const spec: Check<ObserveBody['spec']> = (sp, what) =>
    fields(sp, what, {
      a: ipv4,
      b: ipv4,
      protocol: oneOf(PROTOCOLS),
      port: optional(int(1, 65535)),
      vxlanPort: optional(int(1, 65535)),
    })
  return fields(v, 'the body', {
    points: listOf(point, 16),
    spec,
    counters: optional(listOf(counter, 8)),
    dropReasons: optional(flag),
  })
}

export function parseObserveStopBody(v: unknown): ObserveStopBody {
  return parseListenStopBody(v)
}
