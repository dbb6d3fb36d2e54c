// The lab apiserver with a token file, over HTTP, as local users, kubelets, daemons, kubectl and
// client-node meet it: 401 without a known token (health and version excepted), 403 for a node's or a
// daemon's credential writing outside its node (NodeRestriction), and the admin unrestricted.
// Identities are spelled out here as the token file holds them (docs/lab.md, "Credentials").
import fs from 'node:fs'
import path from 'node:path'

import * as k8s from '../../../src/kube/client.js'
import t from 'tap'

import {startApiServer, type ApiServer} from '../../../src/lab/apiserver/server.js'
import {run} from '../../../src/process/exec.js'
import {nodeObject, podObject, runningStatus} from './helpers/fixtures.js'
import {apiCaller, selfSignedApiCert, type ApiReply} from '../../helpers/apiserver.js'

const TOKENS = {
  admin: 'admin-0123456789abcdef',
  node1: 'node1-kubelet-0123456789',
  node2: 'node2-kubelet-0123456789',
  daemon1: 'node1-daemon-0123456789',
  reader: 'reader-0123456789abcdef',
}
const ENTRIES = [
  {token: TOKENS.admin, user: {name: 'lab-admin', uid: '1', groups: ['system:masters']}},
  {token: TOKENS.node1, user: {name: 'system:node:node1', uid: '2', groups: ['system:nodes']}},
  {token: TOKENS.node2, user: {name: 'system:node:node2', uid: '3', groups: ['system:nodes']}},
  {token: TOKENS.daemon1, user: {name: 'system:cnidbg:daemon:node1', uid: '4', groups: ['system:cnidbg:daemons']}},
  {token: TOKENS.reader, user: {name: 'system:cnidbg:supervisor', uid: '5', groups: []}},
]

const caller = (s: ApiServer, token?: string) => apiCaller(s.url, token)

async function labServer(
  t: {teardown: (fn: () => unknown) => void},
  extra: Pick<Parameters<typeof startApiServer>[0] & {}, 'log' | 'tls'> = {},
) {
  const s = await startApiServer({tokens: ENTRIES, ...extra})
  t.teardown(() => s.close())
  s.store.create('nodes', undefined, nodeObject('node1', '198.18.0.2'))
  s.store.create('nodes', undefined, nodeObject('node2', '198.18.0.3'))
  s.store.create('pods', 'default', podObject('on1', 'node1'))
  s.store.create('pods', 'default', podObject('on2', 'node2'))
  return s
}

const merge = 'application/merge-patch+json'
const podCount = (s: ApiServer) => s.store.list('pods', {}).items.length

t.test('anonymous requests get a 401 Status and change nothing; health and version are open', async (t) => {
  const lines: string[] = []
  const s = await labServer(t, {log: (l) => lines.push(l)})
  const events: string[] = []
  s.store.on('event', (e: {type: string; object: {metadata: {name?: string}}}) =>
    events.push(`${e.type} ${e.object.metadata.name}`),
  )
  const anon = caller(s)
  const before = podCount(s)
  // What a local user would do to make a root kubelet run CNI ADD: a pod bound to a node.
  const post = await anon('POST', '/api/v1/namespaces/default/pods', podObject('evil', 'node1'))
  t.equal(post.status, 401)
  t.match(post.body, {kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Unauthorized', code: 401})
  t.match(await anon('DELETE', '/api/v1/namespaces/default/pods/on1'), {status: 401})
  t.match(await anon('PATCH', '/api/v1/nodes/node1', {metadata: {labels: {x: 'y'}}}, merge), {status: 401})
  t.match(await anon('GET', '/api/v1/pods'), {status: 401, body: {reason: 'Unauthorized'}})
  for (const p of ['/api', '/apis', '/api/v1', '/openapi/v2', '/api/v1/watch/pods?timeoutSeconds=1'])
    t.match(await anon('GET', p), {status: 401}, `GET ${p}`)
  t.equal(podCount(s), before, 'no pod was created')
  t.same(events, [], 'no watch event: no kubelet would have seen an ADD')
  t.ok(s.store.get('pods', 'default', 'on1'), 'the pod is still there')

  for (const p of ['/healthz', '/livez', '/readyz']) t.match(await anon('GET', p), {status: 200, body: 'ok'}, p)
  t.match(await anon('GET', '/version'), {status: 200, body: {gitVersion: /^v1\./}})

  // Tokens, known or not, never reach the server's log.
  await caller(s, TOKENS.node1)('DELETE', '/api/v1/namespaces/default/pods/on2')
  await caller(s, 'not-a-known-token-abc')('GET', '/api/v1/pods')
  await caller(s, TOKENS.admin)('GET', '/api/v1/pods')
  t.ok(lines.length > 10)
  for (const tok of [...Object.values(TOKENS), 'not-a-known-token-abc']) t.notMatch(lines.join('\n'), tok)
})

t.test('a wrong, malformed or partial token is a 401 too', async (t) => {
  const s = await labServer(t)
  const headers = [
    'Bearer wrong',
    `Bearer ${TOKENS.admin}x`,
    `Bearer ${TOKENS.admin.slice(0, -1)}`,
    `Basic ${Buffer.from(`admin:${TOKENS.admin}`).toString('base64')}`,
    TOKENS.admin,
    'Bearer',
    `Bearer ${TOKENS.admin} ${TOKENS.admin}`,
  ]
  for (const h of headers) {
    const r = await fetch(`${s.url}/api/v1/namespaces/default/pods`, {
      method: 'POST',
      headers: {authorization: h, 'content-type': 'application/json'},
      body: JSON.stringify(podObject('evil', 'node1')),
    })
    t.equal(r.status, 401, `Authorization: ${h.replace(/[A-Za-z0-9+/=_-]{12,}/g, '<token>')}`)
    t.match(await r.json(), {kind: 'Status', code: 401})
  }
  t.notOk(s.store.get('pods', 'default', 'evil'))
  // The scheme is case-insensitive (RFC 7235).
  const lower = await fetch(`${s.url}/api/v1/pods`, {headers: {authorization: `bearer ${TOKENS.admin}`}})
  t.equal(lower.status, 200)
})

t.test("node1's credential writes only node1 and the pods bound to it", async (t) => {
  const s = await labServer(t)
  const n1 = caller(s, TOKENS.node1)
  const forbidden = (r: ApiReply, what: string) => {
    t.equal(r.status, 403, what)
    t.match(r.body, {kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403}, what)
    t.match(r.body.message, /User "system:node:node1" cannot/, what)
  }

  // Reading is allowed: a kubelet lists and watches.
  t.match(await n1('GET', '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode1'), {status: 200, body: {kind: 'PodList'}})
  t.match(await n1('GET', '/api/v1/nodes/node2'), {status: 200})

  // Another node's pods and Node.
  forbidden(await n1('POST', '/api/v1/namespaces/default/pods', podObject('new2', 'node2')), 'create a pod on node2')
  forbidden(await n1('POST', '/api/v1/namespaces/default/pods', podObject('unbound', '')), 'create an unbound pod')
  forbidden(await n1('PATCH', '/api/v1/namespaces/default/pods/on2', {metadata: {labels: {a: 'b'}}}, merge), 'patch')
  forbidden(
    await n1('PATCH', '/api/v1/namespaces/default/pods/on2/status', runningStatus('10.244.2.9'), merge),
    'status',
  )
  const on2 = s.store.get('pods', 'default', 'on2')!
  forbidden(await n1('PUT', '/api/v1/namespaces/default/pods/on2', on2), 'update a pod on node2')
  forbidden(await n1('DELETE', '/api/v1/namespaces/default/pods/on2'), 'delete a pod on node2')
  forbidden(await n1('PATCH', '/api/v1/nodes/node2', {metadata: {labels: {a: 'b'}}}, merge), 'patch node2')
  forbidden(await n1('PATCH', '/api/v1/nodes/node2/status', {status: {conditions: []}}, merge), 'patch node2 status')
  forbidden(await n1('DELETE', '/api/v1/nodes/node2'), 'delete node2')
  forbidden(await n1('POST', '/api/v1/nodes', nodeObject('node9', '198.18.0.9')), 'register another node')
  // Its own pod moved onto another node would make that node's kubelet run ADD.
  forbidden(
    await n1('PATCH', '/api/v1/namespaces/default/pods/on1', {spec: {nodeName: 'node2'}}, merge),
    'move its pod to node2',
  )
  forbidden(await n1('DELETE', '/api/v1/namespaces/default/pods'), 'delete every pod')
  forbidden(await n1('POST', '/api/v1/namespaces', {metadata: {name: 'x'}}), 'create a namespace')
  forbidden(await n1('DELETE', '/api/v1/namespaces/kube-node-lease'), 'delete a namespace')
  t.match(s.store.get('pods', 'default', 'on2'), {metadata: {labels: {app: 'web'}}, spec: {nodeName: 'node2'}})
  t.notOk(s.store.get('pods', 'default', 'on2')!.status?.podIP, 'on2 status untouched')
  t.match(s.store.get('pods', 'default', 'on1'), {spec: {nodeName: 'node1'}})
  t.notOk(s.store.get('nodes', undefined, 'node2')!.metadata.labels?.a, 'node2 untouched')
  t.notOk(s.store.get('pods', 'default', 'new2'))
  t.equal(podCount(s), 2)

  // Its own.
  t.match(await n1('PATCH', '/api/v1/namespaces/default/pods/on1/status', runningStatus('10.244.1.5'), merge), {
    status: 200,
    body: {status: {podIP: '10.244.1.5'}},
  })
  t.match(await n1('PATCH', '/api/v1/namespaces/default/pods/on1', {metadata: {labels: {seen: 'yes'}}}, merge), {
    status: 200,
  })
  const on1 = s.store.get('pods', 'default', 'on1')!
  t.match(await n1('PUT', '/api/v1/namespaces/default/pods/on1', on1), {status: 200})
  t.match(await n1('PATCH', '/api/v1/nodes/node1', {metadata: {labels: {ready: 'yes'}}}, merge), {status: 200})
  t.match(await n1('PATCH', '/api/v1/nodes/node1/status', {status: {phase: 'Running'}}, merge), {status: 200})
  t.match(await n1('POST', '/api/v1/namespaces/default/pods', podObject('mirror1', 'node1')), {status: 201})
  t.match(await n1('DELETE', '/api/v1/namespaces/default/pods/mirror1'), {status: 200})
  t.match(s.store.get('nodes', undefined, 'node1'), {metadata: {labels: {ready: 'yes'}}})
  // Its pod CIDR, once set, stays: every daemon routes that range to it. Nor may it delete itself to
  // register again with another one.
  t.match(await n1('PATCH', '/api/v1/nodes/node1', {spec: {podCIDR: '10.244.1.0/24'}}, merge), {status: 200})
  t.match(await n1('PATCH', '/api/v1/nodes/node1', {spec: {podCIDR: '10.244.2.0/24'}}, merge), {
    status: 422,
    body: {reason: 'Invalid'},
  })
  forbidden(await n1('DELETE', '/api/v1/nodes/node1'), 'delete its own Node')
  t.match(s.store.get('nodes', undefined, 'node1'), {spec: {podCIDR: '10.244.1.0/24'}})
})

t.test("a daemon's credential changes only its own Node's cnidbg.dev annotations", async (t) => {
  const s = await labServer(t)
  const d1 = caller(s, TOKENS.daemon1)
  t.match(await d1('GET', '/api/v1/nodes'), {status: 200})
  t.match(await d1('GET', '/api/v1/pods'), {status: 200})
  t.match(
    await d1(
      'PATCH',
      '/api/v1/nodes/node1',
      {metadata: {annotations: {'cnidbg.dev/vtep-mac': '02:00:00:00:00:01'}}},
      merge,
    ),
    {status: 200, body: {metadata: {annotations: {'cnidbg.dev/vtep-mac': '02:00:00:00:00:01'}}}},
  )
  t.match(await d1('PATCH', '/api/v1/nodes/node1', {metadata: {annotations: {'cnidbg.dev/vtep-mac': null}}}, merge), {
    status: 200,
  })
  const refused = [
    await d1('PATCH', '/api/v1/nodes/node2', {metadata: {annotations: {'cnidbg.dev/vtep-mac': 'x'}}}, merge),
    await d1('PATCH', '/api/v1/nodes/node1', {metadata: {labels: {a: 'b'}}}, merge),
    await d1('PATCH', '/api/v1/nodes/node1', {metadata: {annotations: {'other.io/x': 'y'}}}, merge),
    await d1('PATCH', '/api/v1/nodes/node1', {spec: {podCIDR: '10.244.2.0/24'}}, merge),
    await d1('PATCH', '/api/v1/nodes/node1/status', {status: {phase: 'x'}}, merge),
    await d1('DELETE', '/api/v1/nodes/node1'),
    await d1('PATCH', '/api/v1/namespaces/default/pods/on1/status', runningStatus('10.244.1.5'), merge),
    await d1('POST', '/api/v1/namespaces/default/pods', podObject('evil', 'node1')),
  ]
  for (const r of refused) t.match(r, {status: 403, body: {kind: 'Status', reason: 'Forbidden', code: 403}})
  t.same(s.store.get('nodes', undefined, 'node1')!.spec, nodeObject('node1', '198.18.0.2').spec)
  t.notOk(s.store.get('nodes', undefined, 'node1')!.metadata.labels?.a)
  t.notOk(s.store.get('pods', 'default', 'evil'))
})

t.test('a credential in no write group only reads; the admin does anything', async (t) => {
  const s = await labServer(t)
  const reader = caller(s, TOKENS.reader)
  t.match(await reader('GET', '/api/v1/nodes'), {status: 200, body: {kind: 'NodeList'}})
  t.match(await reader('POST', '/api/v1/namespaces/default/pods', podObject('evil', 'node1')), {
    status: 403,
    body: {reason: 'Forbidden'},
  })
  t.match(await reader('PATCH', '/api/v1/nodes/node1', {metadata: {labels: {a: 'b'}}}, merge), {status: 403})
  const admin = caller(s, TOKENS.admin)
  t.match(await admin('PATCH', '/api/v1/namespaces/default/pods/on2', {spec: {nodeName: 'node1'}}, merge), {
    status: 200,
  })
  t.match(await admin('DELETE', '/api/v1/nodes/node2'), {status: 200})
  t.match(await admin('POST', '/api/v1/namespaces', {metadata: {name: 'x'}}), {status: 201})
  t.match(await admin('DELETE', '/api/v1/namespaces/default/pods'), {status: 200, body: {kind: 'PodList'}})
  t.equal(podCount(s), 0)
})

/** A self-signed loopback certificate, as `lab up` makes one. */

// kubectl sends no credential to a plain-HTTP server (client-go refuses to), hence TLS.
t.test('client-node and kubectl work over TLS with kubeconfigs that carry the tokens', async (t) => {
  const dir = t.testdir()
  const s = await labServer(t, {tls: await selfSignedApiCert(dir)})
  t.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/)
  const kcAdmin = path.join(dir, 'admin')
  const kcNode1 = path.join(dir, 'node1')
  s.writeKubeconfig(kcAdmin)
  s.writeKubeconfig(kcNode1, {token: TOKENS.node1})
  t.match(fs.readFileSync(kcAdmin, 'utf8'), `token: "${TOKENS.admin}"`, 'the default kubeconfig is the admin')

  const client = (file: string) => {
    const kc = new k8s.KubeConfig()
    kc.loadFromFile(file)
    return kc.makeApiClient(k8s.CoreV1Api)
  }
  const core1 = client(kcNode1)
  t.equal((await core1.listPodForAllNamespaces({fieldSelector: 'spec.nodeName=node1'})).items.length, 1)
  const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)
  await core1.patchNamespacedPodStatus(
    {name: 'on1', namespace: 'default', body: runningStatus('10.244.1.7')},
    mergePatch,
  )
  const denied = await core1.deleteNamespacedPod({name: 'on2', namespace: 'default'}).then(
    () => undefined,
    (e: {code?: number}) => e,
  )
  t.equal(denied?.code, 403, 'client-node sees the 403')
  const coreAdmin = client(kcAdmin)
  await coreAdmin.createNamespacedPod({namespace: 'default', body: podObject('made-by-admin', 'node2')})

  const kubectl = (file: string, args: string[], input?: string) =>
    run('kubectl', ['--kubeconfig', file, '--cache-dir', path.join(dir, 'cache'), ...args], {
      input,
      timeoutMs: 120_000,
    })
  const get = await kubectl(kcAdmin, ['get', 'pods', '-o', 'wide'])
  t.equal(get.exitCode, 0, get.stderr)
  t.match(get.stdout, /on1\s.*10\.244\.1\.7/)
  const manifest = JSON.stringify(podObject('applied', 'node2'))
  const apply = await kubectl(kcAdmin, ['apply', '-f', '-'], manifest)
  t.equal(apply.exitCode, 0, apply.stderr)
  t.ok(s.store.get('pods', 'default', 'applied'))
  const del = await kubectl(kcAdmin, ['delete', 'pod', 'applied', '--wait=false'])
  t.equal(del.exitCode, 0, del.stderr)
  t.notOk(s.store.get('pods', 'default', 'applied'))
  const nodeDel = await kubectl(kcNode1, ['delete', 'pod', 'on2', '--wait=false'])
  t.not(nodeDel.exitCode, 0)
  t.match(nodeDel.stderr, /Forbidden|forbidden/)
  t.ok(s.store.get('pods', 'default', 'on2'), 'on2 survives')
  const anonKc = path.join(dir, 'anon')
  s.writeKubeconfig(anonKc, {token: 'wrong-token'})
  const anonGet = await kubectl(anonKc, ['get', 'pods'])
  t.not(anonGet.exitCode, 0)
  t.match(anonGet.stderr, /Unauthorized|must be logged in/)
  t.notMatch(get.stderr + apply.stderr + del.stderr + nodeDel.stderr, TOKENS.admin)
})
