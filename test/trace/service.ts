// Integration: `cnidbg trace POD svc/NAME` on a 2-node lab, through the real kubectl. A Service leads
// through the source node's DNAT to its endpoint pod on the other node, and the trace says which one
// (conntrack); a selector matching nothing is `no-endpoints`; each Service fault of `lab break` gives
// its reason and node, here and through the node agents only; a pod-to-pod trace is what it was.
import {spawn, type ChildProcess} from 'node:child_process'

import t from 'tap'

import {AgentNode, AgentOps} from '../../src/agent/index.js'
import {CoreV1Api, DiscoveryV1Api, KubeConfig} from '../../src/kube/client.js'
import {labBreak, labHeal} from '../../src/lab/break.js'
import {labDown} from '../../src/lab/down.js'
import {labNetnsPrefix, podNetns} from '../../src/lab/names.js'
import {readLabState} from '../../src/lab/state.js'
import {type LabUpPod} from '../../src/lab/up.js'
import {runOk} from '../../src/process/exec.js'
import {netnsPath, runInNetns} from '../../src/netns/netns.js'
import {trace} from '../../src/services/trace.js'
import {resolveFromCluster} from '../../src/trace/resolve.js'
import {traceToService} from '../../src/trace/service.js'
import type {TraceNode, TraceResult} from '../../src/trace/types.js'
import {renderText} from '../../src/ui/trace/index.js'
import {cnidbgError} from '../helpers/errors.js'
import {bundleLabLibexec, testLabName, testLabUp} from '../helpers/lab.js'
import {eventually} from '../helpers/machine.js'
import {summary} from '../helpers/trace-assert.js'

t.setTimeout(2_400_000)

const name = testLabName()
const libexec = await bundleLabLibexec()
const listeners: ChildProcess[] = []
t.teardown(async () => {
  for (const l of listeners) l.kill('SIGKILL')
  await labDown({name}).catch(() => undefined)
})

const up = await testLabUp({name, nodes: 2, podsPerNode: 1, mode: 'vxlan', libexec})
const state = readLabState(name)!
const pod = (n: string): LabUpPod => up.pods.find((p) => p.name === n)!
const [client, server] = [pod('pod-a'), pod('pod-b')]
const nodeNs = (node: string) => netnsPath(state.nodes.find((n) => n.name === node)!.netns)
const kubectl = (args: string[], input?: string) =>
  runOk('kubectl', ['--kubeconfig', up.kubeconfig, ...args], {input, timeoutMs: 120_000})
const natOf = async (node: string) => (await runInNetns(nodeNs(node), 'iptables-save', ['-t', 'nat'])).stdout

const service = (svcName: string, selector: Record<string, string>, ports: object[]) =>
  kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {name: svcName, namespace: 'default'},
      spec: {selector, ports},
    }),
  )
await service('web', {app: server.name}, [{name: 'http', port: 80, targetPort: 8080}])
await service('nobody', {app: 'nobody'}, [{port: 81, targetPort: 8081}])
await service('dns', {app: server.name}, [{name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP'}])
await service('two', {app: server.name}, [
  {name: 'a', port: 80, targetPort: 8080},
  {name: 'b', port: 90, targetPort: 8080},
])
const vip: string = JSON.parse((await kubectl(['get', 'svc', 'web', '-o', 'json'])).stdout).spec.clusterIP
const programmed = () => eventually(async () => (await natOf(client.node)).includes(`-d ${vip}/32`))
const serverNs = netnsPath(podNetns(name, server.node, server.namespace, server.name))

t.test('the Service is programmed and its endpoint listens', async (t) => {
  t.ok(await programmed(), `the ClusterIP ${vip} is programmed on ${client.node}`)
  // The endpoint's server: a listener on the target port, for the whole file.
  listeners.push(spawn('nsenter', [`--net=${serverNs}`, 'nc', '-lk', '8080'], {stdio: 'ignore'}))
  const listening = await eventually(
    async () => (await runInNetns(serverNs, 'ss', ['-Hltn', 'sport = :8080'])).stdout.trim().length > 0,
  )
  t.ok(listening, 'the endpoint listens on 8080')
  // The UDP Service's server: nothing listens on tcp :5353, as with a real DNS server on UDP only.
  listeners.push(spawn('nsenter', [`--net=${serverNs}`, 'nc', '-luk', '5353'], {stdio: 'ignore'}))
})

const traceSvc = (ref: string, more: {port?: number; staticOnly?: boolean} = {}) =>
  trace({lab: name, namespace: 'default', podA: client.name, podB: ref, staticOnly: false, ...more})

/** The same trace with every node read and probed through its agent (in process, as services/trace.ts makes them). */
async function traceSvcAgents(ref: string): Promise<TraceResult> {
  const kc = new KubeConfig()
  kc.loadFromFile(up.kubeconfig)
  const core = kc.makeApiClient(CoreV1Api)
  const only = (n: string) => n.startsWith(labNetnsPrefix(name))
  const access = new Map<string, AgentNode>()
  const agentFor = (n: TraceNode) => {
    let a = access.get(n.name)
    if (!a) {
      const ops = new AgentOps({node: n.name, nodeNetns: nodeNs(n.name), scan: {only}})
      a = new AgentNode(ops, (ips) => ops.findPods(ips))
      access.set(n.name, a)
    }
    return a
  }
  return traceToService(
    {
      core,
      discovery: kc.makeApiClient(DiscoveryV1Api),
      resolvePair: (a, b) => resolveFromCluster(core, a, b, {agentsOnly: true, agentFor, only}),
    },
    {namespace: 'default', name: client.name},
    {namespace: 'default', name: ref},
    {protocols: ['icmp', 'tcp'], accessFor: agentFor},
  )
}

const verdictOf = (r: TraceResult) => ({verdict: r.verdict, reason: r.fault?.reason, node: r.fault?.node})

t.test('a Service reaches its endpoint: the DNAT hop and the endpoint conntrack chose', async (t) => {
  const r = await traceSvc('svc/web')
  t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
  t.match(r.service, {
    namespace: 'default',
    name: 'web',
    clusterIP: vip,
    port: 80,
    targetPort: 8080,
    endpoints: [{ip: server.ip, port: 8080, ready: true, pod: `default/${server.name}`, node: server.node}],
    dnat: {node: client.node, status: 'ok', targets: [{destination: `${server.ip}:8080`}]},
    chosen: {ip: server.ip, port: 8080, how: 'conntrack'},
    probe: {ok: true},
  })
  // t.match checks only the entries it is given: the one endpoint and the one DNAT target, no more.
  t.same(r.service?.endpoints, [
    {ip: server.ip, port: 8080, ready: true, pod: `default/${server.name}`, node: server.node},
  ])
  t.equal(r.service?.dnat.targets.length, 1, 'one DNAT target')
  t.match(r.service?.dnat.chains, ['PREROUTING', 'KUBE-SERVICES', /^KUBE-SVC-[A-Z2-7]{16}$/])
  t.match(
    r.service?.probe?.conntrack,
    new RegExp(`dst=${vip.replace(/\./g, '\\.')} .*reply src=${server.ip.replace(/\./g, '\\.')}`),
  )
  t.match(r.destination, {name: server.name, ip: server.ip, node: server.node})
  const dnatHop = r.hops.find((h) => h.stage === 'service-dnat')
  t.match(dnatHop, {direction: 'forward', node: client.node, status: 'ok'})
  const before = r.hops[dnatHop!.index - 2]
  t.equal(before?.stage, 'host-veth-ingress', 'after the source host veth')
  t.same(
    r.hops.map((h) => h.index),
    r.hops.map((_, i) => i + 1),
    'hops numbered in order',
  )
  t.match(
    r.probes.find((p) => p.protocol === 'tcp'),
    {ok: true, port: 8080},
    'the pod-to-pod probe used the target port',
  )
  const text = renderText(r)
  t.match(text, `svc default/web (${vip}:80)`)
  t.match(text, new RegExp(`endpoint .*${server.ip.replace(/\./g, '\\.')}:8080 .*chosen \\(conntrack\\)`))
  t.comment(`trace to a Service: ${r.durationMs} ms`)
})

t.test('a UDP Service is traced over its protocol, never TCP-connected on its target port', async (t) => {
  const r = await traceSvc('svc/dns')
  t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
  t.match(r.service, {name: 'dns', protocol: 'UDP', targetPort: 5353, chosen: {ip: server.ip, port: 5353}})
  t.same(
    r.probes.filter((p) => p.protocol === 'tcp'),
    [],
    'no TCP probe',
  )
  t.ok(
    r.probes.some((p) => p.protocol === 'udp' && p.ok),
    'the UDP path was probed',
  )
  t.match(r.notes.join('\n'), /default\/dns is UDP: the path to .* was probed with icmp and udp/)
})

t.test('svc/NAMESPACE/NAME, --port and the ports of a Service', async (t) => {
  const r = await traceSvc('svc/default/web', {port: 80, staticOnly: true})
  t.match(r.service, {name: 'web', port: 80, chosen: {ip: server.ip, how: 'only-endpoint'}})
  t.notOk(r.service?.probe, 'static: no probe')
  await t.rejects(traceSvc('svc/two'), cnidbgError('TRACE_SERVICE_PORT'))
  await t.rejects(traceSvc('svc/two'), /a 80\/TCP, b 90\/TCP/)
  await t.rejects(traceSvc('svc/web', {port: 99}), /no port 99; its ports: http 80\/TCP/)
  await t.rejects(traceSvc('svc/absent'), cnidbgError('TRACE_SERVICE_NOT_FOUND'))
  const two = await traceSvc('svc/two', {port: 90, staticOnly: true})
  t.match(two.service, {name: 'two', port: 90, portName: 'b'})
})

t.test('a selector matching nothing: no-endpoints, with the selector and the slices', async (t) => {
  const r = await traceSvc('svc/nobody')
  t.equal(r.verdict, 'unreachable')
  t.match(r.fault, {reason: 'no-endpoints', service: 'default/nobody', node: client.node, direction: 'forward'})
  t.match(r.fault?.evidence.join('\n'), /selector app=nobody/)
  t.match(r.fault?.evidence.join('\n'), /EndpointSlice .*no endpoints|no EndpointSlice/)
  t.match(r.fault?.hint, /kubectl -n default get pods -l app=nobody/)
  t.match(r.destination, {name: 'nobody', ip: r.service?.clusterIP})
  t.match(verdictOf(await traceSvcAgents('nobody')), verdictOf(r), 'the same through the agents')
})

t.test('kubectl create service (the README example): selects app=NAME, no pod has it', async (t) => {
  await kubectl(['create', 'service', 'clusterip', 'readme', '--tcp=80:8080'])
  const r = await traceSvc('svc/default/readme', {port: 80})
  t.match(r.service, {selector: 'app=readme', targetPort: 8080})
  t.same(r.service?.endpoints, [], 'no endpoints')
  t.match(r.fault, {reason: 'no-endpoints', service: 'default/readme'})
  await kubectl(['delete', 'svc', 'readme'])
})

t.test('through the agents only: reachable, the same endpoint', async (t) => {
  const r = await traceSvcAgents('web')
  t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
  t.match(r.service, {chosen: {ip: server.ip, how: 'conntrack'}, dnat: {node: client.node, status: 'ok'}})
  t.match(r.notes.join('\n'), /read through agent/)
})

const FAULT_CASES = [
  {fault: 'pod-labels-removed', target: {pod: server.name}, reason: 'no-endpoints', node: client.node},
  {fault: 'service-nat-bypassed', target: {node: client.node}, reason: 'service-not-programmed', node: client.node},
  {fault: 'conntrack-invalid-drop', target: {node: client.node}, reason: 'conntrack-invalid', node: client.node},
] as const

for (const c of FAULT_CASES) {
  t.test(`lab break ${c.fault}: ${c.reason} on ${c.node}, here and through the agents`, async (t) => {
    await labBreak({name, fault: c.fault, ...c.target})
    try {
      if (c.fault === 'pod-labels-removed') {
        const gone = await eventually(async () => !(await natOf(client.node)).includes(`-d ${vip}/32`))
        t.ok(gone, 'the proxy removed the DNAT')
      }
      const here = await traceSvc('svc/web')
      t.match(verdictOf(here), {verdict: 'unreachable', reason: c.reason, node: c.node}, 'here', {trace: summary(here)})
      t.equal(here.fault?.service, 'default/web', 'names the Service')
      const there = await traceSvcAgents('web')
      t.same(verdictOf(there), verdictOf(here), 'through the agents', {trace: summary(there)})
    } finally {
      const healed = await labHeal({name, fault: c.fault})
      t.same(healed.failed, [], 'healed')
      t.ok(await programmed(), 'programmed again')
    }
    const again = await traceSvc('svc/web')
    t.equal(again.verdict, 'reachable', 'reachable after the heal', {trace: summary(again)})
  })
}

t.test('a pod-to-pod trace has no Service part', async (t) => {
  const r = await trace({lab: name, namespace: 'default', podA: client.name, podB: server.name, staticOnly: false})
  t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
  t.equal(r.service, undefined)
  t.notOk(r.hops.some((h) => h.stage === 'service-dnat'))
})
