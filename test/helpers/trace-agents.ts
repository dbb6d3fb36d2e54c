/**
 * Node agents for a trace test topology (trace-topology.ts): one HTTPS agent per node, in this test
 * process, listening on 127.0.0.1 with a self-signed certificate the client pins, behind a gate whose
 * reviewer lets one token read and probe (the TokenReview and SubjectAccessReview path itself is
 * test/agent/auth.ts's). `trace()` then reads every node and pod through the agents only, as
 * `cnidbg trace --agents-only` does: the pods are found by the agents, by IP (address, host veth or
 * CNI result cache), and the topology given to the engine has no namespace paths at all.
 *
 * Kept small on purpose, so that it can be pointed at the lab's own agents (`lab status --json`).
 */
import {AgentClient, AgentNode} from '../../src/agent/client.js'
import {Gate, type Reviewer} from '../../src/kube/node-proxy-gate.js'
import {AgentOps} from '../../src/agent/ops.js'
import {startAgentServer, type AgentServer} from '../../src/agent/server.js'
import {selfSignedCert} from '../../src/agent/tls.js'
import type {NodeAccess} from '../../src/kernel/node-access.js'
import {traceBetween} from '../../src/trace/engine.js'
import type {TraceEndpoint, TraceOptions, TraceResult, TraceTopology} from '../../src/trace/types.js'
import {runHint} from './trace-assert.js'
import type {LabPod, TraceLab} from './trace-topology.js'

/** The one token the agents let in (to read and to probe). */
export const TRACE_AGENTS_TOKEN = 'trace-agents-test-token-0123456789'
const TOKEN = TRACE_AGENTS_TOKEN

/** The reviewer of the agents here: lets TRACE_AGENTS_TOKEN read and probe, no one else. */
export const reviewer: Reviewer = {
  async reviewToken(token) {
    return token === TOKEN ? {authenticated: true, user: {username: 'tracer', groups: []}} : {authenticated: false}
  },
  async reviewAccess() {
    return {allowed: true}
  },
}

export interface TraceAgents {
  /** Each node's agent, by node name. */
  access: Map<string, NodeAccess>
  /** Where each node's agent listens and its certificate's fingerprint, by node name. */
  agents: Map<string, {url: string; fingerprint: string}>
  /** The lab's topology with no namespace paths: every node is read through its agent. */
  topology: TraceTopology
  /** Resolves both pods through their nodes' agents, then traces through the agents only. */
  trace(a: LabPod, b: LabPod, opts?: TraceOptions): Promise<TraceResult>
  /** Runs a hint written for a remote node (`on node-1: …`) in the lab namespace it names. */
  runHint(hint: string): Promise<void>
  stop(): Promise<void>
}

export async function startTraceAgents(lab: TraceLab): Promise<TraceAgents> {
  const servers: AgentServer[] = []
  const access = new Map<string, NodeAccess>()
  const agents = new Map<string, {url: string; fingerprint: string}>()
  try {
    for (const node of lab.nodes) {
      const cert = await selfSignedCert(node.name, ['127.0.0.1'])
      const server = await startAgentServer({
        node: node.name,
        ops: new AgentOps({
          node: node.name,
          nodeNetns: `/run/netns/${node.ns}`,
          // Only this topology's namespaces: other copies hold the same addresses.
          scan: {procs: false, only: (name) => name.startsWith(`cnidbg-trc-${lab.id}-`)},
        }),
        gate: new Gate(reviewer, {node: node.name}),
        host: '127.0.0.1',
        port: 0,
        tls: cert,
      })
      servers.push(server)
      agents.set(node.name, {url: server.url, fingerprint: cert.fingerprint})
      access.set(
        node.name,
        AgentNode.remote(new AgentClient({url: server.url, token: TOKEN, fingerprint: cert.fingerprint})),
      )
    }
  } catch (error) {
    for (const s of servers) await s.close()
    throw error
  }
  const topology: TraceTopology = {...lab.topology, nodes: lab.topology.nodes.map(({netns: _, ...n}) => n)}
  const endpoint = async (pod: LabPod): Promise<TraceEndpoint> => {
    const found = await access.get(pod.node)!.findPods([pod.ip])
    const {ns: _ns, hostVeth: _hv, nodeNs: _nn, ...ep} = pod
    return {...ep, netnsPath: '', ...(found.pods[0]?.ifname ? {ifname: found.pods[0].ifname} : {})}
  }
  return {
    access,
    agents,
    topology,
    async trace(a, b, opts = {}) {
      const [ea, eb] = await Promise.all([endpoint(a), endpoint(b)])
      return traceBetween(topology, ea, eb, {...opts, accessFor: (n) => access.get(n.name)})
    },
    async runHint(hint) {
      await runHint(localHint(lab, hint))
    },
    async stop() {
      for (const s of servers) await s.close()
    },
  }
}

/** `on node-1: ip …` → `ip -n <node-1's namespace> …`; a pod's (`…, in pod ns/name's …`) likewise. */
export function localHint(lab: TraceLab, hint: string): string {
  return hint
    .split(' && ')
    .map((part) => {
      const m = /^on ([^:,]+)(?:, in pod [^/]+\/pod-([0-9a-z]+)'s network namespace)?: (.*)$/.exec(part)
      if (!m) return part
      const ns = m[2] ? lab.pods[m[2]]!.ns : lab.nodes.find((n) => n.name === m[1])!.ns
      const cmd = m[3]!
      if (cmd.startsWith('ip ')) return `ip -n ${ns} ${cmd.slice(3)}`
      if (cmd.startsWith('bridge ')) return `bridge -n ${ns} ${cmd.slice(7)}`
      return `ip netns exec ${ns} ${cmd}`
    })
    .join(' && ')
}
