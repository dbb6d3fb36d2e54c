// Integration: trace names the NetworkPolicy that drops a packet, on a 2-node lab whose node daemons
// enforce the policies kubectl applies. Each diagnosis is made twice: from this machine (it enters the
// nodes) and through node agents only (--agents-only; one agent per lab node, in this process, on
// 127.0.0.1), which must give the same verdict, reason, node, direction and policy. Then the lab's
// policy faults, broken and healed.
import t, {type Test} from 'tap'

import {AgentOps} from '../../src/agent/ops.js'
import {startAgentServer, type AgentServer} from '../../src/agent/server.js'
import {selfSignedCert} from '../../src/agent/tls.js'
import {Gate, type Reviewer} from '../../src/kube/node-proxy-gate.js'
import {labBreak, labHeal} from '../../src/lab/break.js'
import {labDown} from '../../src/lab/down.js'
import {labNetnsPrefix} from '../../src/lab/names.js'
import {readLabState} from '../../src/lab/state.js'
import {type LabUpPod} from '../../src/lab/up.js'
import {netnsPath, runInNetns} from '../../src/netns/netns.js'
import {runOk} from '../../src/process/exec.js'
import {trace} from '../../src/services/trace.js'
import {summary, verdictOf} from '../helpers/trace-assert.js'
import {eventually} from '../helpers/machine.js'
import {bundleLabLibexec, testLabName, testLabUp} from '../helpers/lab.js'

t.setTimeout(2_400_000)

const name = testLabName()
const libexec = await bundleLabLibexec()
const servers: AgentServer[] = []
t.teardown(async () => {
  for (const s of servers) await s.close().catch(() => undefined)
  await labDown({name}).catch(() => undefined)
})

const up = await testLabUp({name, nodes: 2, podsPerNode: 2, mode: 'vxlan', libexec})
const state = readLabState(name)!
const [n1, n2] = state.nodes.map((n) => n.name) as [string, string]
const on = (node: string): LabUpPod[] => up.pods.filter((p) => p.node === node)
// a (the labelled client) and c (any other client) on node 1, b (the server) on node 2.
const [a, c] = on(n1) as [LabUpPod, LabUpPod]
const [b] = on(n2) as [LabUpPod]

const kubectl = (args: string[], input?: string) =>
  runOk('kubectl', ['--kubeconfig', up.kubeconfig, ...args], {input, timeoutMs: 120_000})
const apply = (spec: Record<string, unknown>, policy: string) =>
  kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {name: policy, namespace: 'default'},
      spec,
    }),
  )

/** The policy DROP comments in a node's filter table (the daemon's, as it enforces). */
async function drops(node: string): Promise<string[]> {
  const ns = state.nodes.find((n) => n.name === node)!.netns
  const r = await runInNetns(netnsPath(ns), 'iptables-save', ['-t', 'filter'])
  return r.stdout.split('\n').filter((l) => l.includes('cnidbg-policy default-deny') && l.endsWith('-j DROP'))
}

// One agent per lab node, as `cnidbg agent` would run there; the gate lets the lab admin's token in.
const reviewer: Reviewer = {
  async reviewToken() {
    return {authenticated: true, user: {username: 'tracer', groups: []}}
  },
  async reviewAccess() {
    return {allowed: true}
  },
}
const agentUrls: Record<string, string> = {}
const agentFingerprints: Record<string, string> = {}
for (const n of state.nodes) {
  const cert = await selfSignedCert(n.name, ['127.0.0.1'])
  const server = await startAgentServer({
    node: n.name,
    ops: new AgentOps({
      node: n.name,
      nodeNetns: netnsPath(n.netns),
      scan: {procs: false, only: (ns) => ns.startsWith(labNetnsPrefix(name))},
    }),
    gate: new Gate(reviewer, {node: n.name}),
    host: '127.0.0.1',
    port: 0,
    tls: cert,
  })
  servers.push(server)
  agentUrls[n.name] = server.url
  agentFingerprints[n.name] = cert.fingerprint
}

const traceHere = (from: LabUpPod, to: LabUpPod) =>
  trace({lab: name, namespace: 'default', podA: from.name, podB: to.name, staticOnly: false})
const traceAgents = (from: LabUpPod, to: LabUpPod) =>
  trace({
    lab: name,
    namespace: 'default',
    podA: from.name,
    podB: to.name,
    staticOnly: false,
    agentsOnly: true,
    agentUrls,
    agentFingerprints,
    agentConnectTimeoutMs: 30_000,
  })

/** Traces here and through the agents; both must say `want`. Returns the local result. */
async function both(t: Test, from: LabUpPod, to: LabUpPod, want: Partial<ReturnType<typeof verdictOf>>) {
  const here = await traceHere(from, to)
  const got = verdictOf(here)
  // Exactly the fields asked for (t.match would take 'unreachable' for 'reachable').
  const asked = Object.fromEntries(Object.keys(want).map((k) => [k, got[k as keyof typeof got]]))
  t.same(asked, want, `${from.name} → ${to.name} here`, {trace: summary(here)})
  const there = await traceAgents(from, to)
  t.same(verdictOf(there), verdictOf(here), `${from.name} → ${to.name} through the agents`, {trace: summary(there)})
  t.same(there.unreadable, undefined, 'every node read through its agent')
  return here
}

t.test('without policies: reachable, no policy involved', async (t) => {
  const r = await both(t, a, b, {verdict: 'reachable'})
  t.equal(r.fault, undefined)
  t.same(await drops(n2), [], 'no policy chains')
})

t.test('--agents-only on a lab, from outside its namespaces, is refused before anything is asked', async (t) => {
  // Its agents' addresses, the lab's node IPs, exist only inside the lab: asked from here, the
  // connections would follow this machine's default route out. Given URLs (as above) are the user's.
  const r = trace({lab: name, namespace: 'default', podA: a.name, podB: b.name, staticOnly: false, agentsOnly: true})
  await t.rejects(r, {code: 'TRACE_LAB_AGENTS_UNREACHABLE', message: /reachable only from inside its namespaces/})
})

t.test('a deny-all ingress policy gives policy-denied, naming the policy and the node', async (t) => {
  await apply({podSelector: {matchLabels: {app: b.name}}, policyTypes: ['Ingress']}, 'deny-all')
  t.ok(await eventually(async () => (await drops(n2)).length === 1), 'the daemon on node 2 enforces it')
  const r = await both(t, a, b, {
    verdict: 'unreachable',
    reason: 'policy-denied',
    node: n2,
    direction: 'forward',
    policy: 'default/deny-all',
  })
  const evidence = r.fault!.evidence.join('\n')
  t.match(evidence, /cnidbg-policy default-deny ingress default\/\S+ by default\/deny-all.*-j DROP \[\d+ pkts\]/)
  t.match(evidence, /NetworkPolicy default\/deny-all: chain CNIDBG-NP-I-\w+ allows no ingress at all/)
  t.match(evidence, /CNIDBG-NP-PI-\w+ .*-j DROP: \+\d+ packets/, 'the DROP counted the re-sent probe')
  t.match(r.fault!.hint, 'kubectl -n default edit networkpolicy deny-all')
})

t.test('an allow-from-label policy lets the labelled client through, and names a policy for others', async (t) => {
  await kubectl(['label', 'pod', a.name, 'role=client'])
  await apply(
    {podSelector: {matchLabels: {app: b.name}}, ingress: [{from: [{podSelector: {matchLabels: {role: 'client'}}}]}]},
    'allow-client',
  )
  t.ok(
    await eventually(async () => (await drops(n2)).some((l) => l.includes('by default/allow-client,default/deny-all'))),
    'enforced',
  )
  t.ok(await eventually(async () => (await traceHere(a, b)).verdict === 'reachable'), 'the label is programmed')
  await both(t, a, b, {verdict: 'reachable'})
  const r = await both(t, c, b, {
    verdict: 'unreachable',
    reason: 'policy-denied',
    node: n2,
    direction: 'forward',
    policy: 'default/allow-client',
  })
  t.match(
    r.fault!.hint,
    /none of the NetworkPolicies selecting default\/\S+ \(default\/allow-client, default\/deny-all\)/,
  )
  const evidence = r.fault!.evidence.join('\n')
  t.match(evidence, /NetworkPolicy default\/allow-client: chain CNIDBG-NP-I-\w+ has 1 allow rule .*-s [\d.]+\/32/)
  t.match(evidence, /NetworkPolicy default\/deny-all: chain CNIDBG-NP-I-\w+ allows no ingress at all/)
})

t.test('an egress deny names the source-side policy, across nodes and on one node', async (t) => {
  await apply({podSelector: {matchLabels: {app: a.name}}, policyTypes: ['Egress']}, 'deny-egress')
  t.ok(await eventually(async () => (await drops(n1)).length === 1), 'the daemon on node 1 enforces it')
  const r = await both(t, a, b, {
    verdict: 'unreachable',
    reason: 'policy-denied',
    node: n1,
    direction: 'forward',
    policy: 'default/deny-egress',
  })
  t.match(r.fault!.evidence.join('\n'), /default-deny egress default\/\S+ by default\/deny-egress/)
  // Same node: node 1's one FORWARD hop holds the drop.
  await both(t, a, c, {
    verdict: 'unreachable',
    reason: 'policy-denied',
    node: n1,
    direction: 'forward',
    policy: 'default/deny-egress',
  })
  // The other way the request passes, and the return probe (pod a pinging back) is what is denied.
  await both(t, c, a, {
    verdict: 'unreachable',
    reason: 'policy-denied',
    node: n1,
    direction: 'return',
    policy: 'default/deny-egress',
  })
})

t.test('removing the policies restores reachability', async (t) => {
  await kubectl(['delete', 'networkpolicy', 'deny-all', 'allow-client', 'deny-egress'])
  await kubectl(['label', 'pod', a.name, 'role-'])
  t.ok(await eventually(async () => (await drops(n1)).length + (await drops(n2)).length === 0), 'chains removed')
  await both(t, a, b, {verdict: 'reachable'})
  await both(t, c, b, {verdict: 'reachable'})
})

t.test('lab break policy-deny-ingress and policy-deny-egress, diagnosed and healed', async (t) => {
  for (const [fault, pod, node] of [
    ['policy-deny-ingress', b, n2],
    ['policy-deny-egress', a, n1],
  ] as const) {
    const applied = await labBreak({name, fault, pod: pod.name})
    const policy = /NetworkPolicy (default\/cnidbg-lab-fault-\S+)/.exec(applied.summary)?.[1]
    t.ok(policy, applied.summary)
    try {
      await both(t, a, b, {verdict: 'unreachable', reason: 'policy-denied', node, direction: 'forward', policy})
    } finally {
      const healed = await labHeal({name, fault})
      t.same(healed.failed, [], `${fault} healed`)
    }
    t.same(await drops(node), [], 'nothing of the fault left')
    await both(t, a, b, {verdict: 'reachable'})
  }
})
