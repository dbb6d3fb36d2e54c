/**
 * Turning names into trace inputs. Pods come from the Kubernetes API (IP, node); their network
 * namespace is found on this machine (src/kernel/netns-scan.ts, src/kernel/pods.ts) or by their
 * node's agent. Nodes come from the Node objects: spec.podCIDR plus the cnidbg.dev/*
 * annotations the node daemon publishes.
 */
import type {CoreV1Api, V1Node, V1Pod} from '../kube/client.js'

import {EnvironmentError, UsageError} from '../core/errors.js'
import {isIPv4} from '../core/ip.js'
import {findNetnsByIPs, type NetnsScanOptions} from '../kernel/netns-scan.js'
import type {NodeAccess} from '../kernel/node-access.js'
import {findPodNetns} from '../kernel/pods.js'
import type {TraceEndpoint, TraceMode, TraceNetns, TraceNode, TraceTopology} from './types.js'

export const ANNOTATION = {
  nodeIP: 'cnidbg.dev/node-ip',
  vtepMAC: 'cnidbg.dev/vtep-mac',
  backendType: 'cnidbg.dev/backend-type',
} as const

// ---------------------------------------------------------------------------------------------
// Kubernetes

/** A pod's trace endpoint without its namespace path (that needs a scan on the machine). */
export function endpointFromPod(pod: V1Pod): Omit<TraceEndpoint, 'netnsPath'> {
  const name = pod.metadata?.name ?? '?'
  const namespace = pod.metadata?.namespace ?? 'default'
  // Dual-stack: podIP is either family, podIPs holds both.
  const ip = [pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((p) => p.ip)].find((x) => isIPv4(x ?? ''))
  const node = pod.spec?.nodeName
  if (!ip || !isIPv4(ip) || !node) {
    throw new UsageError(
      `pod ${namespace}/${name} has no IPv4 pod IP or node yet (phase ${pod.status?.phase ?? 'unknown'})`,
      {
        code: 'TRACE_POD_NOT_READY',
        suggestions: [`Wait until it is Running: kubectl -n ${namespace} get pod ${name} -o wide`],
      },
    )
  }
  if (pod.spec?.hostNetwork) {
    throw new UsageError(`pod ${namespace}/${name} uses the host network; trace pods on the pod network`, {
      code: 'TRACE_HOST_NETWORK',
      suggestions: ['Pick a pod without hostNetwork: true.'],
    })
  }
  return {name, namespace, ip, node}
}

function internalIP(n: V1Node): string | undefined {
  return n.status?.addresses?.find((a) => a.type === 'InternalIP' && isIPv4(a.address))?.address
}

/**
 * The topology from Node objects. The mode is the nodes' backend-type annotation (the most common
 * one; vxlan if none says). `netnsOf` says where each node's namespace is, when known.
 */
export function topologyFromNodes(
  nodes: readonly V1Node[],
  opts: {netnsOf?: (n: V1Node) => TraceNetns | undefined; diagUrlOf?: (n: V1Node) => string | undefined} = {},
): TraceTopology {
  const counts = new Map<string, number>()
  const out: TraceNode[] = []
  for (const n of nodes) {
    const ann = n.metadata?.annotations ?? {}
    const type = ann[ANNOTATION.backendType]
    if (type) counts.set(type, (counts.get(type) ?? 0) + 1)
    // Dual-stack: spec.podCIDR is either family, spec.podCIDRs holds both.
    const podCIDR = [n.spec?.podCIDR, ...(n.spec?.podCIDRs ?? [])].find((c) => c !== undefined && !c.includes(':'))
    const nodeIP = ann[ANNOTATION.nodeIP] ?? internalIP(n)
    if (!podCIDR || !nodeIP) continue
    const node: TraceNode = {name: n.metadata?.name ?? '?', nodeIP, podCIDR}
    if (ann[ANNOTATION.vtepMAC]) node.vtepMAC = ann[ANNOTATION.vtepMAC]
    const ns = opts.netnsOf?.(n)
    if (ns) node.netns = ns
    const url = opts.diagUrlOf?.(n)
    if (url) node.diagUrl = url
    out.push(node)
  }
  const mode = ([...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'vxlan') as string
  return {mode: mode === 'host-gw' || mode === 'vpc' || mode === 'bgp' ? mode : ('vxlan' as TraceMode), nodes: out}
}

export interface ResolveOptions extends NetnsScanOptions {
  diagUrlOf?: (n: V1Node) => string | undefined
  /** Read every node through its agent, even one whose namespace this machine can enter. */
  agentsOnly?: boolean
  /** A node's agent (for nodes this machine can't enter, or every node with agentsOnly). */
  agentFor?: (n: TraceNode) => NodeAccess | undefined
  /** libcni's cache directory on this machine, for pods found by their cached result. */
  cniCacheDir?: string
}

/**
 * Resolves two pods and the nodes from the API. A node whose namespace is on this machine (the one
 * holding its node IP, as in the lab) is read here, and its pods are found here by address, by the
 * host veth the node routes the pod IP through, or by the CNI result cache (src/kernel/pods.ts), so
 * a pod that lost its address is still found. Any other node, or every node with `agentsOnly`, is
 * read through its agent, which finds its pods the same three ways. An agent that can't be reached
 * leaves its pod unresolved (empty `netnsPath`): the engine then reports that node as unreadable.
 */
export async function resolveFromCluster(
  api: CoreV1Api,
  a: {namespace: string; name: string},
  b: {namespace: string; name: string},
  opts: ResolveOptions = {},
): Promise<{topology: TraceTopology; a: TraceEndpoint; b: TraceEndpoint}> {
  const [podA, podB, nodeList] = await Promise.all([
    api.readNamespacedPod({name: a.name, namespace: a.namespace}),
    api.readNamespacedPod({name: b.name, namespace: b.namespace}),
    api.listNode(),
  ])
  const epA = endpointFromPod(podA)
  const epB = endpointFromPod(podB)
  const bare = topologyFromNodes(nodeList.items)
  const found = opts.agentsOnly
    ? new Map<string, {name?: string; path: string; ifname?: string}>()
    : await findNetnsByIPs([epA.ip, epB.ip, ...bare.nodes.map((n) => n.nodeIP)], opts)
  const topology = topologyFromNodes(nodeList.items, {
    netnsOf: (n) => {
      const ip = n.metadata?.annotations?.[ANNOTATION.nodeIP] ?? internalIP(n)
      const m = ip ? found.get(ip) : undefined
      return m ? {name: m.name, path: m.path} : undefined
    },
    diagUrlOf: opts.diagUrlOf,
  })
  const endpoint = async (ep: Omit<TraceEndpoint, 'netnsPath'>): Promise<TraceEndpoint> => {
    const node = topology.nodes.find((n) => n.name === ep.node)
    const notFound = (where: string) =>
      new EnvironmentError(`${where} holds ${ep.namespace}/${ep.name}'s IP ${ep.ip}, nor routes it to a pod`, {
        code: 'TRACE_NETNS_NOT_FOUND',
        suggestions: [
          'Run cnidbg trace on the node that runs the pod (or in the lab host), or let it use the node agents.',
          'Is the pod sandbox still there?',
        ],
      })
    const m = found.get(ep.ip)
    if (m && !opts.agentsOnly) return {...ep, netnsPath: m.path, ifname: m.ifname}
    if (node?.netns) {
      // The address is gone: the node's route to it, or the CNI result cache, still names the pod.
      const pod = (
        await findPodNetns([ep.ip], {nodeNetns: node.netns.path, scan: opts, cniCacheDir: opts.cniCacheDir})
      ).get(ep.ip)
      if (pod) return {...ep, netnsPath: pod.path, ifname: pod.ifname}
      throw notFound(`no network namespace of ${node.name} on this machine`)
    }
    const agent = node ? opts.agentFor?.(node) : undefined
    if (!agent) throw notFound('no network namespace on this machine')
    try {
      const answer = await agent.findPods([ep.ip])
      const pod = answer.pods[0]
      if (!pod) throw notFound(`no namespace on ${ep.node} (its agent looked by address, host veth and CNI cache)`)
      return {...ep, netnsPath: '', ...(pod.ifname ? {ifname: pod.ifname} : {})}
    } catch (error) {
      if (error instanceof EnvironmentError) throw error
      // Unreachable: the engine reads the pod through the agent again and reports the node as unread.
      return {...ep, netnsPath: ''}
    }
  }
  const [ea, eb] = await Promise.all([endpoint(epA), endpoint(epB)])
  return {topology, a: ea, b: eb}
}
