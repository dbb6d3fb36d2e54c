/**
 * A node, as trace's engine uses it when it cannot enter the node's namespaces itself: a reader for
 * the node and for each of its pods (by pod IP), its pods found by IP (src/kernel/pods.ts: by
 * address, by the host veth the node routes the IP through, by the CNI result cache), and the live
 * operations of a probe window: a probe's source side from a pod, its destination side (temporary
 * listeners and the ICMP echo back) as a session, and watching the path (captures, counters, kernel
 * drop reasons) as a session. The node agent implements it over HTTPS (src/agent/client.ts) and in
 * process (src/agent/ops.ts); the request and answer shapes here are its API's bodies (docs/deploy.md).
 */
import type {ConntrackFlow, ConntrackRead} from './conntrack.js'
import type {DropSummary} from './dropwatch.js'
import type {PodNetns} from './pods.js'
import type {ProbeKind, ProbeOutcome} from './probes.js'
import type {KernelReader, NeighEntry} from './reader.js'

export interface Target {
  /** A pod on this node, by IP. Absent: the node's own namespace. */
  pod?: string
}

/**
 * A probe's source side, from a pod on this node (the destination side, when it is a pod, runs on
 * its own node's agent: /v1/listen). UDP is only sent here; the listener says whether it arrived.
 */
export interface ProbeBody {
  from: string
  to: string
  kinds: SourceKind[]
  /** ICMP payload size. Default 56. */
  size?: number
  /** DF probe size. Default: the pod interface's MTU − 28. */
  dfSize?: number
  /** Per probe. Default 1000, at most 2000, so the whole window stays within the 10 s of an operation. */
  timeoutMs?: number
  tcpPort?: number
  /** The TCP port is the user's own service (no temporary listener; a refusal is an answer). */
  userPort?: boolean
  udpPort?: number
  udpToken?: string
  /**
   * How long UDP datagrams are sent (every 50 ms): this side can't see whether one arrived. Default:
   * timeoutMs. A healthy path delivers the first at once; the listener's answer decides.
   */
  udpSendMs?: number
}

export type SourceKind = Exclude<ProbeKind, 'icmp-return'>
export type DestinationKind = 'icmp-return' | 'tcp' | 'udp'

export interface ProbeAnswer {
  outcomes: ProbeOutcome[]
}

/** A probe's destination side in a pod on this node: temporary listeners, and the ICMP echo back. */
export interface ListenBody {
  pod: string
  /** The source's address (the ICMP echo back goes to it). */
  peer: string
  kinds: DestinationKind[]
  size?: number
  timeoutMs?: number
  tcpPort?: number
  udpPort?: number
  udpToken?: string
}

export interface ListenAnswer {
  /** Names the session for /v1/listen/stop; it ends by itself within 10 s. */
  id: string
  /** Whether every listener had started when the answer was sent. */
  listening: boolean
}

export interface ListenStopBody {
  id: string
}

export interface ListenResult {
  /** icmp-return and udp (whether the datagram arrived). */
  outcomes: ProbeOutcome[]
  /** What the temporary TCP listener said when it failed. */
  tcpListenerError?: string
}

/**
 * Watching a probe cross this node: a tcpdump per point (a device of the node or of a pod on it),
 * the counters of some namespaces before and after, and the kernel's drop reasons (skb:kfree_skb),
 * from start to stop, at most 10 s.
 */
export interface ObserveBody {
  points: Array<{target?: Target; device: string; encapsulated?: boolean; label: string}>
  spec: {a: string; b: string; protocol: 'icmp' | 'tcp' | 'udp'; port?: number; vxlanPort?: number}
  counters?: Array<{target?: Target; label: string}>
  dropReasons?: boolean
}

export interface ObserveAnswer {
  id: string
  /** What could not be started (a capture, tracefs). */
  notes: string[]
}

export interface ObserveStopBody {
  id: string
}

export interface ObserveResult {
  captures: Array<{label: string; device: string; ok: boolean; error?: string; aToB: number; bToA: number}>
  /** Counter deltas of interest (drops on links, DROP/REJECT rules that matched), per label. */
  counters: Array<{label: string; deltas: string[]; unresolved: NeighEntry[]}>
  drops: DropSummary[]
  notes: string[]
}

/** What listens on a TCP port in a namespace of the node (evidence for no-listener). */
export interface SocketsBody {
  target?: Target
  port: number
}

export interface SocketsAnswer {
  /** `ss -Hltn` lines. */
  listening: string[]
}

/**
 * A node's BGP speaker and its sessions, as the node's routing daemon reports them (its /diag `bgp`,
 * read from bird's control socket with `show protocols all`). Every field is optional: it comes from
 * another program, maybe another version of it.
 */
export interface BgpView {
  asn?: number
  reflector?: boolean
  speaker?: {running?: boolean; pid?: number | null; socket?: string; lastError?: string | null}
  sessions?: Array<{
    protocol?: string
    peerIP?: string
    peerNode?: string
    role?: string
    state?: string
    established?: boolean
    info?: string
    lastError?: string
    routesImported?: number
    routesExported?: number
  }>
  protocolsError?: string | null
}

/** The agent's GET /v1/bgp: its node daemon's BGP state (null: the daemon does not run in bgp mode). */
export interface BgpAnswer {
  node: string
  /** Where the agent read it: the daemon's URL. */
  daemon: string
  bgp: BgpView | null
}

export interface NodeAccess {
  /** Where the node is read, for notes: `agent https://…`. */
  readonly describe: string
  /** The node's own namespace, or a pod on the node by its IP. */
  reader(pod?: string): KernelReader
  /** The namespaces of these pod IPs on the node; IPs found no way are in `missing`. */
  findPods(ips: readonly string[]): Promise<{pods: PodNetns[]; missing: string[]}>
  /** The TCP sockets listening on a port, in the node's namespace or a pod's. */
  sockets(body: SocketsBody): Promise<SocketsAnswer>
  probe(body: ProbeBody): Promise<ProbeAnswer>
  listen(body: ListenBody): Promise<ListenAnswer>
  stopListen(id: string): Promise<ListenResult>
  observe(body: ObserveBody): Promise<ObserveAnswer>
  stopObserve(id: string): Promise<ObserveResult>
  /** The conntrack entries of a flow, in the node's namespace or a pod's (a Service's chosen endpoint). */
  conntrack?(body: {target?: Target; flow: ConntrackFlow}): Promise<ConntrackRead>
  /** The node's BGP state as its daemon reports it, or why it can't be had. Absent: not offered. */
  bgp?(): Promise<BgpView | {error: string}>
}
