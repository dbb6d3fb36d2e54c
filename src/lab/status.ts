/**
 * `cnidbg lab status`: what the lab is and whether each part of it works — the API server, the
 * supervisor, every node's daemon and kubelet stand-in, every pod's address and namespace — and the
 * faults `lab break` left in it.
 */
import type {V1Pod} from '../kube/client.js'
import {existsSync} from 'node:fs'

import {netnsExists, netnsPath} from '../netns/netns.js'
import {controlRequest} from './control.js'
import {apiErrorText, labApi, listPods} from './k8s.js'
import {labHealth, type LabHealth, requireLab} from './lifecycle.js'
import {DEFAULT_LAB_NAME, type LabMode, podNetns} from './names.js'
import {procAlive} from './state.js'
import type {SupervisorStatus} from './supervisor.js'
import {type LabTopology, loadLabTopology, topologyPath} from './topology.js'

export interface LabStatusOptions {
  name?: string
}

export interface LabStatusNode {
  name: string
  nodeIP: string
  podCIDR: string
  netns: string
  netnsExists: boolean
  daemon: {
    /** The daemon's own process, in the node's namespace (a pod of deploy/'s cnidbg-node DaemonSet). */
    pid?: number
    running: boolean
    healthy: boolean
    /** Base URL of /healthz and /diag. */
    url?: string
    problem?: string
  }
  /** The node agent, in the node's namespace (a pod of deploy/'s cnidbg-agent DaemonSet). */
  agent: {
    pid?: number
    running: boolean
    healthy: boolean
    /** https://<node IP>:10265, reachable inside the lab's namespaces. */
    url?: string
    /** Its certificate's SHA-256 fingerprint (`trace --agent-fingerprint NODE=…`). */
    fingerprint?: string
    problem?: string
  }
  kubelet: {running: boolean; synced: boolean}
}

export interface LabStatusPod {
  name: string
  namespace: string
  node: string
  ip?: string
  netns: string
  netnsPath: string
  netnsExists: boolean
  phase: string
  problem?: string
}

export interface LabStatusFault {
  id: string
  fault: string
  node?: string
  pod?: string
  peer?: string
  appliedAt: string
  summary: string
}

export interface LabStatusResult {
  name: string
  mode: LabMode
  health: LabHealth
  dir: string
  kubeconfig: string
  /**
   * For programs inside a node's namespace (trace run on a node): its server is the control plane's
   * underlay address, its user one of the group bound to deploy/'s cnidbg-tracer ClusterRole.
   */
  nodeKubeconfig?: string
  topology: string
  createdAt: string
  apiserver: {pid?: number; url?: string; running: boolean; reachable: boolean; problem?: string}
  supervisor: {pid?: number; running: boolean; reachable: boolean; log?: string; problem?: string}
  nodes: LabStatusNode[]
  pods: LabStatusPod[]
  faults: LabStatusFault[]
  /** One line per thing that is wrong, for people and for `--json` consumers alike. */
  problems: string[]
}

export async function labStatus(opts: LabStatusOptions = {}): Promise<LabStatusResult> {
  const state = requireLab(opts.name)
  const health = labHealth(state)
  const problems: string[] = []

  let sup: SupervisorStatus | undefined
  let supProblem: string | undefined
  if (procAlive(state.supervisor)) {
    try {
      sup = await controlRequest<SupervisorStatus>(state.supervisor!.socket, 'GET', '/status', 10_000)
    } catch (error) {
      supProblem = (error as Error).message
    }
  } else if (state.phase === 'running') supProblem = 'the supervisor process is not running (crashed?)'

  let apiPods: V1Pod[] | undefined
  let apiProblem: string | undefined
  const apiAlive = procAlive(state.apiserver)
  if (apiAlive) {
    try {
      apiPods = await listPods(labApi(state))
    } catch (error) {
      apiProblem = `not answering: ${apiErrorText(error)}`
    }
  } else if (state.phase === 'running') apiProblem = 'the API server process is not running (crashed?)'
  if (apiProblem) problems.push(`API server: ${apiProblem}`)
  if (supProblem) problems.push(`supervisor: ${supProblem}`)

  let topo: LabTopology | undefined
  try {
    topo = loadLabTopology(state.name)
  } catch {
    // Not written yet (lab still starting).
  }

  const nodes: LabStatusNode[] = state.nodes.map((n) => {
    const s = sup?.nodes.find((x) => x.name === n.name)
    const d = s?.daemon
    let problem: string | undefined
    if (!sup) problem = 'unknown (supervisor unreachable)'
    else if (!d?.running) problem = 'stopped'
    else if (!d.healthy) problem = d.waiting ?? (d.errors.join('; ') || 'not healthy yet')
    const exists = netnsExists(n.netns)
    if (!exists) problems.push(`node ${n.name}: namespace ${n.netns} is missing`)
    if (problem && sup) problems.push(`node ${n.name} daemon: ${problem}`)
    const a = s?.agent
    let agentProblem: string | undefined
    if (!sup) agentProblem = 'unknown (supervisor unreachable)'
    else if (!a) agentProblem = 'no agent DaemonSet pod on this node'
    else if (!a.running) agentProblem = 'not running'
    else if (!a.healthy) agentProblem = 'not answering /healthz'
    if (agentProblem && sup) problems.push(`node ${n.name} agent: ${agentProblem}`)
    return {
      name: n.name,
      nodeIP: n.nodeIP,
      podCIDR: n.podCIDR,
      netns: n.netns,
      netnsExists: exists,
      daemon: {
        pid: d?.pid,
        running: Boolean(d?.running),
        healthy: Boolean(d?.healthy),
        url: d?.url,
        problem,
      },
      agent: {
        pid: a?.pid,
        running: Boolean(a?.running),
        healthy: Boolean(a?.healthy),
        url: a?.url,
        fingerprint: a?.fingerprint,
        problem: agentProblem,
      },
      kubelet: {running: Boolean(s), synced: Boolean(s?.kubelet.synced)},
    }
  })

  // Pods: the API server's list (what should exist), joined with what each kubelet did.
  const kubeletPods = sup?.nodes.flatMap((n) => n.kubelet.pods) ?? []
  const pods: LabStatusPod[] = []
  const source =
    apiPods?.map((p) => ({
      name: p.metadata?.name ?? '',
      namespace: p.metadata?.namespace ?? 'default',
      node: p.spec?.nodeName ?? '',
      ip: p.status?.podIP,
      phase: p.status?.phase ?? 'Pending',
    })) ??
    kubeletPods.map((p) => ({
      name: p.name,
      namespace: p.namespace,
      node: p.node,
      ip: p.ip,
      phase: p.state === 'running' ? 'Running' : 'Pending',
    })) ??
    []
  const fromTopo =
    !apiPods && !sup
      ? (topo?.endpoints ?? []).map((e) => ({
          name: e.name,
          namespace: e.namespace,
          node: e.node,
          ip: e.ip as string | undefined,
          phase: 'Unknown',
        }))
      : []
  for (const p of [...source, ...fromTopo]) {
    const k = kubeletPods.find((x) => x.name === p.name && x.namespace === p.namespace)
    const netns = k?.netns ?? podNetns(state.name, p.node, p.namespace, p.name)
    const exists = netnsExists(netns)
    let problem = k?.error
    if (!problem && p.ip && !exists) problem = `namespace ${netns} is missing`
    if (!problem && !p.ip && sup) problem = 'no IP yet'
    if (problem) problems.push(`pod ${p.namespace}/${p.name}: ${problem}`)
    pods.push({...p, netns, netnsPath: netnsPath(netns), netnsExists: exists, problem})
  }
  pods.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name))

  if (health === 'crashed')
    problems.unshift(
      `the lab has crashed: remove it with cnidbg lab down${state.name === DEFAULT_LAB_NAME ? '' : ` --name ${state.name}`}`,
    )

  return {
    name: state.name,
    mode: state.mode,
    health,
    dir: state.dir,
    kubeconfig: state.kubeconfig,
    nodeKubeconfig: state.auth?.nodeKubeconfig,
    topology: existsSync(topologyPath(state.dir)) ? topologyPath(state.dir) : '',
    createdAt: state.createdAt,
    apiserver: {
      pid: state.apiserver?.pid || undefined,
      url: state.apiserver?.url,
      running: apiAlive,
      reachable: Boolean(apiPods),
      problem: apiProblem,
    },
    supervisor: {
      pid: state.supervisor?.pid || undefined,
      running: procAlive(state.supervisor),
      reachable: Boolean(sup),
      log: state.supervisor?.log,
      problem: supProblem,
    },
    nodes,
    pods,
    faults: state.faults.map((f) => ({
      id: f.id,
      fault: f.fault,
      node: f.node,
      pod: f.pod,
      peer: f.peer,
      appliedAt: f.appliedAt,
      summary: f.summary,
    })),
    problems,
  }
}
