import {existsSync, readFileSync} from 'node:fs'
import {isIP} from 'node:net'
import {homedir} from 'node:os'
import {join} from 'node:path'

import {CoreV1Api, DiscoveryV1Api, KubeConfig, type V1Pod} from '../kube/client.js'

import {AgentClient, AgentNode, AgentOps, DEFAULT_AGENT_PORT} from '../agent/index.js'
import {EnvironmentError, UsageError} from '../core/errors.js'
import {agentCommonName} from '../kube/agent-csr.js'
import type {NodeAccess} from '../kernel/node-access.js'
import {labNotFound, pickLab} from '../lab/lifecycle.js'
import {labDir, labNetnsPrefix, nodeNetns} from '../lab/names.js'
import {readLabState} from '../lab/state.js'
import {loadLabTopology} from '../lab/topology.js'
import {inOneOfNetns, listNetns, requireEnvironment} from '../netns/index.js'
import {traceBetween} from '../trace/engine.js'
import {resolveFromCluster} from '../trace/resolve.js'
import {parseServiceRef, traceToService} from '../trace/service.js'
import type {ProbeProtocol, TraceNode, TraceResult} from '../trace/types.js'

export interface TraceCommandOptions {
  podA: string
  /** A pod, or a Service: svc/NAME or svc/NAMESPACE/NAME (then `port` is the service port). */
  podB: string
  namespace: string
  kubeconfig?: string
  /** Default: the only lab running. */
  lab?: string
  protocol?: 'icmp' | 'tcp' | 'udp'
  port?: number
  size?: number
  staticOnly: boolean
  /** Read every node through its agent (a workstation with only a kubeconfig). */
  agentsOnly?: boolean
  /** The agents' port on the node IPs. Default 10265 (deploy/30-agent.yaml). */
  agentPort?: number
  /** A PEM file with the CA the agents' serving certificates are signed by. */
  agentCa?: string
  /** Per node, its agent's certificate fingerprint (SHA-256), as the agent printed it. */
  agentFingerprints?: Record<string, string>
  /** Per node, where its agent listens, instead of https://<node IP>:<agentPort>. */
  agentUrls?: Record<string, string>
  /** How long an agent may take to accept the connection (TLS handshake), in ms. Default 5000. */
  agentConnectTimeoutMs?: number
}

/** `ns/name`, or `name` in the given namespace. */
export function parsePodRef(ref: string, namespace: string): {namespace: string; name: string} {
  const slash = ref.indexOf('/')
  if (slash === -1) return {name: ref, namespace}
  const ns = ref.slice(0, slash)
  const name = ref.slice(slash + 1)
  if (!ns || !name || name.includes('/'))
    throw new UsageError(`"${ref}" is not a pod: use NAME or NAMESPACE/NAME (or a pod IP).`, {code: 'TRACE_BAD_POD'})
  return {name, namespace: ns}
}

/**
 * Which cluster to ask: --kubeconfig (or KUBECONFIG), else the running lab's, else ~/.kube/config.
 * The lab is the embedded default, so `cnidbg trace pod-a pod-b` works right after `cnidbg lab up`.
 */
function pickKubeconfig(opts: TraceCommandOptions): {path: string; lab?: string} {
  if (opts.kubeconfig) return {path: opts.kubeconfig}
  // No lab named: the only one running (several: a usage error listing them; none: ~/.kube/config).
  const lab = pickLab(opts.lab, {flag: '--lab', none: ''})
  if (lab && existsSync(join(labDir(lab), 'lab.json'))) return {lab, path: loadLabTopology(lab).kubeconfig}
  // A lab the user named and that is not there is an error, never a trace in ~/.kube/config's cluster.
  if (opts.lab !== undefined) throw labNotFound(opts.lab, '--lab')
  const home = join(homedir(), '.kube', 'config')
  if (existsSync(home)) return {path: home}
  throw new UsageError('No cluster to trace in: no --kubeconfig, no running lab, no ~/.kube/config.', {
    code: 'TRACE_NO_CLUSTER',
    suggestions: [
      'Start the embedded lab: cnidbg lab up',
      'Or point at a cluster: --kubeconfig /etc/kubernetes/admin.conf',
    ],
  })
}

async function podByIp(api: CoreV1Api, ip: string): Promise<{namespace: string; name: string}> {
  const pods = await api.listPodForAllNamespaces()
  const pod = pods.items.find((p: V1Pod) => p.status?.podIP === ip || p.status?.podIPs?.some((x) => x.ip === ip))
  if (!pod)
    throw new UsageError(`No pod has the IP ${ip}.`, {
      code: 'TRACE_POD_NOT_FOUND',
      suggestions: ['List pods with their IPs: kubectl get pods -A -o wide'],
    })
  return {name: pod.metadata?.name ?? '', namespace: pod.metadata?.namespace ?? 'default'}
}

/** Resolves both pods through the Kubernetes API, finds their namespaces by IP, then traces. */
export async function trace(opts: TraceCommandOptions): Promise<TraceResult> {
  if (!opts.agentsOnly) requireEnvironment(['ip', 'nsenter'])
  const {lab, path} = pickKubeconfig(opts)
  const kc = new KubeConfig()
  try {
    kc.loadFromFile(path)
  } catch (error) {
    throw new UsageError(`Can't load kubeconfig ${path}: ${(error as Error).message}`, {code: 'TRACE_BAD_KUBECONFIG'})
  }
  const api = kc.makeApiClient(CoreV1Api)
  // svc/NAME: the destination is a Service (src/trace/service.ts); --port is then its service port.
  const service = parseServiceRef(opts.podB, opts.namespace)
  const refs = await Promise.all(
    (service ? [opts.podA] : [opts.podA, opts.podB]).map((ref) =>
      isIP(ref) ? podByIp(api, ref) : Promise.resolve(parsePodRef(ref, opts.namespace)),
    ),
  ).catch((error: unknown) => {
    throw apiError(error, path)
  })
  const [from, to] = refs
  if (!service && from && to && from.namespace === to.namespace && from.name === to.name)
    throw new UsageError(
      `${opts.podA} and ${opts.podB} are the same pod (${from.namespace}/${from.name}): it reaches its own address over its loopback, with no network path to trace.`,
      {
        code: 'TRACE_SAME_POD',
        suggestions: ['Trace it to another pod, or to a Service it serves: cnidbg trace POD svc/NAME'],
      },
    )
  const labTopo = lab ? loadLabTopology(lab) : undefined
  const diag = labTopo ? new Map(labTopo.nodes.map((n) => [n.name, n.diagUrl])) : undefined
  const only = lab ? (name: string) => name.startsWith(labNetnsPrefix(lab)) : undefined
  // A lab's node IPs exist only inside its namespaces: asked from anywhere else (the machine's own
  // namespace, where --lab is usually given), a connection to an agent would follow the default route
  // out of the machine. So a lab's agents are asked only from inside one of its namespaces.
  const outsideLab = lab !== undefined && !inOneOfNetns(listNetns().filter(only!))
  if (outsideLab && opts.agentsOnly && !opts.agentUrls)
    throw new UsageError(
      `--agents-only with the lab ${lab}: its agents are reachable only from inside its namespaces, and this process is in none of them.`,
      {
        code: 'TRACE_LAB_AGENTS_UNREACHABLE',
        suggestions: [
          `Trace from a node of the lab, with its node kubeconfig: ip netns exec ${nodeNetns(lab, 'node1')} cnidbg trace --kubeconfig ${readLabState(lab)?.auth?.nodeKubeconfig ?? 'NODE_KUBECONFIG'} --agents-only …`,
          'Or leave out --agents-only: this machine reads the lab nodes directly.',
        ],
      },
    )
  const agents = agentsOf(opts, kc.getCurrentUser()?.token, clusterCaOf(kc), only, outsideLab ? lab : undefined)
  const resolvePair = async (a: {namespace: string; name: string}, b: {namespace: string; name: string}) => {
    const resolved = await resolveFromCluster(api, a, b, {
      diagUrlOf: (n) => diag?.get(n.metadata?.name ?? ''),
      // A lab's pods and nodes are in its own namespaces; another lab's hold the same addresses.
      only,
      agentsOnly: opts.agentsOnly,
      agentFor: (n) => agents.remote(n),
    }).catch((error: unknown) => {
      throw apiError(error, path)
    })
    // A vpc lab's router is no Node: only the lab knows where it is.
    if (labTopo?.router) resolved.topology.router = labTopo.router
    return resolved
  }
  const protocols: ProbeProtocol[] | undefined = opts.protocol ? [opts.protocol] : ['icmp', 'tcp']
  const traceOpts = {
    protocols,
    size: opts.size,
    staticOnly: opts.staticOnly,
    accessFor: (n: TraceNode) => (n.netns ? agents.inProcess(n.netns.path, n.name) : agents.remote(n)),
    diagToken: kc.getCurrentUser()?.token,
  }
  if (service) {
    const deps = {core: api, discovery: kc.makeApiClient(DiscoveryV1Api), resolvePair}
    return traceToService(deps, refs[0]!, service, {...traceOpts, servicePort: opts.port}).catch((error: unknown) => {
      throw apiError(error, path)
    })
  }
  const resolved = await resolvePair(refs[0]!, refs[1]!)
  return traceBetween(resolved.topology, resolved.a, resolved.b, {...traceOpts, port: opts.port})
}

/**
 * The nodes' agents, one client each: at the URL given for the node, else at its node IP and the
 * agent port, trusted through the node's pinned fingerprint, --agent-ca, or else the cluster CA of
 * the kubeconfig, with the kubeconfig user's token. A node this machine enters gets the same operations run in this process, for the live
 * probes of a pair whose other pod is remote. An agent that can't be trusted (no CA, no fingerprint,
 * or a certificate they refuse) is an unreachable one, with that reason.
 */
function agentsOf(
  opts: TraceCommandOptions,
  token: string | undefined,
  clusterCa: Buffer | undefined,
  only?: (name: string) => boolean,
  outsideLab?: string,
) {
  const remote = new Map<string, NodeAccess>()
  const local = new Map<string, NodeAccess>()
  const ca = opts.agentCa ? readAgentCa(opts.agentCa) : undefined
  return {
    remote(n: TraceNode): NodeAccess {
      let a = remote.get(n.name)
      if (!a) {
        const url = opts.agentUrls?.[n.name] ?? `https://${n.nodeIP}:${opts.agentPort ?? DEFAULT_AGENT_PORT}`
        const fingerprint = opts.agentFingerprints?.[n.name]
        // A pin or --agent-ca overrides; else the cluster CA, which issued the agents' certificates
        // (src/kube/agent-csr.ts), with the node IP as the name and the node's agent as the subject.
        const trust =
          ca || fingerprint
            ? {ca, fingerprint, trust: ca && !fingerprint ? '--agent-ca' : undefined}
            : clusterCa
              ? {ca: clusterCa, commonName: agentCommonName(n.name), trust: 'the cluster CA of the kubeconfig'}
              : undefined
        a =
          outsideLab && !opts.agentUrls?.[n.name]
            ? AgentNode.unusable(
                url,
                `not asked: the lab ${outsideLab}'s agents are reachable only from inside its namespaces, and this process is in none of them`,
              )
            : trust
              ? AgentNode.remote(new AgentClient({url, token, ...trust, connectTimeoutMs: opts.agentConnectTimeoutMs}))
              : AgentNode.unusable(
                  url,
                  `no way to trust its certificate: the kubeconfig names no CA; give --agent-ca or --agent-fingerprint ${n.name}=SHA256`,
                )
        remote.set(n.name, a)
      }
      return a
    },
    inProcess(nodeNetns: string, node: string): NodeAccess {
      let a = local.get(node)
      if (!a) {
        const ops = new AgentOps({node, nodeNetns, scan: {only}})
        a = new AgentNode(ops, (ips) => ops.findPods(ips))
        local.set(node, a)
      }
      return a
    },
  }
}

/** The CA the kubeconfig trusts for its API server: the cluster's. */
function clusterCaOf(kc: KubeConfig): Buffer | undefined {
  const c = kc.getCurrentCluster()
  if (c?.caData) return Buffer.from(c.caData, 'base64')
  if (!c?.caFile) return undefined
  try {
    return readFileSync(c.caFile)
  } catch {
    return undefined
  }
}

function readAgentCa(file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (error) {
    throw new UsageError(`Can't read --agent-ca ${file}: ${(error as Error).message}`, {code: 'TRACE_AGENT_CA'})
  }
}

/** The API's 404 means a wrong pod name; a refused connection means no cluster. Both are the user's to fix. */
function apiError(error: unknown, kubeconfig: string): Error {
  if (error instanceof UsageError || error instanceof EnvironmentError) return error
  const e = error as {code?: number; message?: string; body?: unknown}
  if (e.code === 404) {
    const body = typeof e.body === 'string' ? e.body : JSON.stringify(e.body ?? '')
    const name = /pods \\?"([^"\\]+)\\?" not found/.exec(body)?.[1]
    return new UsageError(`Pod ${name ? `"${name}" ` : ''}not found.`, {
      code: 'TRACE_POD_NOT_FOUND',
      suggestions: ['List pods: kubectl get pods -A -o wide', 'Use NAMESPACE/NAME or -n NAMESPACE.'],
    })
  }
  return new EnvironmentError(
    `Can't reach the Kubernetes API (kubeconfig ${kubeconfig}): ${e.message ?? String(error)}`,
    {
      code: 'TRACE_API_UNREACHABLE',
      suggestions: ['Is the lab running? cnidbg lab status', 'Check the server in the kubeconfig.'],
    },
  )
}

export type {TraceResult} from '../trace/types.js'
