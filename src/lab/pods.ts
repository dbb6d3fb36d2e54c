/**
 * `lab pod add` and `lab pod rm`: they only create and delete Pod objects in the lab's API server, as
 * kubectl would. The node's kubelet stand-in sees the change and runs CNI ADD or DEL; these functions
 * wait for that to show (an IP in the pod's status, the namespace gone) so the command returns when
 * the pod is usable or gone.
 */
import {FailureError, UsageError} from '../core/errors.js'
import {netnsExists, netnsPath} from '../netns/netns.js'
import {controlRequest} from './control.js'
import {apiErrorText, apiStatusCode, createPod, labApi, listPods, readPod} from './k8s.js'
import {labHealth, requireLab} from './lifecycle.js'
import {DEFAULT_POD_NAMESPACE, podNetns} from './names.js'
import type {LabState} from './state.js'
import type {SupervisorStatus} from './supervisor.js'
import {waitForPodIPs} from './up.js'

export interface PodAddOptions {
  name?: string
  pod: string
  node?: string
  namespace?: string
  timeoutSeconds?: number
}

export interface PodInfo {
  name: string
  namespace: string
  node: string
  ip: string
  netns: string
  netnsPath: string
}

export interface PodRmOptions {
  name?: string
  pod: string
  namespace?: string
  timeoutSeconds?: number
}

export interface PodRmResult {
  name: string
  namespace: string
  node?: string
  netns?: string
  /** The pod's namespace was gone when we returned (the kubelet ran DEL). */
  removed: boolean
}

const POD_NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

/** A lab that is running, or a usage error saying what to do. */
export function requireRunningLab(name?: string): LabState {
  const state = requireLab(name)
  const health = labHealth(state)
  if (health !== 'running') {
    throw new UsageError(`Lab ${state.name} is ${health}.`, {
      code: 'LAB_NOT_RUNNING',
      suggestions:
        health === 'crashed'
          ? [`Remove it: cnidbg lab down --name ${state.name}`, 'Then start it again: cnidbg lab up']
          : ['Wait for it to finish starting.'],
    })
  }
  return state
}

async function leastLoadedNode(state: LabState): Promise<string> {
  const pods = await listPods(labApi(state))
  const load = new Map(state.nodes.map((n) => [n.name, 0]))
  for (const p of pods)
    if (p.spec?.nodeName && load.has(p.spec.nodeName)) load.set(p.spec.nodeName, load.get(p.spec.nodeName)! + 1)
  return [...load.entries()].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0], 'en', {numeric: true}))[0]![0]
}

export async function podAdd(opts: PodAddOptions): Promise<PodInfo> {
  const state = requireRunningLab(opts.name)
  const namespace = opts.namespace ?? DEFAULT_POD_NAMESPACE
  if (!POD_NAME_RE.test(opts.pod) || opts.pod.length > 63)
    throw new UsageError(`Invalid pod name ${JSON.stringify(opts.pod)}.`, {
      code: 'BAD_POD_NAME',
      suggestions: ['Lower-case letters, digits and "-", e.g. web-1'],
    })
  if (opts.node && !state.nodes.some((n) => n.name === opts.node))
    throw new UsageError(`No node ${opts.node} in lab ${state.name}.`, {
      code: 'NO_SUCH_NODE',
      suggestions: [`Nodes: ${state.nodes.map((n) => n.name).join(', ')}`],
    })
  const node = opts.node ?? (await leastLoadedNode(state))
  const api = labApi(state)
  try {
    await createPod(api, state.name, opts.pod, node, namespace)
  } catch (error) {
    if (apiStatusCode(error) === 409)
      throw new UsageError(`Pod ${namespace}/${opts.pod} already exists.`, {
        code: 'POD_EXISTS',
        suggestions: [`Remove it first: cnidbg lab pod rm ${opts.pod}`],
      })
    throw new FailureError(`Creating pod ${namespace}/${opts.pod}: ${apiErrorText(error)}`, {code: 'POD_CREATE_FAILED'})
  }
  await waitForPodIPs(state, [{name: opts.pod, namespace}], Date.now() + (opts.timeoutSeconds ?? 60) * 1000)
  const pod = await readPod(api, opts.pod, namespace)
  const netns = podNetns(state.name, node, namespace, opts.pod)
  // The topology for trace includes the new pod once the supervisor rewrote it.
  await controlRequest(state.supervisor!.socket, 'POST', '/topology').catch(() => undefined)
  return {name: opts.pod, namespace, node, ip: pod?.status?.podIP ?? '', netns, netnsPath: netnsPath(netns)}
}

export async function podRm(opts: PodRmOptions): Promise<PodRmResult> {
  const state = requireRunningLab(opts.name)
  const namespace = opts.namespace ?? DEFAULT_POD_NAMESPACE
  const api = labApi(state)
  const pod = await readPod(api, opts.pod, namespace)
  if (!pod)
    throw new UsageError(`No pod ${namespace}/${opts.pod} in lab ${state.name}.`, {
      code: 'NO_SUCH_POD',
      suggestions: ['List them: cnidbg lab status'],
    })
  const node = pod.spec?.nodeName
  await api.deleteNamespacedPod({name: opts.pod, namespace})
  if (!node) return {name: opts.pod, namespace, removed: true}
  const netns = podNetns(state.name, node, namespace, opts.pod)
  const deadline = Date.now() + (opts.timeoutSeconds ?? 60) * 1000
  while (netnsExists(netns)) {
    if (Date.now() > deadline) {
      let why = ''
      try {
        const s = await controlRequest<SupervisorStatus>(state.supervisor!.socket, 'GET', '/status', 10_000)
        why =
          s.nodes.flatMap((n) => n.kubelet.pods).find((p) => p.name === opts.pod && p.namespace === namespace)?.error ??
          ''
      } catch {
        // Report without the reason.
      }
      throw new FailureError(
        `Pod ${namespace}/${opts.pod} was deleted, but its namespace ${netns} is still there${why ? `: ${why}` : ''}.`,
        {
          code: 'POD_TEARDOWN_TIMEOUT',
          suggestions: [`See ${state.supervisor?.log}`],
        },
      )
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  await controlRequest(state.supervisor!.socket, 'POST', '/topology').catch(() => undefined)
  return {name: opts.pod, namespace, node, netns, removed: true}
}
