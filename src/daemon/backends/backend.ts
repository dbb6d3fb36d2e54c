/**
 * A backend is one way of carrying pod traffic between nodes (flannel's pkg/backend). The daemon
 * never knows which one runs: it asks the backend for local setup, for the objects each peer needs,
 * and hands the difference to a Programmer.
 *
 * EXTENSION POINT. The split is deliberate:
 *  - `ensureLocal` prepares this node (vxlan: the VTEP device) and says what to publish;
 *  - `plan` is pure: peers in, desired objects out (no I/O, unit-testable);
 *  - `programmer` (optional) is where the objects go. Without one the daemon programs the node's
 *    kernel (reads `ip -j`, applies `ip -batch`). A backend that programs an external router (BGP
 *    speaker, cloud VPC route table) plans routes only (next hop = the peer's node IP, dev ''),
 *    declares `ownership` with no devices, and supplies a Programmer whose `read` lists the routes
 *    the router has for the cluster (proto = its own marker) and whose `apply` turns route ops into
 *    API calls. `ensureLocal` still runs against the node's kernel (it may do nothing). reconcile.ts's diff works unchanged on its Route objects (dev may be '' there), and
 *    /diag shows the same expected-vs-actual per peer.
 */
import type {PeerNode, SelfInfo, SkippedPeer} from '../annotations.js'
import type {LinkInfo, Underlay} from '../kernel-state.js'
import type {ActualState, Fdb, Neigh, Ownership, Route} from '../model.js'
import type {Op} from '../reconcile.js'

export interface LocalContext {
  nodeName: string
  /** The node's namespace (`ip -n`); undefined on a real node. */
  netns: string | undefined
  podCIDR: string
  underlay: Underlay
  /** `ip -d addr show` of the node, read just before. */
  links: readonly LinkInfo[]
  /** This node's own `cnidbg.dev/*` annotations as the API server has them. */
  ownAnnotations: Record<string, string>
  log: (msg: string) => void
}

/** A device the backend manages, as /diag reports it. */
export interface DeviceStatus {
  name: string
  kind: string
  present: boolean
  mac?: string
  mtu?: number
  /** operstate, or 'absent'. */
  state: string
  addresses?: string[]
  details?: Record<string, unknown>
}

export interface LocalResult {
  /** MTU pods on this node must use (CNIDBG_MTU). */
  mtu: number
  /** The managed annotations this node publishes (node-ip, backend-type, …). */
  annotations: Record<string, string>
  /** What ensureLocal changed, for the log ("created VTEP cnidbg.1"). */
  changes: string[]
}

export interface PlanContext extends SelfInfo {
  underlay: Underlay
  /** This node's labels (the bgp backend reads its route-reflector label). */
  labels?: Record<string, string>
}

/** What `sync` gets: this node and the plans just made. */
export interface SyncContext {
  self: PlanContext
  plans: readonly PeerPlan[]
}

/** The objects one peer needs, in the fixed order neighbour → FDB → route. */
export interface PeerPlan {
  peer: PeerNode
  routes: Route[]
  neighs: Neigh[]
  fdbs: Fdb[]
}

export interface OpError {
  op: Op
  command: string
  error: string
}

export interface ApplyResult {
  applied: number
  errors: OpError[]
  /** Processes started (batches, plus one per op when a batch failed and was replayed). */
  execs: number
}

/** Where desired objects are programmed and read back. */
export interface Programmer {
  /** 'kernel', or e.g. 'router:bgp' for an external one. */
  readonly target: string
  read(): Promise<ActualState>
  apply(ops: readonly Op[]): Promise<ApplyResult>
}

export interface Backend {
  readonly type: string
  /** What the daemon may change: routes with this proto, neighbours/FDB on these devices. */
  readonly ownership: Ownership
  /** Prepares and repairs local devices; called on every reconcile (a deleted VTEP comes back). */
  ensureLocal(ctx: LocalContext): Promise<LocalResult>
  /** Pure: the usable peers and their objects; unusable ones with a reason. */
  plan(self: PlanContext, peers: readonly PeerNode[]): {plans: PeerPlan[]; skipped: SkippedPeer[]}
  /** Reports local devices without changing anything (for /diag). */
  describeLocal(links: readonly LinkInfo[]): DeviceStatus[]
  /** Removes the local devices (only on an explicit teardown). */
  teardownLocal(netns: string | undefined, links: readonly LinkInfo[]): Promise<string[]>
  /** An external target; absent = the node's kernel. */
  readonly programmer?: Programmer
  /**
   * Called after `plan` on every reconcile, before the actual state is read: a backend driving a
   * routing daemon (bgp) writes its configuration and keeps it running here. Returns what changed.
   */
  sync?(ctx: SyncContext): Promise<string[]>
}

/** Flattens per-peer plans into the desired state the diff takes. */
export function flattenPlans(plans: readonly PeerPlan[]): {routes: Route[]; neighs: Neigh[]; fdbs: Fdb[]} {
  return {
    routes: plans.flatMap((p) => p.routes),
    neighs: plans.flatMap((p) => p.neighs),
    fdbs: plans.flatMap((p) => p.fdbs),
  }
}
