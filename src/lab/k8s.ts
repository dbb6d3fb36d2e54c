/**
 * What `lab` commands ask of the lab's API server: register nodes, create and delete pods, read
 * them back. The kubelet stand-ins and daemons do the rest, as in a cluster.
 */
import {CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1Node, type V1Pod} from '../kube/client.js'

import {DEFAULT_POD_NAMESPACE} from './names.js'
import type {LabNodeState, LabState} from './state.js'

export function labApi(state: LabState): CoreV1Api {
  const kc = new KubeConfig()
  kc.loadFromFile(state.kubeconfig)
  return kc.makeApiClient(CoreV1Api)
}

/** The message of a client-node error (its body carries the API server's Status message). */
export function apiErrorText(error: unknown): string {
  const e = error as {code?: number; body?: unknown; message?: string}
  let msg: string | undefined
  if (typeof e.body === 'string') {
    try {
      msg = (JSON.parse(e.body) as {message?: string}).message
    } catch {
      msg = e.body
    }
  } else if (e.body && typeof e.body === 'object') msg = (e.body as {message?: string}).message
  return msg ?? e.message ?? String(error)
}

export function apiStatusCode(error: unknown): number | undefined {
  return (error as {code?: number}).code
}

/** Creates the Node object: name, podCIDR, InternalIP, Ready (there is no node controller to do it). */
export async function registerNode(api: CoreV1Api, lab: string, n: LabNodeState): Promise<void> {
  const body: V1Node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      labels: {
        'kubernetes.io/hostname': n.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'cnidbg.dev/lab': lab,
      },
    },
    // The node IPAM controller's job in a cluster (kube-controller-manager --allocate-node-cidrs).
    spec: {podCIDR: n.podCIDR, podCIDRs: [n.podCIDR]},
  }
  await api.createNode({body})
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
  await api.patchNodeStatus(
    {
      name: n.name,
      body: {
        status: {
          addresses: [
            {type: 'InternalIP', address: n.nodeIP},
            {type: 'Hostname', address: n.name},
          ],
          conditions: [
            {
              type: 'Ready',
              status: 'True',
              reason: 'KubeletReady',
              message: 'cnidbg lab node',
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
          nodeInfo: {
            architecture: 'amd64',
            bootID: '',
            containerRuntimeVersion: 'cnidbg-lab://1',
            kernelVersion: '',
            kubeProxyVersion: '',
            kubeletVersion: 'cnidbg-lab',
            machineID: '',
            operatingSystem: 'linux',
            osImage: 'cnidbg lab',
            systemUUID: '',
          },
        },
      },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  )
}

export function podManifest(lab: string, name: string, node: string, namespace = DEFAULT_POD_NAMESPACE): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {name, namespace, labels: {app: name, 'cnidbg.dev/lab': lab}},
    // Only the network is real: the "container" is the pod's network namespace.
    spec: {nodeName: node, containers: [{name: 'app', image: 'cnidbg.dev/lab-pause'}]},
  }
}

export async function createPod(
  api: CoreV1Api,
  lab: string,
  name: string,
  node: string,
  namespace = DEFAULT_POD_NAMESPACE,
): Promise<V1Pod> {
  return api.createNamespacedPod({namespace, body: podManifest(lab, name, node, namespace)})
}

export async function listPods(api: CoreV1Api): Promise<V1Pod[]> {
  return (await api.listPodForAllNamespaces()).items
}

export async function listNodes(api: CoreV1Api): Promise<V1Node[]> {
  return (await api.listNode()).items
}

export async function readPod(
  api: CoreV1Api,
  name: string,
  namespace = DEFAULT_POD_NAMESPACE,
): Promise<V1Pod | undefined> {
  try {
    return await api.readNamespacedPod({name, namespace})
  } catch (error) {
    if (apiStatusCode(error) === 404) return undefined
    throw error
  }
}
