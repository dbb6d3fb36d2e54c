import fs from 'node:fs'
import path from 'node:path'

import * as k8s from '../../../src/kube/client.js'
import t from 'tap'

import {negotiate, startApiServer, type ApiServer} from '../../../src/lab/apiserver/server.js'
import {nodeObject, openWatch, podObject, runningStatus, waitFor} from './helpers/fixtures.js'

const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)
const strategicPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch)

async function started(t: Tap, opts: Parameters<typeof startApiServer>[0] = {}): Promise<ApiServer> {
  const s = await startApiServer(opts)
  t.teardown(() => s.close())
  return s
}
type Tap = {teardown: (fn: () => unknown) => void}

function clientFor(s: ApiServer): {kc: k8s.KubeConfig; core: k8s.CoreV1Api} {
  const kc = new k8s.KubeConfig()
  kc.loadFromString(s.kubeconfigYaml())
  return {kc, core: kc.makeApiClient(k8s.CoreV1Api)}
}

async function apiStatus(p: Promise<unknown>): Promise<Record<string, any>> {
  try {
    await p
  } catch (e) {
    const body = (e as {body?: unknown}).body
    return {httpCode: (e as {code?: number}).code, ...(typeof body === 'string' ? JSON.parse(body) : {})}
  }
  throw new Error('expected the call to fail')
}

/** The local address of the listening socket on `port`, from the kernel's table. */
function listenAddresses(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  const out: string[] = []
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!fs.existsSync(file)) continue
    for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      // st 0A is LISTEN.
      if (f.length > 3 && f[1].endsWith(`:${hexPort}`) && f[3] === '0A') out.push(f[1].split(':')[0])
    }
  }
  return out
}

t.test('listens on 127.0.0.1 only; refuses other hosts', async (t) => {
  const s = await started(t)
  t.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.same(listenAddresses(s.port), ['0100007F'], 'the kernel shows one listener, on 127.0.0.1')
  await t.rejects(startApiServer({host: '0.0.0.0'}), /loopback only/)
  await t.rejects(startApiServer({host: '10.1.2.3'}), /loopback only/)
})

t.test('CoreV1Api: create, list with selectors, patch (merge, strategic, json, status), replace, delete', async (t) => {
  const s = await started(t)
  const {core} = clientFor(s)
  const node = await core.createNode({body: nodeObject('n1', '10.99.0.1') as k8s.V1Node})
  t.equal(node.metadata?.name, 'n1')
  t.equal(
    node.status?.addresses?.[0].address,
    '10.99.0.1',
    'node status is kept on create (kubelets register that way)',
  )
  t.match(node.metadata?.uid, /^[0-9a-f-]{36}$/)

  const created = await core.createNamespacedPod({namespace: 'default', body: podObject('web-1', 'n1') as k8s.V1Pod})
  t.equal(created.status?.phase, 'Pending')
  await core.createNamespacedPod({namespace: 'default', body: podObject('db-1', 'n2', {app: 'db'}) as k8s.V1Pod})
  const gen = await core.createNamespacedPod({
    namespace: 'kube-system',
    body: {metadata: {generateName: 'gen-'}, spec: {containers: [{name: 'c'}]}} as k8s.V1Pod,
  })
  t.match(gen.metadata?.name, /^gen-.{5}$/)

  const all = await core.listPodForAllNamespaces()
  t.equal(all.items.length, 3)
  t.ok(Number(all.metadata?.resourceVersion) >= 8, 'list carries the resourceVersion')
  const web = await core.listNamespacedPod({namespace: 'default', labelSelector: 'app in (web)'})
  t.same(
    web.items.map((p) => p.metadata?.name),
    ['web-1'],
  )
  const onN2 = await core.listPodForAllNamespaces({fieldSelector: 'spec.nodeName=n2'})
  t.same(
    onN2.items.map((p) => p.metadata?.name),
    ['db-1'],
  )
  const paged = await core.listPodForAllNamespaces({limit: 2})
  t.equal(paged.items.length, 2)
  const rest = await core.listPodForAllNamespaces({limit: 2, _continue: paged.metadata?._continue})
  t.equal(rest.items.length, 1)

  const running = await core.patchNamespacedPodStatus(
    {name: 'web-1', namespace: 'default', body: runningStatus('10.244.1.5')},
    mergePatch,
  )
  t.equal(running.status?.podIP, '10.244.1.5')
  t.equal(running.status?.phase, 'Running')
  const labelled = await core.patchNamespacedPod(
    {name: 'web-1', namespace: 'default', body: {metadata: {labels: {tier: 'front'}}}},
    strategicPatch,
  )
  t.same(labelled.metadata?.labels, {app: 'web', tier: 'front'})
  const annotated = await core.patchNode({
    name: 'n1',
    body: [{op: 'add', path: '/metadata/annotations', value: {'cnidbg.io/note': 'x'}}],
  })
  t.equal(annotated.metadata?.annotations?.['cnidbg.io/note'], 'x')
  const cordoned = await core.patchNode({name: 'n1', body: {spec: {unschedulable: true}}}, mergePatch)
  t.equal(cordoned.metadata?.generation, 2, 'a spec change bumps generation')

  const stale = {...created, metadata: {...created.metadata, labels: {stale: 'yes'}}}
  const conflict = await apiStatus(core.replaceNamespacedPod({name: 'web-1', namespace: 'default', body: stale}))
  t.match(conflict, {httpCode: 409, kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Conflict', code: 409})
  const fresh = await core.readNamespacedPod({name: 'web-1', namespace: 'default'})
  fresh.metadata!.labels = {replaced: 'yes'}
  const replaced = await core.replaceNamespacedPod({name: 'web-1', namespace: 'default', body: fresh})
  t.same(replaced.metadata?.labels, {replaced: 'yes'})
  t.equal(replaced.status?.podIP, '10.244.1.5', 'PUT keeps status')

  const exists = await apiStatus(
    core.createNamespacedPod({namespace: 'default', body: podObject('db-1', 'n2') as k8s.V1Pod}),
  )
  t.match(exists, {httpCode: 409, reason: 'AlreadyExists', details: {name: 'db-1', kind: 'pods'}})
  const invalid = await apiStatus(
    core.createNamespacedPod({namespace: 'default', body: podObject('Bad_Name', 'n1') as k8s.V1Pod}),
  )
  t.match(invalid, {httpCode: 422, reason: 'Invalid', details: {causes: [{field: 'metadata.name'}]}})
  const badSel = await apiStatus(core.listNamespacedPod({namespace: 'default', fieldSelector: 'spec.image=x'}))
  t.match(badSel, {httpCode: 400, reason: 'BadRequest', message: /field label not supported/})

  const deleted = await core.deleteNamespacedPod({name: 'db-1', namespace: 'default'})
  t.equal((deleted as k8s.V1Pod).metadata?.name, 'db-1')
  const gone = await apiStatus(core.readNamespacedPod({name: 'db-1', namespace: 'default'}))
  t.match(gone, {httpCode: 404, kind: 'Status', reason: 'NotFound', message: 'pods "db-1" not found', code: 404})
  const ns = await core.readNamespace({name: 'kube-system'})
  t.equal(ns.status?.phase, 'Active')
  t.equal((await core.listNamespace()).items.length, 4)
})

t.test('informers on pods and nodes see add, update and delete', async (t) => {
  const s = await started(t)
  const {kc, core} = clientFor(s)
  const seen: string[] = []
  const podInf = k8s.makeInformer(kc, '/api/v1/pods', () => core.listPodForAllNamespaces())
  const nodeInf = k8s.makeInformer(kc, '/api/v1/nodes', () => core.listNode())
  const track = (kind: string, inf: k8s.Informer<k8s.KubernetesObject>) => {
    for (const verb of ['add', 'update', 'delete'] as const) {
      inf.on(verb, (o) => seen.push(`${verb} ${kind} ${o.metadata?.name}`))
    }
  }
  track('pod', podInf)
  track('node', nodeInf)
  t.teardown(() => Promise.all([podInf.stop(), nodeInf.stop()]))
  await core.createNode({body: nodeObject('n1', '10.99.0.1') as k8s.V1Node})
  await podInf.start()
  await nodeInf.start()
  await waitFor('both watches', () => s.watchCount === 2)
  t.same(seen, ['add node n1'])
  await core.createNamespacedPod({namespace: 'default', body: podObject('p1', 'n1') as k8s.V1Pod})
  await core.patchNamespacedPodStatus({name: 'p1', namespace: 'default', body: runningStatus('10.244.0.7')}, mergePatch)
  await core.patchNode({name: 'n1', body: {metadata: {labels: {x: 'y'}}}}, mergePatch)
  await core.deleteNamespacedPod({name: 'p1', namespace: 'default'})
  await core.deleteNode({name: 'n1'})
  const want = ['add node n1', 'add pod p1', 'update pod p1', 'update node n1', 'delete pod p1', 'delete node n1']
  await waitFor('all events', () => seen.length >= want.length)
  t.same(seen, want)
  t.equal(podInf.list().length, 0)
  t.equal(nodeInf.list().length, 0)
})

t.test('an informer survives server restarts: resumes from the snapshot, relists after a 410', async (t) => {
  const dir = t.testdir()
  const state = path.join(dir, 'state.json')
  let server = await startApiServer({snapshotPath: state})
  t.teardown(() => server.close())
  const port = server.port
  const {kc, core} = clientFor(server)
  let lists = 0
  let stopped = false
  const seen: string[] = []
  const inf = k8s.makeInformer(kc, '/api/v1/pods', () => {
    lists++
    return core.listPodForAllNamespaces()
  })
  for (const verb of ['add', 'update', 'delete'] as const) {
    inf.on(verb, (o) => seen.push(`${verb} ${o.metadata?.name}`))
  }
  // client-node's documented pattern: an informer stops on a connection error; start it again.
  inf.on('error', () => {
    if (!stopped) setTimeout(() => !stopped && inf.start(), 50)
  })
  t.teardown(() => {
    stopped = true
    return inf.stop()
  })
  await core.createNamespacedPod({namespace: 'default', body: podObject('before', 'n1') as k8s.V1Pod})
  await inf.start()
  await waitFor('the watch', () => server.watchCount === 1)
  t.equal(lists, 1)

  await server.close()
  server = await startApiServer({port, snapshotPath: state})
  t.equal(server.store.get('pods', 'default', 'before')?.metadata.name, 'before', 'state reloaded from the snapshot')
  server.store.create('pods', 'default', podObject('after', 'n1'))
  await waitFor('the pod created after the restart', () => seen.includes('add after'))
  await waitFor('the watch again', () => server.watchCount === 1)
  t.equal(lists, 1, 'resumed from its resourceVersion: no relist')

  // A server without state starts from resourceVersion 1 again: the informer's is unknown to it.
  await server.close()
  server = await startApiServer({port})
  server.store.create('pods', 'default', podObject('fresh', 'n1'))
  await waitFor('the relist', () => seen.includes('add fresh'))
  t.equal(lists, 2, 'a 410 made it relist')
  t.same(
    seen,
    ['add before', 'add after', 'delete before', 'delete after', 'add fresh'],
    'the relist dropped the pods this server does not have',
  )
})

t.test('discovery: /version, /api, /api/v1, /apis, /openapi/v2, health', async (t) => {
  const s = await started(t, {serverVersion: 'v1.29.3'})
  const get = async (p: string, accept?: string) => {
    const r = await fetch(s.url + p, {headers: accept ? {accept} : {}})
    return {status: r.status, type: r.headers.get('content-type'), text: await r.text()}
  }
  t.match(JSON.parse((await get('/version')).text), {major: '1', minor: '29', gitVersion: 'v1.29.3'})
  t.match(JSON.parse((await get('/api')).text), {kind: 'APIVersions', versions: ['v1']})
  const aggregated =
    'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json'
  const apis = await get('/apis', aggregated)
  t.equal(
    apis.type,
    'application/json',
    'an aggregated-discovery request gets legacy JSON, which client-go falls back on',
  )
  const groups = JSON.parse(apis.text)
  t.match(groups, {kind: 'APIGroupList', apiVersion: 'v1'})
  t.same(
    groups.groups.map((g: {name: string; preferredVersion: {groupVersion: string}}) => g.preferredVersion.groupVersion),
    [
      'apps/v1',
      'discovery.k8s.io/v1',
      'networking.k8s.io/v1',
      'rbac.authorization.k8s.io/v1',
      'certificates.k8s.io/v1',
      'authentication.k8s.io/v1',
      'authorization.k8s.io/v1',
    ],
  )
  const v1 = JSON.parse((await get('/api/v1')).text)
  const byName = Object.fromEntries(v1.resources.map((r: {name: string}) => [r.name, r]))
  t.match(byName.nodes, {
    namespaced: false,
    kind: 'Node',
    shortNames: ['no'],
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
  })
  t.match(byName.pods, {namespaced: true, kind: 'Pod', shortNames: ['po']})
  t.match(byName.namespaces, {namespaced: false, shortNames: ['ns']})
  t.match(byName['pods/status'], {verbs: ['get', 'patch', 'update']})
  const pb = await fetch(`${s.url}/openapi/v2`, {
    headers: {accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf'},
  })
  t.equal(pb.headers.get('content-type'), 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf')
  const bytes = Buffer.from(await pb.arrayBuffer())
  t.equal(bytes.subarray(0, 5).toString('latin1'), '\n\x032.0', 'protobuf field 1 (swagger) = "2.0"')
  t.equal((await get('/openapi/v3')).status, 404)
  t.equal((await get('/healthz')).text, 'ok')
  const missing = await get('/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1')
  t.match(JSON.parse(missing.text), {kind: 'Status', code: 404, reason: 'NotFound'})
})

t.test('HTTP errors are Status objects: 400, 404, 405, 406, 415, and the bearer token', async (t) => {
  const s = await started(t, {token: 'sekret'})
  const call = async (method: string, p: string, init: {body?: string; headers?: Record<string, string>} = {}) => {
    const r = await fetch(s.url + p, {
      method,
      body: init.body,
      headers: {authorization: 'Bearer sekret', ...init.headers},
    })
    const text = await r.text()
    return {status: r.status, body: text.startsWith('{') ? JSON.parse(text) : text}
  }
  const anon = await fetch(`${s.url}/api/v1/nodes`)
  t.equal(anon.status, 401)
  t.match(await anon.json(), {kind: 'Status', reason: 'Unauthorized', code: 401})
  t.equal((await fetch(`${s.url}/api/v1/nodes`, {headers: {authorization: 'Bearer wrong'}})).status, 401)
  t.match(s.kubeconfigYaml(), /token: "sekret"/)
  t.match((await call('GET', '/api/v1/nodes')).body, {kind: 'NodeList', items: []})
  t.match(await call('PUT', '/api/v1/pods'), {status: 405, body: {reason: 'MethodNotAllowed', code: 405}})
  t.match(await call('POST', '/api/v1/pods', {body: '{}'}), {status: 405})
  t.match(await call('GET', '/api/v1/widgets'), {status: 404, body: {kind: 'Status', reason: 'NotFound'}})
  t.match(await call('GET', '/api/v1/nodes/n1/proxy'), {status: 404})
  t.match(await call('POST', '/api/v1/nodes', {body: '{nope', headers: {'content-type': 'application/json'}}), {
    status: 400,
    body: {reason: 'BadRequest'},
  })
  t.match(await call('POST', '/api/v1/nodes', {body: 'kind: Node', headers: {'content-type': 'application/yaml'}}), {
    status: 415,
    body: {reason: 'UnsupportedMediaType'},
  })
  await call('POST', '/api/v1/nodes', {
    body: JSON.stringify(nodeObject('n1', '10.0.0.1')),
    headers: {'content-type': 'application/json'},
  })
  t.match(
    await call('PATCH', '/api/v1/nodes/n1', {body: '{}', headers: {'content-type': 'application/apply-patch+yaml'}}),
    {status: 415},
  )
  t.match(await call('GET', '/api/v1/nodes', {headers: {accept: 'application/vnd.kubernetes.protobuf'}}), {
    status: 406,
    body: {reason: 'NotAcceptable'},
  })
  t.match(await call('POST', '/api/v1/nodes?dryRun=All', {body: '{}', headers: {'content-type': 'application/json'}}), {
    status: 400,
  })
  t.match(await call('DELETE', '/api/v1/nodes/n1', {body: JSON.stringify({preconditions: {uid: 'x'}})}), {
    status: 409,
    body: {reason: 'Conflict'},
  })
  t.match(await call('DELETE', '/api/v1/nodes/n1'), {status: 200, body: {kind: 'Node', metadata: {name: 'n1'}}})
  t.match(await call('DELETE', '/api/v1/namespaces/kube-system'), {status: 403, body: {reason: 'Forbidden'}})
})

t.test('Accept negotiation picks Table, JSON, or refuses', async (t) => {
  t.same(negotiate(undefined), {table: false})
  t.same(
    negotiate(
      'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
    ),
    {
      table: true,
      version: 'v1',
    },
  )
  t.same(negotiate('application/json;as=Table;v=v1beta1;g=meta.k8s.io'), {table: true, version: 'v1beta1'})
  t.same(negotiate('application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io, */*'), {table: false})
  t.throws(() => negotiate('application/vnd.kubernetes.protobuf'), {code: 406})
  const s = await started(t)
  s.store.create('nodes', undefined, nodeObject('n1', '10.99.0.1'))
  const r = await fetch(`${s.url}/api/v1/nodes?includeObject=Object`, {
    headers: {accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json'},
  })
  const table = (await r.json()) as {rows: {cells: unknown[]; object: unknown}[]}
  t.match(table, {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: {resourceVersion: String(s.store.resourceVersion)},
  })
  t.equal(table.rows[0].cells[5], '10.99.0.1', 'INTERNAL-IP cell')
  t.match(table.rows[0].object, {kind: 'Node', metadata: {name: 'n1'}})
})

t.test('watch streams: events, selectors, timeoutSeconds, bookmarks, 410, disconnects, close', async (t) => {
  const s = await started(t, {historySize: 2, bookmarkIntervalMs: 30})
  const store = s.store
  const baseListeners = store.listenerCount('event')
  store.create('pods', 'default', podObject('a', 'n1'))
  const w = openWatch(`${s.url}/api/v1/namespaces/default/pods?watch=true&labelSelector=app%3Dweb`)
  await waitFor('the watch', () => s.watchCount === 1)
  t.equal(await w.status, 200)
  store.create('pods', 'default', podObject('b', 'n1', {app: 'db'}))
  store.patch('pods', 'default', 'a', 'merge', {metadata: {annotations: {x: '1'}}})
  store.delete('pods', 'default', 'a')
  await waitFor('three events', () => w.events.length === 3)
  t.same(
    w.events.map((e) => `${e.type} ${e.object.metadata.name}`),
    ['ADDED a', 'MODIFIED a', 'DELETED a'],
  )
  t.equal(
    w.events[2].object.metadata.resourceVersion,
    String(store.resourceVersion),
    'DELETED carries the deletion resourceVersion',
  )
  w.abort()
  await w.ended
  await waitFor(
    'the server to drop the watcher',
    () => s.watchCount === 0 && store.listenerCount('event') === baseListeners,
  )
  t.pass('a client disconnect removes the watcher')

  const timed = openWatch(`${s.url}/api/v1/pods?watch=1&timeoutSeconds=1&allowWatchBookmarks=true`)
  await timed.ended
  t.ok(
    timed.events.some((e) => e.type === 'BOOKMARK' && e.object.kind === 'Pod'),
    'bookmarks with allowWatchBookmarks',
  )
  t.equal(s.watchCount, 0, 'timeoutSeconds ended the stream')

  const old = openWatch(`${s.url}/api/v1/pods?watch=1&resourceVersion=1`)
  await old.ended
  t.equal(await old.status, 200)
  t.match(
    old.events,
    [{type: 'ERROR', object: {kind: 'Status', code: 410, reason: 'Expired'}}],
    'too old: one ERROR event, then the end',
  )

  const initial = openWatch(
    `${s.url}/api/v1/pods?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1`,
  )
  await initial.ended
  t.match(initial.events.slice(0, 2), [
    {type: 'ADDED', object: {metadata: {name: 'b'}}},
    {type: 'BOOKMARK', object: {metadata: {annotations: {'k8s.io/initial-events-end': 'true'}}}},
  ])

  const table = openWatch(`${s.url}/api/v1/watch/namespaces/default/pods`, {
    accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
  })
  await waitFor('the table watch', () => table.events.length === 1)
  t.match(table.events[0], {type: 'ADDED', object: {kind: 'Table', rows: [{cells: ['b']}]}})
  const bad = await fetch(`${s.url}/api/v1/pods?watch=1&labelSelector=a%20in%20b`)
  t.equal(bad.status, 400, 'a bad selector fails before the stream starts')
  await bad.text()

  const open = openWatch(`${s.url}/api/v1/nodes?watch=1`)
  await waitFor('two watches', () => s.watchCount === 2)
  await s.close()
  await Promise.all([open.ended, table.ended])
  t.pass('close() ends open watches')
  t.equal(store.listenerCount('event'), 0)
})
