/**
 * A lab fault: one thing that goes wrong on real nodes, applied to the lab's kernel state and undone
 * exactly. Each fault is one module exporting one FaultDefinition (registry: index.ts). Faults only
 * touch lab namespaces; what they change is saved in the lab state so `lab heal` can restore it.
 */
import type {LabMode} from '../names.js'
import type {LabNodeState, LabState} from '../state.js'

/**
 * What a fault acts on. pod: one pod (and its node); node: one node; peer: a node and its channel to
 * another node (routes, FDB, neighbour entries are per peer); underlay: the shared underlay network.
 */
export type FaultScope = 'pod' | 'node' | 'peer' | 'underlay'

export interface FaultPod {
  name: string
  namespace: string
  /** The pod's network namespace name. */
  netns: string
  /** Its UID in the API, when known. */
  uid?: string
}

/** A node-like target for "wrong node" faults: a real third node, or an address no node has. */
export interface OtherNode {
  name?: string
  nodeIP: string
  podCIDR: string
}

export interface FaultTarget {
  /** The node acted on (the pod's node for pod faults). */
  node: LabNodeState
  pod?: FaultPod
  /** The other end, for peer faults. */
  peer?: LabNodeState
  /** Underlay faults: the nodes whose underlay ports are affected. */
  nodes?: LabNodeState[]
}

export interface FaultContext {
  state: LabState
  /** A node that is neither of these, or the "ghost" (198.18.0.250, 10.244.250.0/24) when the lab has no third node. */
  otherNode(...not: LabNodeState[]): OtherNode
  /**
   * Records what heal needs before apply changes anything (and again as it learns more), so a `lab
   * break` interrupted half-way leaves a record `lab heal` can undo. heal must then cope with a fault
   * applied in part, or not at all.
   */
  remember(undo: Record<string, unknown>): void
}

/** What `apply` returns: enough to undo it, and one line saying what it did. */
export interface Applied {
  undo: Record<string, unknown>
  summary: string
}

export interface FaultDefinition {
  /** kebab-case, as typed after `lab break`. */
  id: string
  title: string
  /** What it does to the kernel and why that breaks traffic; shown by `lab break --list` and in docs/lab.md. */
  description: string
  /** What a user sees (e.g. "pods on node1 can't reach pods on node2; ping: no reply"). */
  symptom: string
  scope: FaultScope
  modes: readonly LabMode[]
  /**
   * The state it changes is the node daemon's, which would repair it within seconds: `break` stops
   * that node's daemon first and `heal` starts it again (repairs resume).
   */
  stopsDaemon: boolean
  /**
   * What the fault made outlives its pod (a NetworkPolicy in the API): heal runs even when the pod
   * is gone or another pod took its name. Faults on the pod's own kernel state or API object don't.
   */
  outlivesPod?: boolean
  apply(ctx: FaultContext, target: FaultTarget): Promise<Applied>
  heal(ctx: FaultContext, target: FaultTarget, undo: Record<string, unknown>): Promise<void>
}
