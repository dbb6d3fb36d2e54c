/**
 * `cnidbg lab break <fault>` and `cnidbg lab heal [<fault>]`: apply faults from the catalog
 * (faults/index.ts) to a running lab, record them in its state, and undo them. Faults on state the
 * node daemon manages stop that daemon first (it would repair them within seconds); healing the last
 * such fault on a node starts it again.
 */
import {UsageError, FailureError} from '../core/errors.js'
import {netnsExists} from '../netns/netns.js'
import {controlRequest} from './control.js'
import {FAULTS, findFault} from './faults/index.js'
import type {FaultContext, FaultDefinition, FaultPod, FaultTarget, OtherNode} from './faults/types.js'
import {apiStatusCode, labApi, listPods} from './k8s.js'
import {DEFAULT_POD_NAMESPACE, GHOST_NODE_IP, type LabMode, podNetns} from './names.js'
import {requireRunningLab} from './pods.js'
import {type FaultRecord, type LabNodeState, type LabState, newFaultId, withLabLock, writeLabState} from './state.js'

export interface FaultCatalogEntry {
  id: string
  title: string
  description: string
  symptom: string
  scope: string
  modes: LabMode[]
  stopsDaemon: boolean
}

export function faultCatalog(): FaultCatalogEntry[] {
  return FAULTS.map((f) => ({
    id: f.id,
    title: f.title,
    description: f.description,
    symptom: f.symptom,
    scope: f.scope,
    modes: [...f.modes],
    stopsDaemon: f.stopsDaemon,
  }))
}

export interface LabBreakOptions {
  name?: string
  fault: string
  node?: string
  pod?: string
  namespace?: string
  peer?: string
}

export interface AppliedFault {
  id: string
  fault: string
  title: string
  node?: string
  pod?: string
  peer?: string
  summary: string
  symptom: string
  daemonStopped: boolean
}

export interface LabHealOptions {
  name?: string
  /** Heal only faults of this kind (default: all). */
  fault?: string
  /** Heal only the fault with this id. */
  id?: string
  node?: string
  pod?: string
}

export interface LabHealResult {
  healed: AppliedFault[]
  failed: Array<{id: string; fault: string; error: string}>
  daemonsStarted: string[]
  /** Faults still active after this heal. */
  remaining: number
}

function nodeByName(state: LabState, name: string): LabNodeState {
  const n = state.nodes.find((x) => x.name === name)
  if (!n)
    throw new UsageError(`No node ${name} in lab ${state.name}.`, {
      code: 'NO_SUCH_NODE',
      suggestions: [`Nodes: ${state.nodes.map((x) => x.name).join(', ')}`],
    })
  return n
}

function faultContext(state: LabState, remember: FaultContext['remember'] = () => {}): FaultContext {
  return {
    state,
    remember,
    otherNode(...not: LabNodeState[]): OtherNode {
      const other = state.nodes.find((n) => !not.some((x) => x.name === n.name))
      return other
        ? {name: other.name, nodeIP: other.nodeIP, podCIDR: other.podCIDR}
        : {nodeIP: GHOST_NODE_IP, podCIDR: '10.244.250.0/24'}
    },
  }
}

async function resolveTarget(state: LabState, def: FaultDefinition, opts: LabBreakOptions): Promise<FaultTarget> {
  const node = opts.node ? nodeByName(state, opts.node) : undefined
  switch (def.scope) {
    case 'pod': {
      const namespace = opts.namespace ?? DEFAULT_POD_NAMESPACE
      const pods = (await listPods(labApi(state))).filter(
        (p) => p.status?.podIP && p.spec?.nodeName && (!node || p.spec.nodeName === node.name),
      )
      const pod = opts.pod
        ? pods.find((p) => p.metadata?.name === opts.pod && p.metadata?.namespace === namespace)
        : pods.sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))[0]
      if (!pod)
        throw new UsageError(
          opts.pod
            ? `No running pod ${namespace}/${opts.pod}${node ? ` on ${node.name}` : ''}.`
            : 'No running pod to break.',
          {
            code: 'NO_SUCH_POD',
            suggestions: ['List the pods: cnidbg lab status', 'Add one: cnidbg lab pod add web'],
          },
        )
      const podNode = nodeByName(state, pod.spec!.nodeName!)
      const name = pod.metadata!.name!
      const ns = pod.metadata!.namespace ?? namespace
      return {
        node: podNode,
        pod: {name, namespace: ns, netns: podNetns(state.name, podNode.name, ns, name), uid: pod.metadata?.uid},
      }
    }
    case 'node':
      return {node: node ?? state.nodes[0]!}
    case 'peer': {
      if (state.nodes.length < 2)
        throw new UsageError(`${def.id} needs two nodes; lab ${state.name} has one.`, {
          code: 'NEEDS_TWO_NODES',
          suggestions: ['cnidbg lab up --nodes 2'],
        })
      const n = node ?? state.nodes[0]!
      const peer = opts.peer
        ? nodeByName(state, opts.peer)
        : state.nodes[(state.nodes.indexOf(n) + 1) % state.nodes.length]!
      if (peer.name === n.name) throw new UsageError(`--peer must be another node than ${n.name}.`, {code: 'BAD_PEER'})
      return {node: n, peer}
    }
    case 'underlay':
      return {node: node ?? state.nodes[0]!, nodes: node ? [node] : [...state.nodes]}
  }
}

function targetOf(state: LabState, rec: FaultRecord): FaultTarget {
  const node = state.nodes.find((n) => n.name === rec.node) ?? state.nodes[0]!
  return {
    node,
    pod: rec.pod
      ? {
          name: rec.pod,
          namespace: rec.podNamespace ?? DEFAULT_POD_NAMESPACE,
          netns: podNetns(state.name, node.name, rec.podNamespace ?? DEFAULT_POD_NAMESPACE, rec.pod),
        }
      : undefined,
    peer: rec.peer ? state.nodes.find((n) => n.name === rec.peer) : undefined,
    nodes: rec.node ? [node] : [...state.nodes],
  }
}

function describe(rec: FaultRecord, def: FaultDefinition | undefined): AppliedFault {
  return {
    id: rec.id,
    fault: rec.fault,
    title: def?.title ?? rec.fault,
    node: rec.node,
    pod: rec.pod,
    peer: rec.peer,
    summary: rec.summary,
    symptom: def?.symptom ?? '',
    daemonStopped: rec.stopsDaemon,
  }
}

const sameTarget = (a: FaultRecord, b: Partial<FaultRecord>): boolean =>
  a.fault === b.fault &&
  a.node === b.node &&
  a.pod === b.pod &&
  a.peer === b.peer &&
  (a.podNamespace ?? '') === (b.podNamespace ?? '')

async function setDaemon(state: LabState, node: string, action: 'start' | 'stop'): Promise<void> {
  await controlRequest(state.supervisor!.socket, 'POST', `/daemons/${node}/${action}`)
}

export async function labBreak(opts: LabBreakOptions): Promise<AppliedFault> {
  const def = findFault(opts.fault)
  if (!def)
    throw new UsageError(`Unknown fault ${JSON.stringify(opts.fault)}.`, {
      code: 'UNKNOWN_FAULT',
      suggestions: [`Faults: ${FAULTS.map((f) => f.id).join(', ')}`, 'Describe them: cnidbg lab break --list'],
    })
  const first = requireRunningLab(opts.name)
  return withLabLock(first.dir, async () => {
    const state = requireRunningLab(opts.name)
    if (!def.modes.includes(state.mode))
      throw new UsageError(
        `${def.id} applies to ${def.modes.join(' and ')} labs; lab ${state.name} runs ${state.mode}.`,
        {code: 'FAULT_NOT_APPLICABLE'},
      )
    const target = await resolveTarget(state, def, opts)
    const draft: Partial<FaultRecord> = {
      fault: def.id,
      node: def.scope === 'underlay' && !opts.node ? undefined : target.node.name,
      pod: target.pod?.name,
      podNamespace: target.pod?.namespace,
      peer: target.peer?.name,
    }
    const dup = state.faults.find((f) => sameTarget(f, draft))
    if (dup)
      throw new UsageError(`${def.id} is already applied there (fault ${dup.id}).`, {
        code: 'FAULT_ACTIVE',
        suggestions: [`Heal it: cnidbg lab heal ${def.id}`],
      })
    if (def.id === 'rp-filter-strict' && state.faults.some((f) => f.fault === def.id))
      throw new UsageError('Only one rp-filter-strict fault at a time (it uses one link subnet).', {
        code: 'FAULT_ACTIVE',
        suggestions: ['cnidbg lab heal rp-filter-strict'],
      })
    const daemonAlreadyStopped = state.faults.some((f) => f.stopsDaemon && f.node === target.node.name)
    // Recorded before anything changes: a Ctrl-C from here on leaves a record `lab heal` undoes
    // (it starts the daemon again, and undoes what `remember` says apply may have changed).
    const rec: FaultRecord = {
      id: newFaultId(state),
      fault: def.id,
      node: draft.node,
      pod: draft.pod,
      podNamespace: draft.podNamespace,
      ...(target.pod?.uid ? {podUid: target.pod.uid} : {}),
      peer: draft.peer,
      appliedAt: new Date().toISOString(),
      stopsDaemon: def.stopsDaemon,
      undo: {},
      summary: `${def.id} was being applied when lab break stopped; lab heal undoes what it did`,
      pending: 'starting',
    }
    state.faults.push(rec)
    writeLabState(state)
    const forget = () => {
      state.faults = state.faults.filter((f) => f.id !== rec.id)
      writeLabState(state)
    }
    if (def.stopsDaemon && !daemonAlreadyStopped) {
      try {
        await setDaemon(state, target.node.name, 'stop')
      } catch (error) {
        forget()
        throw error
      }
    }
    const ctx = faultContext(state, (undo) => {
      rec.undo = undo
      rec.pending = 'applying'
      writeLabState(state)
    })
    let applied
    try {
      applied = await def.apply(ctx, target)
    } catch (error) {
      const message = `Applying ${def.id}: ${(error as Error).message}`
      // What apply did before it failed is undone; if that fails too, the record stays for lab heal.
      if (rec.pending === 'applying') {
        try {
          await def.heal(ctx, target, rec.undo)
        } catch (healError) {
          throw new FailureError(`${message}; undoing it failed too: ${(healError as Error).message}`, {
            code: 'FAULT_APPLY_FAILED',
            suggestions: [`Undo it: cnidbg lab heal --id ${rec.id}`],
          })
        }
      }
      forget()
      if (def.stopsDaemon && !daemonAlreadyStopped)
        await setDaemon(state, target.node.name, 'start').catch(() => undefined)
      throw new FailureError(message, {code: 'FAULT_APPLY_FAILED'})
    }
    rec.undo = applied.undo
    rec.summary = applied.summary
    delete rec.pending
    writeLabState(state)
    return describe(rec, def)
  })
}

/**
 * Whether the pod a fault record names is gone: its namespace was deleted, or the pod the API has
 * under that name is another one (another UID) that only reuses the name.
 */
async function podGone(state: LabState, rec: FaultRecord, pod: FaultPod): Promise<boolean> {
  if (!netnsExists(pod.netns)) return true
  if (!rec.podUid) return false
  try {
    const now = await labApi(state).readNamespacedPod({name: pod.name, namespace: pod.namespace})
    return now.metadata?.uid !== rec.podUid
  } catch (error) {
    if (apiStatusCode(error) === 404) return true
    throw error
  }
}

export async function labHeal(opts: LabHealOptions = {}): Promise<LabHealResult> {
  if (opts.fault && !findFault(opts.fault))
    throw new UsageError(`Unknown fault ${JSON.stringify(opts.fault)}.`, {
      code: 'UNKNOWN_FAULT',
      suggestions: [`Faults: ${FAULTS.map((f) => f.id).join(', ')}`],
    })
  const first = requireRunningLab(opts.name)
  return withLabLock(first.dir, async () => {
    const state = requireRunningLab(opts.name)
    const chosen = state.faults.filter(
      (f) =>
        (!opts.fault || f.fault === opts.fault) &&
        (!opts.id || f.id === opts.id) &&
        (!opts.node || f.node === opts.node || f.peer === opts.node) &&
        (!opts.pod || f.pod === opts.pod),
    )
    const result: LabHealResult = {healed: [], failed: [], daemonsStarted: [], remaining: 0}
    const ctx = faultContext(state)
    const healed = new Set<string>()
    // Newest first: a later fault may have been applied on top of an earlier one's result.
    for (const rec of [...chosen].reverse()) {
      const def = findFault(rec.fault)
      const target = targetOf(state, rec)
      try {
        // A pod deleted since (or replaced by another of its name) took a fault on its own state
        // with it: nothing to restore, and nothing to do to the new pod. A NetworkPolicy outlives it.
        // A record still 'starting' changed nothing but, perhaps, the daemon (started below).
        const skip =
          !def ||
          rec.pending === 'starting' ||
          (target.pod !== undefined && !def.outlivesPod && (await podGone(state, rec, target.pod)))
        if (!skip) await def.heal(ctx, target, rec.undo)
        healed.add(rec.id)
        result.healed.push(describe(rec, def))
      } catch (error) {
        result.failed.push({id: rec.id, fault: rec.fault, error: (error as Error).message})
      }
    }
    // A record goes only once all its heal does is done: one whose fault stopped a daemon stays until
    // that daemon runs again, so a heal interrupted before it leaves the record that starts it.
    const holdsDaemon = (f: FaultRecord): boolean => f.stopsDaemon && f.node !== undefined
    state.faults = state.faults.filter((f) => !healed.has(f.id) || holdsDaemon(f))
    writeLabState(state)
    const stoppedBefore = new Set(chosen.filter(holdsDaemon).map((f) => f.node as string))
    for (const node of stoppedBefore) {
      const onNode = (f: FaultRecord): boolean => holdsDaemon(f) && f.node === node
      if (!state.faults.some((f) => onNode(f) && !healed.has(f.id))) {
        await setDaemon(state, node, 'start')
        result.daemonsStarted.push(node)
      }
      state.faults = state.faults.filter((f) => !(onNode(f) && healed.has(f.id)))
      writeLabState(state)
    }
    result.remaining = state.faults.length
    return result
  })
}
