/**
 * Turning names into trace inputs. Pods come from the Kubernetes API (IP, node); their network
 * namespace is found on this machine by looking for the namespace that holds the pod IP, in
 * /run/netns (named: ip netns, CNI test harnesses, our lab) and /proc/<pid>/ns/net (containers),
 * deduplicated by namespace inode and checked in one spawned process. Nodes come from the Node
 * objects: spec.podCIDR plus the cnidbg.dev/* annotations the node daemon publishes.
 */
import {readdirSync, readlinkSync, statSync} from 'node:fs'
import {join} from 'node:path'

import type {CoreV1Api, V1Node, V1Pod} from '../kube/client.js'

import {EnvironmentError, UsageError} from '../core/errors.js'
import {isIPv4} from '../core/ip.js'
import {runJobsInNetns} from './multi-exec.js'
import {netnsFromPath} from './ns-commands.js'
import type {TraceEndpoint, TraceMode, TraceNetns, TraceNode, TraceTopology} from './types.js'

export const ANNOTATION = {
  nodeIP: 'cnidbg.dev/node-ip',
  vtepMAC: 'cnidbg.dev/vtep-mac',
  backendType: 'cnidbg.dev/backend-type',
} as const

export interface NetnsCandidate {
  path: string
  name?: string
  inode: number
}

export interface NetnsScanOptions {
  /** Directories of named namespaces. Default /run/netns and /var/run/netns. */
  netnsDirs?: string[]
  /** Also look at every process's namespace. Default true. */
  procs?: boolean
  /** Skip the namespace this process runs in (the host's). Default true. */
  skipOwn?: boolean
  /**
   * Only the named namespaces this accepts, and none found through /proc: for a lab, its own. Every
   * lab holds the same addresses (pod CIDR 10.244.0.0/16, node IPs 198.18.0.x), so with two labs on
   * one machine a plain scan can find the other lab's pod or node.
   */
  only?: (name: string) => boolean
}

function inodeOf(path: string): number | undefined {
  try {
    return statSync(path).ino
  } catch {
    return undefined
  }
}

/** Every distinct network namespace reachable by path, named ones first. */
export function listNetnsCandidates(opts: NetnsScanOptions = {}): NetnsCandidate[] {
  const seen = new Set<number>()
  const out: NetnsCandidate[] = []
  const own = opts.skipOwn === false ? undefined : inodeOf('/proc/self/ns/net')
  const add = (path: string, name?: string) => {
    const inode = inodeOf(path)
    if (inode === undefined || seen.has(inode) || inode === own) return
    seen.add(inode)
    out.push({path, name, inode})
  }
  for (const dir of opts.netnsDirs ?? ['/run/netns', '/var/run/netns']) {
    let names: string[] = []
    try {
      names = readdirSync(dir).sort()
    } catch {
      continue
    }
    for (const n of names) if (!opts.only || opts.only(n)) add(join(dir, n), n)
  }
  if (opts.procs !== false && !opts.only) {
    let pids: string[] = []
    try {
      pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p))
    } catch {
      pids = []
    }
    for (const pid of pids) {
      const path = `/proc/${pid}/ns/net`
      try {
        // net:[4026532xxx]: cheaper than stat, and tells a fresh inode from one we have.
        const m = /\[(\d+)\]/.exec(readlinkSync(path))
        if (m && seen.has(Number(m[1]))) continue
      } catch {
        continue
      }
      add(path)
    }
  }
  return out
}

/** `ip -o -4 addr show` lines → address → interface. */
export function parseAddrLines(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+(\S+?)(?:@\S+)?\s+inet\s+(\d+\.\d+\.\d+\.\d+)\//.exec(line)
    if (m) out.set(m[2]!, m[1]!)
  }
  return out
}

export interface NetnsMatch extends TraceNetns {
  ifname: string
  inode: number
}

/**
 * Finds, for each IP, the network namespace that holds it on an interface. One spawned process
 * checks every candidate namespace in parallel. IPs held by no namespace are absent from the map;
 * an IP held by several (a misconfiguration) maps to the first, named namespaces first.
 */
export async function findNetnsByIPs(
  ips: readonly string[],
  opts: NetnsScanOptions = {},
): Promise<Map<string, NetnsMatch>> {
  const wanted = new Set(ips.filter(isIPv4))
  const out = new Map<string, NetnsMatch>()
  if (!wanted.size) return out
  const candidates = listNetnsCandidates(opts)
  const results = await runJobsInNetns(
    candidates.map((c) => ({nsPath: c.path, script: 'ip -o -4 addr show'})),
    {timeoutMs: 20_000},
  )
  candidates.forEach((c, i) => {
    for (const [ip, ifname] of parseAddrLines(results[i]?.stdout ?? '')) {
      if (!wanted.has(ip) || out.has(ip)) continue
      const ns = netnsFromPath(c.path, c.name)
      out.set(ip, {...ns, ifname, inode: c.inode})
    }
  })
  return out
}

export async function findNetnsByIP(ip: string, opts: NetnsScanOptions = {}): Promise<NetnsMatch | undefined> {
  return (await findNetnsByIPs([ip], opts)).get(ip)
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

/** A pod's trace endpoint without its namespace path (that needs a scan on the machine). */
export function endpointFromPod(pod: V1Pod): Omit<TraceEndpoint, 'netnsPath'> {
  const name = pod.metadata?.name ?? '?'
  const namespace = pod.metadata?.namespace ?? 'default'
  const ip = pod.status?.podIP ?? pod.status?.podIPs?.map((p) => p.ip).find((x) => isIPv4(x ?? ''))
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
    const podCIDR = n.spec?.podCIDR ?? n.spec?.podCIDRs?.find((c) => !c.includes(':'))
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
  return {mode: mode === 'host-gw' ? 'host-gw' : ('vxlan' as TraceMode), nodes: out}
}

/**
 * Resolves two pods and the nodes from the API, and finds the pods' and nodes' namespaces on this
 * machine (a node's namespace is the one holding its node IP, as in the lab) in one scan.
 */
export async function resolveFromCluster(
  api: CoreV1Api,
  a: {namespace: string; name: string},
  b: {namespace: string; name: string},
  opts: NetnsScanOptions & {diagUrlOf?: (n: V1Node) => string | undefined} = {},
): Promise<{topology: TraceTopology; a: TraceEndpoint; b: TraceEndpoint}> {
  const [podA, podB, nodeList] = await Promise.all([
    api.readNamespacedPod({name: a.name, namespace: a.namespace}),
    api.readNamespacedPod({name: b.name, namespace: b.namespace}),
    api.listNode(),
  ])
  const epA = endpointFromPod(podA)
  const epB = endpointFromPod(podB)
  const bare = topologyFromNodes(nodeList.items)
  const found = await findNetnsByIPs([epA.ip, epB.ip, ...bare.nodes.map((n) => n.nodeIP)], opts)
  const topology = topologyFromNodes(nodeList.items, {
    netnsOf: (n) => {
      const ip = n.metadata?.annotations?.[ANNOTATION.nodeIP] ?? internalIP(n)
      const m = ip ? found.get(ip) : undefined
      return m ? {name: m.name, path: m.path} : undefined
    },
    diagUrlOf: opts.diagUrlOf,
  })
  const endpoint = (ep: Omit<TraceEndpoint, 'netnsPath'>): TraceEndpoint => {
    const m = found.get(ep.ip)
    if (!m) {
      throw new EnvironmentError(
        `no network namespace on this machine holds ${ep.namespace}/${ep.name}'s IP ${ep.ip}`,
        {
          code: 'TRACE_NETNS_NOT_FOUND',
          suggestions: [
            'Run cnidbg trace on the node that runs the pod (or in the lab host).',
            'Is the pod sandbox still there?',
          ],
        },
      )
    }
    return {...ep, netnsPath: m.path, ifname: m.ifname}
  }
  return {topology, a: endpoint(epA), b: endpoint(epB)}
}
