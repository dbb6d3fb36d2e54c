/**
 * The data model of `cnidbg trace`. The engine is written against these inputs, not against the lab:
 * anything that can describe its nodes (mode, node IP, podCIDR, VTEP MAC, where the node's network
 * namespace is) and its pods (IP, node, namespace path) can be traced. Results are plain data so they
 * go into the --json envelope unchanged; renderers (render/) only read them.
 */

import type {NodeAccess} from '../kernel/node-access.js'
import type {KernelReader} from '../kernel/reader.js'
import type {ProbeProtocol, ProbeReport} from '../kernel/probes.js'

export type TraceMode = 'vxlan' | 'host-gw' | 'vpc' | 'bgp'

export interface TraceNetns {
  /** A name under /run/netns, when there is one (used in hints as `ip -n <name>`). */
  name?: string
  /** Any path nsenter accepts: /run/netns/x or /proc/<pid>/ns/net. */
  path: string
}

export interface TraceNode {
  /** The Kubernetes Node name. */
  name: string
  /** The underlay address other nodes reach this node at (annotation cnidbg.dev/node-ip). */
  nodeIP: string
  /** spec.podCIDR, e.g. 10.244.1.0/24. */
  podCIDR: string
  /** The VTEP MAC other nodes must use for this node (annotation cnidbg.dev/vtep-mac); vxlan only. */
  vtepMAC?: string
  /** The node's (host) network namespace. Absent when the node can only be read remotely. */
  netns?: TraceNetns
  /** Base URL of the node daemon's read-only diagnostics (GET <diagUrl>/diag), used when netns is absent. */
  diagUrl?: string
}

export interface TraceTopology {
  mode: TraceMode
  nodes: TraceNode[]
  /** vpc: the router between the nodes (named `vpc-router` in hops), its address and node-facing device. */
  router?: {netns: TraceNetns; ip: string; iface: string}
  /** The VXLAN device on every node. Default `cnidbg.1` (flannel: `flannel.1`). */
  vtepDevice?: string
  /** The node's underlay device. Default `eth0`. */
  underlayDevice?: string
  /** VXLAN UDP port. Default 8472 (the Linux default, as flannel uses). */
  vxlanPort?: number
  /** VXLAN network identifier. Default 1. */
  vni?: number
}

/** A pod, resolved to where it lives. */
export interface TraceEndpoint {
  name: string
  namespace: string
  ip: string
  /** The Node name the pod runs on (must be in the topology). */
  node: string
  /**
   * The pod's network namespace (a path nsenter accepts). Empty when this machine can't enter it:
   * then the pod is read and probed through its node's NodeAccess (its agent), by its IP.
   */
  netnsPath: string
  /** The pod-side interface. Default eth0. */
  ifname?: string
}

export type TraceDirection = 'forward' | 'return'

/** The fixed reason vocabulary, as the README lists it. Each maps to evidence and a fix hint. */
export type FaultReason =
  | 'link-down'
  | 'address-missing'
  | 'no-route'
  | 'wrong-route'
  | 'no-neighbor'
  | 'no-fdb'
  | 'stale-fdb'
  | 'filtered'
  | 'forwarding-disabled'
  | 'rp-filter'
  | 'mtu'
  | 'underlay-blocked'
  | 'no-listener'
  | 'route-table-missing'
  | 'src-dst-check'
  | 'bgp-peer-down'
  | 'route-not-advertised'
  | 'policy-denied'
  | 'no-endpoints'
  | 'service-not-programmed'
  | 'conntrack-invalid'
  | 'intermittent'
  | 'unknown'

export const FAULT_REASONS: readonly FaultReason[] = [
  'link-down',
  'address-missing',
  'no-route',
  'wrong-route',
  'no-neighbor',
  'no-fdb',
  'stale-fdb',
  'filtered',
  'forwarding-disabled',
  'rp-filter',
  'mtu',
  'underlay-blocked',
  'no-listener',
  'route-table-missing',
  'src-dst-check',
  'bgp-peer-down',
  'route-not-advertised',
  'policy-denied',
  'no-endpoints',
  'service-not-programmed',
  'conntrack-invalid',
  'intermittent',
  'unknown',
]

/**
 * Where on the path a hop sits. Names follow Hubble's observation points loosely:
 * pod-egress → host-veth-ingress → route → filter → (vxlan: neighbor → fdb → encap | host-gw: next-hop)
 * → underlay-tx → underlay-rx → (decap) → route → filter → host-veth-egress → pod-ingress.
 */
export type HopStage =
  | 'pod-egress'
  | 'host-veth-ingress'
  | 'route'
  | 'filter'
  | 'neighbor'
  | 'fdb'
  | 'encap'
  | 'next-hop'
  | 'underlay-tx'
  | 'underlay-rx'
  | 'decap'
  | 'host-veth-egress'
  | 'pod-ingress'
  | 'service-dnat'

export type HopStatus = 'ok' | 'fail' | 'warn' | 'unknown'

export interface TraceHop {
  /** 1-based, forward hops first, then return hops. */
  index: number
  direction: TraceDirection
  node: string
  /** Namespace name (or path when unnamed). */
  netns: string
  device: string
  stage: HopStage
  status: HopStatus
  /** One line: what was checked and what was found. */
  detail: string
  /** The kernel state behind the status (route/neigh/fdb lines, sysctls, rules). */
  evidence?: string[]
  /** Set on a failing hop: the reason it would report as the fault. */
  reason?: FaultReason
  /** Set on a failing hop: how to fix it. */
  hint?: string
  /** policy-denied: the NetworkPolicy (NAMESPACE/NAME) that drops the packet, the first when several do. */
  policy?: string
  /** Live observation: whether the probe packet was seen here (captures/counters), when observed. */
  seen?: boolean
}

export interface TraceFault {
  hop: number
  direction: TraceDirection
  node: string
  netns: string
  device: string
  reason: FaultReason
  evidence: string[]
  hint: string
  /** policy-denied: the NetworkPolicy (NAMESPACE/NAME) that drops the packet, the first when several do. */
  policy?: string
  /** The Service the fault is about, "NAMESPACE/NAME" (a Service reason, or a drop in a KUBE-* chain). */
  service?: string
}

/** A fault at `hop`: where is the hop's (its index, direction, node, namespace and device), what is given. */
export function faultAt(
  hop: Pick<TraceHop, 'index' | 'direction' | 'node' | 'netns' | 'device'>,
  what: Omit<TraceFault, 'hop' | 'direction' | 'node' | 'netns' | 'device'>,
): TraceFault {
  return {hop: hop.index, direction: hop.direction, node: hop.node, netns: hop.netns, device: hop.device, ...what}
}

export type {ProbeProtocol}

export interface TraceProbe extends ProbeReport {
  /** The last hop index that saw the packet (from captures/counters), when observed. */
  lastSeenHop?: number
}

/** `unknown`: a node on the path could not be read (its agent unreachable), and nothing else decided. */
export type TraceVerdict = 'reachable' | 'unreachable' | 'unknown'

/** A node trace could not read, and why (never turned into a fault). */
export interface TraceUnreadable {
  node: string
  /** What could not be read: the node itself, or a pod on it. */
  what: string
  reason: string
}

export interface TraceEndpointSummary {
  name: string
  namespace: string
  ip: string
  node: string
}

export interface TraceResult {
  verdict: TraceVerdict
  source: TraceEndpointSummary
  destination: TraceEndpointSummary
  mode: TraceMode
  hops: TraceHop[]
  fault?: TraceFault
  probes: TraceProbe[]
  /** Kernel drop reasons (skb:kfree_skb) seen while a failing probe was re-sent, when tracefs was usable. */
  drops?: Array<{reason: string; location: string; comm: string; count: number}>
  /** Nodes (or pods) that could not be read, with why: their hops are `unknown`. */
  unreadable?: TraceUnreadable[]
  /** What could not be done (e.g. tracefs unavailable, a node read remotely without route lookups). */
  notes: string[]
  /** Set when the destination was a Service: its VIP, the DNAT hop and the endpoint the trace continued to. */
  service?: TraceService
  /** Wall time per phase, for the bench script. */
  timings: {staticMs: number; probesMs: number; observeMs: number}
  durationMs: number
}

export interface TraceOptions {
  /** Only read kernel state; inject nothing. */
  staticOnly?: boolean
  /** TCP port to connect to. Default: a temporary listener in the destination pod on a random port. */
  port?: number
  /** ICMP payload size for the basic ping. Default 56. */
  size?: number
  /** Per-probe timeout in ms. Default 1000 (ping -W 1). */
  probeTimeoutMs?: number
  /** Protocols to probe. Default all three. */
  protocols?: ProbeProtocol[]
  /** Send a DF probe sized to the pod MTU. Default true. */
  mtuProbe?: boolean
  /**
   * When to re-send a failing probe under observation (parallel tcpdump on each path interface,
   * counter deltas, kfree_skb drop reasons). 'auto' (default): only when a probe failed.
   */
  observe?: 'auto' | 'always' | 'never'
  /** Read kfree_skb drop reasons from tracefs while observing. Default true. */
  dropReasons?: boolean
  /** Override how a node's kernel state is read (tests, remote-only nodes). */
  readerFor?: (node: TraceNode) => KernelReader
  /**
   * How to reach a node this machine can't enter (its agent), or, for a node it can enter, the same
   * operations run in process, when the other pod is remote. A node with a `netns` is read through
   * it; one without is read, and its pods probed, through this.
   */
  accessFor?: (node: TraceNode) => NodeAccess | undefined
  /** The bearer token sent to a daemon's /diag (the kubeconfig user's). */
  diagToken?: string
}

/** One endpoint of a Service, as its EndpointSlices list it. */
export interface TraceServiceEndpoint {
  ip: string
  port: number
  ready: boolean
  /** The pod behind it (targetRef), "NAMESPACE/NAME". */
  pod?: string
  node?: string
}

/**
 * A trace to a Service (`svc/NAME`): the ClusterIP and port, what the source pod's node does with
 * them in kube-proxy's nat chains (KUBE-SERVICES → KUBE-SVC-… → KUBE-SEP-… DNAT), and the endpoint the
 * trace continued to. `hops` of the result are then the pod-to-pod path to that endpoint.
 */
export interface TraceService {
  namespace: string
  name: string
  clusterIP: string
  port: number
  protocol: 'TCP' | 'UDP' | 'SCTP'
  /** The port's name ('' when unnamed). */
  portName: string
  targetPort: number | string
  /** The Service's selector, as `k=v,…` ('' when it has none). */
  selector: string
  /** Every endpoint of the port in its EndpointSlices, ready or not. */
  endpoints: TraceServiceEndpoint[]
  /** The DNAT hop on the source pod's node. */
  dnat: TraceServiceDnat
  /** The endpoint the probe's connection was DNATed to (from conntrack), when probed. */
  chosen?: TraceServiceEndpoint & {how: 'conntrack' | 'only-endpoint' | 'first-endpoint'}
  /** What the probe to the ClusterIP said, when probed. */
  probe?: {ok: boolean; detail: string; durationMs: number; conntrack?: string}
}

export interface TraceServiceDnat {
  node: string
  netns: string
  status: HopStatus
  /** The chains the packet takes: e.g. PREROUTING → KUBE-SERVICES → KUBE-SVC-… */
  chains: string[]
  /** The KUBE-SVC chain of the port, when a KUBE-SERVICES rule names it. */
  serviceChain?: string
  /** The DNAT targets its KUBE-SEP chains rewrite to, `ip:port`, with the SEP chain. */
  targets: Array<{chain: string; destination: string; probability?: string}>
  /** The rules read, as iptables-save prints them (with counters when read). */
  evidence: string[]
  detail: string
}
