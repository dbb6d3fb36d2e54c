/**
 * What the NetworkPolicy faults share: a deny-all policy for one direction that selects exactly one
 * pod (through a label the fault adds to it), created through the lab's API server like `kubectl
 * apply` would, and waited for until the node daemon has written its DROP into the pod's node. Heal
 * deletes both and waits until the DROP is gone. Nothing is written to a kernel by hand: enforcing
 * the policy is the daemon's job, as on a cluster.
 */
import {randomBytes} from 'node:crypto'

import {CoreV1Api, KubeConfig, NetworkingV1Api, PatchStrategy, setHeaderOptions} from '../../kube/client.js'
import {netnsPath, runInNetns} from '../../netns/netns.js'
import {apiStatusCode} from '../k8s.js'
import type {LabNodeState, LabState} from '../state.js'
import type {Applied, FaultPod} from './types.js'

export type PolicyFaultDirection = 'Ingress' | 'Egress'

/** How long the daemon may take to program (or remove) the policy before the fault reports failure. */
const PROGRAM_TIMEOUT_MS = 30_000

function apis(state: LabState): {core: CoreV1Api; net: NetworkingV1Api} {
  const kc = new KubeConfig()
  kc.loadFromFile(state.kubeconfig)
  return {core: kc.makeApiClient(CoreV1Api), net: kc.makeApiClient(NetworkingV1Api)}
}

/** The DROP the daemon ends the pod's chain with, as iptables-save prints its comment. */
function denyMarker(dir: PolicyFaultDirection, pod: FaultPod): string {
  return `cnidbg-policy default-deny ${dir.toLowerCase()} ${pod.namespace}/${pod.name} by `
}

async function dropsFor(node: LabNodeState, dir: PolicyFaultDirection, pod: FaultPod, policy: string) {
  const r = await runInNetns(netnsPath(node.netns), 'iptables-save', ['-t', 'filter'], {timeoutMs: 15_000})
  const marker = denyMarker(dir, pod)
  return r.stdout.split('\n').some((l) => l.includes(marker) && l.includes(`/${policy}`) && l.endsWith('-j DROP'))
}

async function waitFor(cond: () => Promise<boolean>): Promise<boolean> {
  const until = Date.now() + PROGRAM_TIMEOUT_MS
  for (;;) {
    if (await cond()) return true
    if (Date.now() > until) return false
    await new Promise((r) => setTimeout(r, 200))
  }
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch)

async function setLabel(core: CoreV1Api, pod: FaultPod, key: string, value: string | null): Promise<void> {
  await core.patchNamespacedPod(
    {name: pod.name, namespace: pod.namespace, body: {metadata: {labels: {[key]: value}}}},
    mergePatch,
  )
}

export async function applyDenyPolicy(
  state: LabState,
  node: LabNodeState,
  pod: FaultPod,
  dir: PolicyFaultDirection,
  remember: (undo: Record<string, unknown>) => void,
): Promise<Applied> {
  const tag = randomBytes(3).toString('hex')
  const name = `cnidbg-lab-fault-deny-${dir.toLowerCase()}-${tag}`
  const label = `cnidbg.dev/lab-fault-${tag}`
  const {core, net} = apis(state)
  const undo = {policy: name, namespace: pod.namespace, label, direction: dir}
  remember(undo)
  await setLabel(core, pod, label, 'deny')
  try {
    await net.createNamespacedNetworkPolicy({
      namespace: pod.namespace,
      body: {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: {name, namespace: pod.namespace, labels: {'cnidbg.dev/lab-fault': 'true'}},
        spec: {podSelector: {matchLabels: {[label]: 'deny'}}, policyTypes: [dir]},
      },
    })
    if (!(await waitFor(() => dropsFor(node, dir, pod, name))))
      throw new Error(
        `the daemon on ${node.name} did not enforce ${pod.namespace}/${name} within ${PROGRAM_TIMEOUT_MS / 1000} s (is it running, with --network-policy auto?)`,
      )
  } catch (error) {
    await removeDenyPolicy(state, node, pod, undo).catch(() => {})
    throw error
  }
  return {
    undo,
    summary: `NetworkPolicy ${pod.namespace}/${name} (deny all ${dir.toLowerCase()}) selects ${pod.namespace}/${pod.name} (label ${label}=deny); enforced on ${node.name}`,
  }
}

export async function removeDenyPolicy(
  state: LabState,
  node: LabNodeState,
  pod: FaultPod,
  undo: Record<string, unknown>,
): Promise<void> {
  const {core, net} = apis(state)
  const name = undo.policy as string
  const dir = undo.direction as PolicyFaultDirection
  try {
    await net.deleteNamespacedNetworkPolicy({name, namespace: undo.namespace as string})
  } catch (error) {
    if (apiStatusCode(error) !== 404) throw error
  }
  try {
    await setLabel(core, pod, undo.label as string, null)
  } catch (error) {
    // A pod deleted since needs no label removed.
    if (apiStatusCode(error) !== 404) throw error
  }
  if (!(await waitFor(async () => !(await dropsFor(node, dir, pod, name)))))
    throw new Error(`the daemon on ${node.name} still enforces ${pod.namespace}/${name}`)
}
