/**
 * `cnidbg trace` choosing per node, with the cluster in a (lab) API server and a 2-node VXLAN
 * topology in namespaces: a pod whose address is gone (what `lab break pod-address-removed` does) is
 * still found, by the host veth its node routes the pod IP through, and diagnosed as
 * `address-missing`, both here (this machine enters the node) and with `--agents-only` (the agents
 * find it); the same reason and node either way. A node whose agent can't be reached, or can't be
 * trusted, is named with why, and the verdict is unknown.
 */
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

import {AgentOps} from '../../src/agent/ops.js'
import {startAgentServer} from '../../src/agent/server.js'
import {newKeyAndCsr} from '../../src/agent/tls.js'
import {Gate} from '../../src/kube/node-proxy-gate.js'
import {CsrSigner} from '../../src/kube/agent-signing.js'
import {writeServingCert} from '../../src/lab/credentials.js'

import {CoreV1Api, KubeConfig} from '../../src/kube/client.js'
import type {NodeAccess} from '../../src/kernel/node-access.js'
import {startApiServer, type ApiServer} from '../../src/lab/apiserver/index.js'
import {trace, type TraceCommandOptions} from '../../src/services/trace.js'
import {traceBetween} from '../../src/trace/engine.js'
import {resolveFromCluster} from '../../src/trace/resolve.js'
import {reviewer, startTraceAgents, TRACE_AGENTS_TOKEN, type TraceAgents} from '../helpers/trace-agents.js'
import {summary} from '../helpers/trace-assert.js'
import {buildTraceLab, type TraceLab} from '../helpers/trace-topology.js'

let lab: TraceLab
let agents: TraceAgents
let server: ApiServer
let kubeconfig: string

t.before(async () => {
  lab = await buildTraceLab('vxlan', {nodes: 2, pods: [1, 1]})
  agents = await startTraceAgents(lab)
  server = await startApiServer({port: 0, token: TRACE_AGENTS_TOKEN})
  const dir = mkdtempSync(join(tmpdir(), 'cnidbg-trace-agents-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  kubeconfig = join(dir, 'kubeconfig')
  server.writeKubeconfig(kubeconfig)
  for (const n of lab.nodes) {
    server.store.create('nodes', undefined, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: n.name,
        annotations: {
          'cnidbg.dev/node-ip': n.nodeIP,
          'cnidbg.dev/backend-type': 'vxlan',
          'cnidbg.dev/vtep-mac': n.vtepMAC!,
        },
      },
      spec: {podCIDR: n.podCIDR},
    })
  }
  for (const p of Object.values(lab.pods)) {
    const pod = server.store.create('pods', 'default', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {name: p.name, namespace: 'default'},
      spec: {nodeName: p.node, containers: []},
    })
    server.store.update(
      'pods',
      'default',
      p.name,
      {...pod, status: {phase: 'Running', podIP: p.ip}},
      {subresource: 'status'},
    )
  }
})

t.teardown(async () => {
  await agents?.stop()
  await server?.close()
  await lab?.dispose()
})

const agentOpts = (): Partial<TraceCommandOptions> => ({
  agentsOnly: true,
  agentUrls: Object.fromEntries([...agents.agents].map(([n, a]) => [n, a.url])),
  agentFingerprints: Object.fromEntries([...agents.agents].map(([n, a]) => [n, a.fingerprint])),
})

const traceVia = (more: Partial<TraceCommandOptions> = {}) =>
  trace({kubeconfig, namespace: 'default', podA: 'pod-0a', podB: 'pod-1a', staticOnly: false, ...agentOpts(), ...more})

t.test('through the agents only: a healthy pair is reachable', async (t) => {
  const r = await traceVia()
  t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
  t.same(
    r.hops.filter((h) => h.status !== 'ok').map((h) => `${h.index} ${h.stage}: ${h.detail}`),
    [],
  )
  t.comment(`cross-node trace through agents: ${r.durationMs} ms`)
})

t.test('a pod that lost its address is address-missing, locally and through the agents', async (t) => {
  const b = lab.pods['1a']!
  await lab.sh(b.ns, `ip addr del ${b.ip}/24 dev eth0`)
  t.teardown(() =>
    lab.sh(
      b.ns,
      `ip addr add ${b.ip}/24 dev eth0 noprefixroute; ip route replace 10.244.1.1 dev eth0 scope link && ip route replace default via 10.244.1.1 dev eth0 && ip route replace 10.244.0.0/16 via 10.244.1.1 dev eth0`,
    ),
  )
  const kc = new KubeConfig()
  kc.loadFromFile(kubeconfig)
  const api = kc.makeApiClient(CoreV1Api)
  const refs = [
    {namespace: 'default', name: 'pod-0a'},
    {namespace: 'default', name: 'pod-1a'},
  ] as const
  const local = await resolveFromCluster(api, refs[0], refs[1], {
    procs: false,
    only: (name) => name.startsWith(`cnidbg-trc-${lab.id}-`),
  })
  t.equal(local.b.netnsPath, `/run/netns/${b.ns}`, 'found here by the host veth its node routes the IP through')
  const here = await traceBetween(local.topology, local.a, local.b)
  t.equal(here.verdict, 'unreachable', 'verdict', {trace: summary(here)})
  t.match(here.fault, {reason: 'address-missing', node: 'node-1', direction: 'forward', device: 'eth0'})

  const found = await agents.access.get('node-1')!.findPods([b.ip])
  t.match(found.pods, [{ip: b.ip, via: 'host-veth', ifname: 'eth0', hostVeth: b.hostVeth}], 'the agent finds it')
  const remote = await traceVia()
  t.equal(remote.verdict, 'unreachable', 'verdict', {trace: summary(remote)})
  t.match(remote.fault, {reason: 'address-missing', node: 'node-1', direction: 'forward', device: 'eth0'})
  t.equal(remote.fault!.hop, here.fault!.hop, 'at the same hop as locally')
})

t.test('an agent that is unreachable, or not trusted, is named with why', async (t) => {
  const opts = agentOpts()
  const down = await traceVia({agentUrls: {...opts.agentUrls, 'node-1': 'https://127.0.0.1:1'}})
  t.equal(down.verdict, 'unknown', 'verdict', {trace: summary(down)})
  t.equal(down.fault, undefined)
  t.ok(down.unreadable?.length)
  t.ok(
    down.unreadable!.every((u) => u.node === 'node-1' && /127\.0\.0\.1:1: .*ECONNREFUSED/.test(u.reason)),
    'node-1, refused',
    {unreadable: down.unreadable},
  )
  const untrusted = await traceVia({agentFingerprints: {'node-0': opts.agentFingerprints!['node-0']!}})
  t.equal(untrusted.verdict, 'unknown', 'verdict', {trace: summary(untrusted)})
  t.match(untrusted.unreadable, [
    {
      node: 'node-1',
      reason:
        /no way to trust its certificate: the kubeconfig names no CA; give --agent-ca or --agent-fingerprint node-1=/,
    },
  ])
  const wrongPin = await traceVia({agentFingerprints: {...opts.agentFingerprints, 'node-1': 'AB:CD'}})
  t.equal(wrongPin.verdict, 'unknown')
  t.match(wrongPin.unreadable, [{node: 'node-1', reason: /certificate fingerprint .* is not the expected AB:CD/}])
})

t.test('an agent that accepts the connection and never answers is an unreadable node', async (t) => {
  const {createServer} = await import('node:net')
  const held: import('node:net').Socket[] = []
  const silent = createServer((s) => held.push(s))
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of held) s.destroy()
        silent.close(() => resolve())
      }),
  )
  const port = (silent.address() as import('node:net').AddressInfo).port
  const opts = agentOpts()
  const r = await traceVia({
    agentUrls: {...opts.agentUrls, 'node-1': `https://127.0.0.1:${port}`},
    agentConnectTimeoutMs: 300,
  })
  t.equal(r.verdict, 'unknown', 'verdict', {trace: summary(r)})
  t.equal(r.fault, undefined)
  t.match(r.unreadable, [{node: 'node-1', reason: /TLS connection timed out/}])
})

t.test('an agent that stops answering before the observation leaves the live probes unread', async (t) => {
  const real = agents.access
  // node-0's agent answers the first probe, which fails (as on a broken path), then times out.
  let probes = 0
  const flaky = (n: string): NodeAccess => {
    const a = real.get(n)!
    if (n !== 'node-0') return a
    return Object.assign(Object.create(a) as NodeAccess, {
      async probe(body: Parameters<NodeAccess['probe']>[0]) {
        if (++probes > 1) throw new Error('https://127.0.0.1:1: TLS connection timed out')
        const answer = await a.probe(body)
        return {...answer, outcomes: answer.outcomes.map((o) => ({...o, ok: false}))}
      },
    })
  }
  const ep = (key: string) => {
    const {ns: _ns, hostVeth: _hv, nodeNs: _nn, ...p} = lab.pods[key]!
    return {...p, netnsPath: '', ifname: 'eth0'}
  }
  const r = await traceBetween(agents.topology, ep('0a'), ep('1a'), {accessFor: (n) => flaky(n.name)})
  t.ok(probes >= 2, 'the probe was re-sent for the observation')
  t.equal(r.verdict, 'unknown', 'verdict', {trace: summary(r)})
  t.equal(r.fault, undefined)
  t.match(r.unreadable, [
    {node: 'node-0', what: 'live probes', reason: /agent: .*TLS connection timed out/},
    {node: 'node-1', what: 'live probes', reason: /agent: .*TLS connection timed out/},
  ])
})

t.test('with no pin nor --agent-ca, an agent is trusted through the cluster CA of the kubeconfig only', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cnidbg-trace-agents-ca-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  // A cluster CA, and the API server's certificate it signs (for 127.0.0.1, as the agents listen).
  const pki = {
    dir,
    tlsCert: join(dir, 'apiserver.crt'),
    tlsKey: join(dir, 'apiserver.key'),
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
  }
  await writeServingCert(pki)
  const withCa = join(dir, 'kubeconfig')
  server.writeKubeconfig(withCa, {certificateAuthorityData: readFileSync(pki.caCert).toString('base64')})
  // node-1's agent served again, with a certificate the cluster CA issued for an agent's CSR.
  const signer = new CsrSigner({certFile: pki.caCert, keyFile: pki.caKey})
  const issue = async (cn: string) => {
    const {key, csr} = await newKeyAndCsr(cn, ['127.0.0.1'])
    return {cert: await signer.sign(csr, await signer.inspect(csr), ['digital signature', 'server auth']), key}
  }
  const node1 = lab.nodes.find((n) => n.name === 'node-1')!
  const serve = async (tls: {cert: string | Buffer; key: string | Buffer}) => {
    const s = await startAgentServer({
      node: 'node-1',
      ops: new AgentOps({
        node: 'node-1',
        nodeNetns: `/run/netns/${node1.ns}`,
        scan: {procs: false, only: (name) => name.startsWith(`cnidbg-trc-${lab.id}-`)},
      }),
      gate: new Gate(reviewer, {node: 'node-1'}),
      host: '127.0.0.1',
      port: 0,
      tls,
    })
    t.teardown(() => s.close())
    return s
  }
  const opts = agentOpts()
  const via = (url: string) =>
    traceVia({
      kubeconfig: withCa,
      agentUrls: {...opts.agentUrls, 'node-1': url},
      agentFingerprints: {'node-0': opts.agentFingerprints!['node-0']!},
    })

  const selfSigned = await via(opts.agentUrls!['node-1']!)
  t.equal(selfSigned.verdict, 'unknown', 'a self-signed agent: unknown', {trace: summary(selfSigned)})
  t.equal(selfSigned.fault, undefined)
  t.match(selfSigned.unreadable, [
    {node: 'node-1', reason: /certificate not trusted by the cluster CA of the kubeconfig: self-signed certificate/},
  ])

  const issued = await serve(await issue('cnidbg-agent:node-1'))
  const trusted = await via(issued.url)
  t.equal(trusted.verdict, 'reachable', 'an agent whose certificate the cluster CA issued: read', {
    trace: summary(trusted),
  })
  t.equal(trusted.unreadable, undefined)

  // The CA signs other certificates for that address (here the API server's): not an agent's.
  const other = await serve({cert: readFileSync(pki.tlsCert), key: readFileSync(pki.tlsKey)})
  const notAgent = await via(other.url)
  t.equal(notAgent.verdict, 'unknown', 'another certificate of the same CA: unknown', {trace: summary(notAgent)})
  t.match(notAgent.unreadable, [
    {
      node: 'node-1',
      reason: /certificate not trusted by the cluster CA .*CN=cnidbg-lab-apiserver, not CN=cnidbg-agent:node-1/,
    },
  ])
})
