// Live probes through two node agents, as trace will run them across nodes: the destination's agent
// starts temporary listeners (and the ICMP echo back) in its pod, the source's agent probes from its
// pod, then the destination's session is stopped and says what arrived. A dropped ICMP shows as a
// failed probe; a pod on another node is a 404; reading does not allow probing (create nodes/proxy).
import t from 'tap'

import {AgentClient, type AgentError} from '../../src/agent/client.js'
import {Gate, type Reviewer} from '../../src/kube/node-proxy-gate.js'
import {AgentOps} from '../../src/agent/ops.js'
import {startAgentServer, type AgentServer} from '../../src/agent/server.js'
import {selfSignedCert} from '../../src/agent/tls.js'
import {buildTraceLab, type TraceLab} from '../helpers/trace-topology.js'

const PROBER = 'prober-token-0123456789'
const READER = 'reader-token-0123456789'
const reviewer: Reviewer = {
  async reviewToken(token) {
    if (token === PROBER) return {authenticated: true, user: {username: 'prober', groups: []}}
    if (token === READER) return {authenticated: true, user: {username: 'reader', groups: []}}
    return {authenticated: false}
  },
  async reviewAccess(user, {verb}) {
    return {allowed: user.username === 'prober' || verb === 'get'}
  },
}

let lab: TraceLab
const agents: AgentServer[] = []
const clients: AgentClient[] = []
let readerOf0: AgentClient

t.before(async () => {
  lab = await buildTraceLab('vxlan', {nodes: 2, pods: [1, 1]})
  for (const node of lab.nodes) {
    const cert = await selfSignedCert(node.name, ['127.0.0.1'])
    const s = await startAgentServer({
      node: node.name,
      ops: new AgentOps({node: node.name, nodeNetns: `/run/netns/${node.ns}`, scan: {procs: false}}),
      gate: new Gate(reviewer, {node: node.name}),
      host: '127.0.0.1',
      port: 0,
      tls: cert,
    })
    agents.push(s)
    clients.push(new AgentClient({url: s.url, token: PROBER, fingerprint: cert.fingerprint}))
    if (!readerOf0) readerOf0 = new AgentClient({url: s.url, token: READER, fingerprint: cert.fingerprint})
  }
})

t.teardown(async () => {
  for (const s of agents) await s.close()
  await lab?.dispose()
})

const port = () => 20_000 + Math.floor(Math.random() * 40_000)

async function probeAcross(timeoutMs = 1000) {
  const a = lab.pods['0a']!
  const b = lab.pods['1a']!
  const common = {tcpPort: port(), udpPort: port(), udpToken: `t-${port()}`, timeoutMs}
  const session = await clients[1]!.listen({pod: b.ip, peer: a.ip, kinds: ['icmp-return', 'tcp', 'udp'], ...common})
  const sent = await clients[0]!.probe({
    from: a.ip,
    to: b.ip,
    kinds: ['icmp-forward', 'icmp-df', 'tcp', 'udp'],
    ...common,
  })
  const arrived = await clients[1]!.stopListen(session.id)
  return {session, sent, arrived}
}

t.test('a cross-node probe through both agents', async (t) => {
  const {session, sent, arrived} = await probeAcross()
  t.equal(session.listening, true, 'the listeners were up before the answer')
  t.match(sent.outcomes, [
    {kind: 'icmp-forward', ok: true, detail: /reply from 10\.244\.1\.10/},
    {kind: 'icmp-df', ok: true, df: true, size: 1422},
    {kind: 'tcp', ok: true, detail: /temporary listener/},
  ])
  t.equal(sent.outcomes.length, 3, 'UDP is judged by the receiving side')
  t.match(arrived.outcomes, [
    {kind: 'icmp-return', ok: true, direction: 'return'},
    {kind: 'udp', ok: true, detail: /datagram received/},
  ])
  t.notOk(arrived.tcpListenerError)
})

t.test('a drop on the way shows as failed probes', async (t) => {
  const node1 = lab.nodes[1]!
  const rule = `FORWARD -d ${lab.pods['1a']!.ip} -j DROP`
  await lab.sh(node1.ns, `iptables -I ${rule}`)
  t.teardown(() => lab.sh(node1.ns, `iptables -D ${rule}`))
  const {sent, arrived} = await probeAcross(300)
  t.match(sent.outcomes, [
    {kind: 'icmp-forward', ok: false},
    {kind: 'icmp-df', ok: false},
    {kind: 'tcp', ok: false},
  ])
  t.match(arrived.outcomes, [
    {kind: 'icmp-return', ok: false},
    {kind: 'udp', ok: false},
  ])
})

t.test('only for pods on the node, only with create, only known sessions', async (t) => {
  const status = (p: Promise<unknown>) =>
    p.then(
      () => 200,
      (e: AgentError) => e.status,
    )
  const b = lab.pods['1a']!
  t.equal(await status(clients[0]!.probe({from: b.ip, to: lab.pods['0a']!.ip, kinds: ['icmp-forward']})), 404)
  t.equal(await status(clients[0]!.stopListen('0123456789abcdef')), 404)
  t.equal(await status(clients[0]!.probe({from: '10.244.0.10', to: b.ip, kinds: ['tcp']})), 400, 'tcp needs a port')
  t.equal(await status(readerOf0.node()), 200, 'a reader reads')
  t.equal(
    await status(readerOf0.probe({from: lab.pods['0a']!.ip, to: b.ip, kinds: ['icmp-forward']})),
    403,
    'but may not probe',
  )
  t.equal(await status(readerOf0.listen({pod: lab.pods['0a']!.ip, peer: b.ip, kinds: ['udp'], udpPort: 5000})), 403)
})

t.test('watching a dropped probe on the destination node: captures, counters, drop reasons', async (t) => {
  const node1 = lab.nodes[1]!
  const a = lab.pods['0a']!
  const b = lab.pods['1a']!
  const rule = `FORWARD -d ${b.ip} -p icmp -j DROP`
  await lab.sh(node1.ns, `iptables -I ${rule}`)
  t.teardown(() => lab.sh(node1.ns, `iptables -D ${rule}`))
  const watching = await clients[1]!.observe({
    points: [
      {device: 'eth0', encapsulated: true, label: 'node-1/eth0'},
      {device: b.hostVeth, label: `node-1/${b.hostVeth}`},
      {target: {pod: b.ip}, device: 'eth0', label: 'pod-1a/eth0'},
    ],
    spec: {a: a.ip, b: b.ip, protocol: 'icmp'},
    counters: [{label: 'node-1'}],
    dropReasons: true,
  })
  const sent = await clients[0]!.probe({from: a.ip, to: b.ip, kinds: ['icmp-forward'], timeoutMs: 300})
  t.match(sent.outcomes, [{kind: 'icmp-forward', ok: false}])
  const seen = await clients[1]!.stopObserve(watching.id)
  const at = (label: string) => seen.captures.find((c) => c.label === label)
  t.match(at('node-1/eth0'), {ok: true}, 'the underlay capture ran')
  t.ok(at('node-1/eth0')!.aToB >= 1, 'the encapsulated probe reached node-1')
  t.match(at(`node-1/${b.hostVeth}`), {ok: true, aToB: 0}, 'and never its veth')
  t.match(at('pod-1a/eth0'), {ok: true, aToB: 0}, 'nor the pod')
  t.match(seen.counters, [{label: 'node-1'}])
  t.ok(
    seen.counters[0]!.deltas.some((d) => /^node-1 iptables .*-j DROP: \+\d+ packets$/.test(d)),
    `the DROP rule's counter moved: ${seen.counters[0]!.deltas.join('; ')}`,
  )
  const tracefs = [...watching.notes, ...seen.notes].find((n) => n.startsWith('tracefs'))
  if (tracefs) t.comment(`no drop reasons here: ${tracefs}`)
  else
    t.ok(
      seen.drops.some((d) => d.reason === 'NETFILTER_DROP'),
      'the kernel said NETFILTER_DROP',
    )
  t.equal(
    await clients[1]!.stopObserve(watching.id).then(
      () => 200,
      (e: AgentError) => e.status,
    ),
    404,
    'a stopped observation is gone',
  )
})
