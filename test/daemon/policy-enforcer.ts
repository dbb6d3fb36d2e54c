/**
 * The daemon's NetworkPolicy switch and reconcile, against a small fake API server (list + watch of
 * NetworkPolicies and Namespaces over loopback HTTP) and a real filter table in one test namespace:
 * a 404 keeps enforcement off and removes chains left from before; a served resource is watched and
 * a new or deleted policy reprograms the chains; mode off never asks.
 */
import {randomBytes} from 'node:crypto'
import {createServer, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

import t from 'tap'

import {KubeConfig, type V1NetworkPolicy, type V1Pod} from '../../src/kube/client.js'
import {createNetns, deleteNetns, runInNetns} from '../../src/netns/index.js'
import {applyPolicies, readFilterTable} from '../../src/daemon/policy-apply.js'
import {compilePolicies} from '../../src/daemon/policy-compile.js'
import {PolicyEnforcer, type PolicyMode} from '../../src/daemon/policy-enforcer.js'
import {eventually} from '../helpers/daemon-lab.js'

const NS = `cnidbg-netpol-${randomBytes(3).toString('hex')}-e`
const NP_PATH = '/apis/networking.k8s.io/v1/networkpolicies'
const NS_PATH = '/api/v1/namespaces'

const PODS: V1Pod[] = [
  {
    metadata: {namespace: 'default', name: 'web', labels: {app: 'web'}},
    spec: {nodeName: 'node-0', containers: [{name: 'c'}]},
    status: {phase: 'Running', podIP: '10.244.0.10'},
  },
  {
    metadata: {namespace: 'default', name: 'client', labels: {app: 'client'}},
    spec: {nodeName: 'node-1', containers: [{name: 'c'}]},
    status: {phase: 'Running', podIP: '10.244.1.10'},
  },
]
const denyAll = (name: string): V1NetworkPolicy => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: {namespace: 'default', name, resourceVersion: '2', uid: name},
  spec: {podSelector: {matchLabels: {app: 'web'}}, policyTypes: ['Ingress']},
})
/** As the API's JSON has it (`from`), which a list turns into client-node's `_from` and a watch does not. */
const fromClient = (name: string): V1NetworkPolicy => ({
  ...denyAll(name),
  spec: {
    podSelector: {matchLabels: {app: 'web'}},
    ingress: [{from: [{podSelector: {matchLabels: {app: 'client'}}}]} as never],
  },
})

interface Fake {
  kc: KubeConfig
  requests: string[]
  served: boolean
  policies: V1NetworkPolicy[]
  /** Sends a watch event to every open NetworkPolicy watch. */
  event(type: 'ADDED' | 'DELETED', p: V1NetworkPolicy): void
}

async function fakeApi(t: {teardown: (fn: () => unknown) => void}, served: boolean): Promise<Fake> {
  const watches: ServerResponse[] = []
  let rv = 10
  const fake: Fake = {
    kc: new KubeConfig(),
    requests: [],
    served,
    policies: [],
    event(type, p) {
      rv++
      for (const w of watches)
        w.write(`${JSON.stringify({type, object: {...p, metadata: {...p.metadata, resourceVersion: String(rv)}}})}\n`)
    },
  }
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    fake.requests.push(url.pathname)
    const send = (code: number, body: unknown) => {
      res.writeHead(code, {'content-type': 'application/json'})
      res.end(JSON.stringify(body))
    }
    const notFound = () =>
      send(404, {kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404})
    const watching = url.searchParams.get('watch') === 'true'
    if (url.pathname === NP_PATH && fake.served) {
      if (watching) {
        res.writeHead(200, {'content-type': 'application/json'})
        res.flushHeaders()
        watches.push(res)
        return
      }
      return send(200, {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicyList',
        metadata: {resourceVersion: String(rv)},
        items: fake.policies,
      })
    }
    if (url.pathname === NS_PATH && fake.served) {
      if (watching) {
        res.writeHead(200, {'content-type': 'application/json'})
        res.flushHeaders()
        watches.push(res)
        return
      }
      return send(200, {
        apiVersion: 'v1',
        kind: 'NamespaceList',
        metadata: {resourceVersion: String(rv)},
        items: [{metadata: {name: 'default'}}],
      })
    }
    notFound()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  fake.kc.loadFromOptions({
    clusters: [{name: 'fake', server: `http://127.0.0.1:${port}`, skipTLSVerify: true}],
    users: [{name: 'u'}],
    contexts: [{name: 'c', cluster: 'fake', user: 'u'}],
    currentContext: 'c',
  })
  t.teardown(async () => {
    for (const w of watches) w.destroy()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return fake
}

function enforcer(
  t: {teardown: (fn: () => unknown) => void},
  fake: Fake,
  mode: PolicyMode = 'auto',
  driftMs?: number,
): PolicyEnforcer {
  const e = new PolicyEnforcer({
    driftMs,
    kc: fake.kc,
    nodeName: 'node-0',
    netns: NS,
    mode,
    pods: () => PODS,
    podsSynced: () => true,
    log: () => {},
    informer: {backoffInitialMs: 100, backoffMaxMs: 500, resyncMs: 0},
  })
  t.teardown(() => e.stop())
  return e
}

t.before(() => createNetns(NS))
t.teardown(() => deleteNetns(NS))

t.test('404 on list: enforcement off, chains from before removed', async (t) => {
  const fake = await fakeApi(t, false)
  // Chains a run left when the resource was served.
  const old = compilePolicies({nodeName: 'node-0', policies: [denyAll('old')], pods: PODS, namespaces: []})
  await applyPolicies(NS, old)
  t.match(await readFilterTable(NS), /CNIDBG-NP-FORWARD/)
  const e = enforcer(t, fake)
  e.start()
  await eventually('probed', () => e.status().state === 'not-served')
  await e.settled()
  t.match(e.status(), {mode: 'auto', state: 'not-served', detail: /404/})
  t.ok(e.ok, 'healthy')
  t.notMatch(await readFilterTable(NS), /CNIDBG-NP-/, 'nothing of ours left')
  t.same(fake.requests, [NP_PATH], 'one list, no watch')
})

t.test('served: watched, and a change reprograms the chains', async (t) => {
  const fake = await fakeApi(t, true)
  fake.policies = [denyAll('deny-all'), fromClient('from-list')]
  const e = enforcer(t, fake)
  e.start()
  await eventually('enforcing', () => e.status().state === 'enforcing')
  t.equal(e.status().namespacesServed, true)
  const table = await readFilterTable(NS)
  t.match(table, /default-deny ingress default\/web by default\/deny-all,default\/from-list/)
  t.match(table, /-s 10\.244\.1\.10\/32 -m comment --comment "cnidbg-policy default\/from-list ingress rule 0"/)
  t.same(
    e.summary().pods.map((p) => [p.pod, p.ingress?.policies]),
    [['default/web', ['default/deny-all', 'default/from-list']]],
  )

  fake.event('ADDED', fromClient('from-watch'))
  await eventually('the watched policy programmed', async () =>
    /-s 10\.244\.1\.10\/32 -m comment --comment "cnidbg-policy default\/from-watch ingress rule 0"/.test(
      await readFilterTable(NS),
    ),
  )
  for (const name of ['deny-all', 'from-list', 'from-watch']) fake.event('DELETED', denyAll(name))
  await eventually('all removed', async () => !/CNIDBG-NP-/.test(await readFilterTable(NS)))
  // The table can read clean before the enforcer has heard that its iptables-restore exited: the
  // report of that apply is in once the reconcile has settled.
  await e.settled()
  t.equal(e.status().lastApply?.pods, 0)
})

t.test('drift: the timer puts back a chain of ours that was flushed, and the FORWARD jump', async (t) => {
  const fake = await fakeApi(t, true)
  fake.policies = [denyAll('deny-all')]
  // A drift check on every tick: the test calls tick() itself.
  const e = enforcer(t, fake, 'auto', 0)
  e.start()
  await eventually('enforcing', () => e.status().state === 'enforcing')
  // Without iptables-save's dated header.
  const rules = async () => (await readFilterTable(NS)).replace(/^#.*\n/gm, '')
  const want = await rules()
  t.match(want, /-A FORWARD .*-j CNIDBG-NP-FORWARD/)
  for (const args of [
    ['-F', 'CNIDBG-NP-FORWARD'],
    ['-D', 'FORWARD', '-m', 'comment', '--comment', 'cnidbg-policy enforcement', '-j', 'CNIDBG-NP-FORWARD'],
  ]) {
    t.equal((await runInNetns({name: NS}, 'iptables', ['-w', '5', ...args])).exitCode, 0, `iptables ${args.join(' ')}`)
  }
  t.notMatch(await rules(), /-A FORWARD .*-j CNIDBG-NP-FORWARD|-A CNIDBG-NP-FORWARD/, 'broken by hand')
  e.tick()
  await e.settled()
  t.equal(await rules(), want, 'the table is as the policies want it again')
})

t.test('nothing to enforce: the timer reads no filter table', async (t) => {
  const fake = await fakeApi(t, true)
  const e = enforcer(t, fake, 'auto', 0)
  e.start()
  await eventually('enforcing', () => e.status().state === 'enforcing')
  await e.settled()
  const last = e.status().lastApply
  t.equal(last?.pods, 0, 'no pod of this node is selected')
  e.tick()
  await e.settled()
  t.equal(e.status().lastApply, last, 'no drift check ran')
  // A policy that selects a pod here arms the timer again.
  fake.event('ADDED', denyAll('deny-all'))
  await eventually('enforcing the policy', () => e.status().lastApply?.pods === 1)
  await e.settled()
  const armed = e.status().lastApply
  e.tick()
  await e.settled()
  t.not(e.status().lastApply, armed, 'a drift check ran')
})

t.test('off: never lists, never writes', async (t) => {
  const fake = await fakeApi(t, true)
  const e = enforcer(t, fake, 'off')
  e.start()
  e.request()
  await e.settled()
  t.equal(e.status().state, 'off')
  t.same(fake.requests, [])
})
