// The node agent's reads over HTTPS, on a two-node vxlan topology in namespaces: the node's snapshot
// (the same the local reader makes), its pods by address, by host veth once the address is gone and
// by the CNI result cache once the route is gone too, a pod's snapshot, netfilter verdicts and
// conntrack entries; another node's pod is not this node's. Callers are let in by a stand-in reviewer
// here (test/agent/auth.ts asks a real API server).
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

import {AgentClient, AgentError, AgentKernelReader} from '../../src/agent/client.js'
import {Gate} from '../../src/kube/node-proxy-gate.js'
import {AgentOps} from '../../src/agent/ops.js'
import {startAgentServer, type AgentServer} from '../../src/agent/server.js'
import {selfSignedCert, type ServingCert} from '../../src/agent/tls.js'
import {LocalKernelReader} from '../../src/kernel/reader.js'
import {encodeConfig, writeCacheEntry} from '../../src/runtime/cache.js'
import {allowOnly} from '../helpers/agent-reviewer.js'
import {buildTraceLab, type TraceLab} from '../helpers/trace-topology.js'

const TOKEN = 'agent-test-token-0123456789'

export const allowTester = allowOnly(TOKEN)

/** What a promise failed with ('no failure' when it did not). */
const failure = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => 'no failure',
    (e: unknown) => e,
  )

let lab: TraceLab
let cert: ServingCert
let cacheDir: string
let agent: AgentServer
let client: AgentClient
const logged: string[] = []

t.before(async () => {
  lab = await buildTraceLab('vxlan', {nodes: 2, pods: [2, 1]})
  cert = await selfSignedCert('node-0', ['127.0.0.1'])
  cacheDir = mkdtempSync(join(tmpdir(), 'cnidbg-agent-cache-'))
  const node = lab.nodes[0]!
  agent = await startAgentServer({
    node: node.name,
    ops: new AgentOps({
      node: node.name,
      nodeNetns: `/run/netns/${node.ns}`,
      cniCacheDir: cacheDir,
      scan: {procs: false},
    }),
    gate: new Gate(allowTester, {node: node.name}),
    host: '127.0.0.1',
    port: 0,
    tls: cert,
    log: (l) => logged.push(l),
  })
  client = new AgentClient({url: agent.url, token: TOKEN, fingerprint: cert.fingerprint})
})

t.teardown(async () => {
  await agent?.close()
  await lab?.dispose()
  if (cacheDir) rmSync(cacheDir, {recursive: true, force: true})
})

t.test('the node: info, and a snapshot that is what the local reader sees', async (t) => {
  t.match(await client.node(), {node: 'node-0', apiVersion: 1, reads: /^netns \/run\/netns\/cnidbg-trc-/})
  t.ok(await client.healthy(), '/healthz')
  const pod = lab.pods['0a']!
  const routeGets = [{dst: lab.pods['1a']!.ip, from: pod.ip, iifFor: pod.ip}]
  const remote = await new AgentKernelReader(client).snapshot({routeGets})
  const local = await new LocalKernelReader(`/run/netns/${lab.nodes[0]!.ns}`).snapshot({routeGets})
  t.same(remote.links.map((l) => l.ifname).sort(), local.links.map((l) => l.ifname).sort())
  t.same(remote.routes, local.routes, 'routes')
  // Entry ages (seconds since used, confirmed, updated) tick between the two reads: not compared.
  const ageless = <T extends object>(entries: T[]) =>
    entries.map((e) =>
      Object.fromEntries(Object.entries(e).filter(([k]) => !['used', 'confirmed', 'updated'].includes(k))),
    )
  t.same(ageless(remote.neigh), ageless(local.neigh), 'neighbours')
  t.same(ageless(remote.fdb), ageless(local.fdb), 'FDB')
  t.same(remote.sysctls, local.sysctls, 'sysctls')
  t.equal(remote.sysctls['net/ipv4/ip_forward'], '1')
  t.match(remote.routeGets, [{ok: true, iif: pod.hostVeth, route: {dev: 'cnidbg.1'}}], 'ip route get … iif <host veth>')
  t.same(remote.missing, [])
})

t.test('pods: by address, by host veth, by the CNI result cache; not another node’s', async (t) => {
  const a = lab.pods['0a']!
  const b = lab.pods['0b']!
  const other = lab.pods['1a']!
  const found = await client.pods([a.ip, b.ip, other.ip])
  t.match(found.pods, [
    {ip: a.ip, path: a.netnsPath, name: a.ns, ifname: 'eth0', via: 'address', hostVeth: a.hostVeth},
    {ip: b.ip, path: b.netnsPath, via: 'address'},
  ])
  t.same(found.missing, [other.ip], "node-1's pod is not on node-0")

  // lab break pod-address-removed: the address is gone, the node still routes it to the veth.
  await lab.sh(b.ns, `ip addr del ${b.ip}/24 dev eth0`)
  t.match((await client.pods([b.ip])).pods, [
    {ip: b.ip, path: b.netnsPath, name: b.ns, ifname: 'eth0', via: 'host-veth', hostVeth: b.hostVeth},
  ])
  const snap = await client.snapshot({target: {pod: b.ip}, parts: ['links']})
  t.match(snap.pod, {via: 'host-veth'})
  t.notOk(
    snap.links.find((l) => l.ifname === 'eth0')?.addr_info?.some((x) => x.local === b.ip),
    "the pod's snapshot shows eth0 without its address",
  )

  // And the route too: only the runtime's record is left.
  await lab.sh(lab.nodes[0]!.ns, `ip route del ${b.ip}/32 dev ${b.hostVeth}`)
  t.same((await client.pods([b.ip])).missing, [b.ip], 'no cache entry yet')
  writeCacheEntry(cacheDir, {
    kind: 'cniCacheV1',
    containerId: 'c0ffee',
    config: encodeConfig('{}'),
    ifName: 'eth0',
    networkName: 'cnidbg',
    netns: b.netnsPath,
    result: {cniVersion: '1.0.0', ips: [{address: `${b.ip}/24`}]},
  })
  t.match((await client.pods([b.ip])).pods, [{ip: b.ip, path: b.netnsPath, via: 'cni-cache', containerId: 'c0ffee'}])
  t.match(await failure(client.snapshot({target: {pod: '10.244.0.99'}})), {status: 404, message: /no pod with IP/})
})

t.test('netfilter verdicts and conntrack entries for a flow', async (t) => {
  const a = lab.pods['0a']!
  const other = lab.pods['1a']!
  const node = lab.nodes[0]!
  const packet = {
    src: a.ip,
    dst: other.ip,
    proto: 'icmp' as const,
    ctstate: 'NEW' as const,
    icmpType: 8,
    iif: a.hostVeth,
  }
  t.match(await client.netfilter({packet, hooks: ['forward']}), {verdict: {verdict: 'accept'}})
  await lab.sh(node.ns, `iptables -I FORWARD -s ${a.ip} -d ${other.ip} -p icmp -j DROP`)
  t.match(await client.netfilter({packet, hooks: ['prerouting', 'forward']}), {
    verdict: {verdict: 'drop', by: {source: 'iptables', table: 'filter', chain: 'FORWARD'}},
  })
  await lab.sh(node.ns, `iptables -D FORWARD -s ${a.ip} -d ${other.ip} -p icmp -j DROP`)

  // A conntrack rule makes the node track the flow; a ping leaves an entry.
  await lab.sh(node.ns, 'iptables -I FORWARD -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT')
  await lab.sh(a.ns, `ping -c 1 -W 2 ${other.ip}`)
  const ct = await client.conntrack({flow: {a: a.ip, b: other.ip, proto: 'icmp'}})
  t.equal(ct.available, true)
  t.match(ct.entries, [{proto: 'icmp', orig: {src: a.ip, dst: other.ip, type: 8}, reply: {src: other.ip, dst: a.ip}}])
  t.same((await client.conntrack({flow: {a: a.ip, b: other.ip, proto: 'tcp'}})).entries, [], 'no TCP entry')
})

t.test('malformed requests are 400s and the agent goes on serving', async (t) => {
  const post = (path: string, body: unknown) =>
    client.request('POST', path, body).then(
      () => 200,
      (e: AgentError) => e.status,
    )
  const cases: Array<[string, unknown, number]> = [
    ['/v1/snapshot', {routeGets: [{dst: '10.0.0.1', iif: 'eth0;reboot'}]}, 400],
    ['/v1/snapshot', {routeGets: [{dst: 'not-an-ip'}]}, 400],
    ['/v1/snapshot', {parts: ['links', 'secrets']}, 400],
    ['/v1/snapshot', {target: {pod: '10.0.0.1', path: '/etc'}}, 400],
    ['/v1/snapshot', {surprise: 1}, 400],
    ['/v1/snapshot', [], 400],
    ['/v1/netfilter', {packet: {src: '1.1.1.1', dst: '2.2.2.2', proto: 'gre', ctstate: 'NEW'}, hooks: []}, 400],
    ['/v1/netfilter', {packet: {src: '1.1.1.1', dst: '2.2.2.2', proto: 'tcp', ctstate: 'NEW'}, hooks: ['x']}, 400],
    ['/v1/conntrack', {flow: {a: '1.1.1.1'}}, 400],
    ['/v1/node', {}, 405],
    ['/v1/nothing', {}, 404],
  ]
  for (const [path, body, status] of cases) {
    t.equal(await post(path, body), status, `${path} ${JSON.stringify(body)}`)
    t.match(await client.node(), {node: 'node-0'}, 'still serving')
  }
  t.match(await failure(client.request('GET', '/v1/pods')), {status: 400})
  t.match(await failure(client.request('GET', '/v1/pods?ip=10.0.0.1%3Bx')), {status: 400})
  const big = await failure(client.request('POST', '/v1/snapshot', {pad: 'x'.repeat(1024 * 1024 + 1)}))
  t.match(big, {status: 413}, 'a body over 1 MiB')
  t.notMatch(logged.join('\n'), / 5\d\d /, 'no 5xx')
  t.notMatch(logged.join('\n'), TOKEN, 'the token is never logged')
})

t.test('a client that pins another certificate sends nothing', async (t) => {
  const before = logged.length
  const wrong = new AgentClient({url: agent.url, token: TOKEN, fingerprint: 'AA:'.repeat(31) + 'AA'})
  t.match(await failure(wrong.node()), {status: 0, message: /fingerprint .* is not the expected/})
  t.equal(logged.length, before, 'the server saw no request')
  const byCa = new AgentClient({url: agent.url, token: TOKEN, ca: cert.cert})
  t.match(await byCa.node(), {node: 'node-0'}, 'the certificate as its own CA, name checked')
  t.throws(() => new AgentClient({url: agent.url, token: TOKEN}), /CA or its fingerprint/)
  t.throws(() => new AgentClient({url: 'http://127.0.0.1:1', fingerprint: 'x'}), /https/)
})
