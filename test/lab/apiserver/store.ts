import fs from 'node:fs'
import path from 'node:path'

import t, {type Test} from 'tap'

import type {K8sObject} from '../../../src/lab/apiserver/resources.js'
import {ApiError} from '../../../src/lab/apiserver/status.js'
import {Store, type WatchEvent} from '../../../src/lab/apiserver/store.js'

const pod = (name: string, extra: Partial<K8sObject> = {}): K8sObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {name, labels: {app: 'web'}},
  spec: {nodeName: 'n1', containers: [{name: 'c', image: 'none'}]},
  ...extra,
})

function apiError(t: Test, fn: () => unknown, code: number, reason: string): void {
  try {
    fn()
    t.fail(`expected a ${code} ${reason}`)
  } catch (e) {
    t.ok(e instanceof ApiError, 'an ApiError')
    t.match(e, {code, reason}, `${code} ${reason}: ${(e as Error).message}`)
  }
}

t.test('a new store has the system namespaces and a resourceVersion per write', async (t) => {
  const s = new Store()
  t.same(
    s.list('namespaces').items.map((n) => n.metadata.name),
    ['default', 'kube-node-lease', 'kube-public', 'kube-system'],
  )
  t.equal(s.resourceVersion, 4)
  const ns = s.get('namespaces', undefined, 'default') as K8sObject
  t.equal(ns.status?.phase, 'Active')
  t.equal(ns.metadata.labels?.['kubernetes.io/metadata.name'], 'default')
})

t.test('create sets server metadata and defaults; pod status starts Pending', async (t) => {
  const s = new Store({now: () => Date.parse('2024-05-06T07:08:09.123Z')})
  const created = s.create('pods', 'default', pod('a', {status: {phase: 'Running', podIP: '1.2.3.4'}}))
  t.match(created.metadata, {
    name: 'a',
    namespace: 'default',
    generation: 1,
    resourceVersion: '5',
    creationTimestamp: '2024-05-06T07:08:09Z',
  })
  t.match(created.metadata.uid, /^[0-9a-f-]{36}$/)
  t.same(created.status, {phase: 'Pending'}, 'status is the server’s on create')
  t.equal(created.spec?.restartPolicy, 'Always')
  created.metadata.labels = {changed: 'yes'}
  t.same(s.get('pods', 'default', 'a')?.metadata.labels, {app: 'web'}, 'returned objects are copies')
})

t.test('create errors: AlreadyExists, Invalid, missing namespace, mismatched namespace, kind', async (t) => {
  const s = new Store()
  s.create('pods', 'default', pod('a'))
  apiError(t, () => s.create('pods', 'default', pod('a')), 409, 'AlreadyExists')
  apiError(t, () => s.create('pods', 'default', pod('Not_Valid')), 422, 'Invalid')
  apiError(t, () => s.create('pods', 'default', {metadata: {}}), 422, 'Invalid')
  apiError(t, () => s.create('pods', 'nope', pod('b')), 404, 'NotFound')
  apiError(
    t,
    () => s.create('pods', 'default', pod('c', {metadata: {name: 'c', namespace: 'kube-system'}})),
    400,
    'BadRequest',
  )
  apiError(t, () => s.create('pods', 'default', {kind: 'Node', metadata: {name: 'x'}}), 400, 'BadRequest')
  apiError(t, () => s.create('nodes', undefined, {metadata: {name: 'n', labels: {'bad key': 'v'}}}), 422, 'Invalid')
  try {
    s.create('pods', 'default', pod('UPPER'))
  } catch (e) {
    t.match((e as ApiError).toStatus(), {
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'Invalid',
      code: 422,
      details: {kind: 'Pod', causes: [{field: 'metadata.name', reason: 'FieldValueInvalid'}]},
    })
  }
})

t.test('generateName picks a fresh name', async (t) => {
  const s = new Store()
  const a = s.create('pods', 'default', {metadata: {generateName: 'web-'}})
  const b = s.create('pods', 'default', {metadata: {generateName: 'web-'}})
  t.match(a.metadata.name, /^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/)
  t.not(a.metadata.name, b.metadata.name)
})

t.test('update: optimistic concurrency, status kept out of the main resource, generation', async (t) => {
  const s = new Store()
  const a = s.create('pods', 'default', pod('a'))
  const stale = structuredClone(a)
  a.metadata.labels = {app: 'web', v: '2'}
  a.status = {phase: 'Failed'}
  const u = s.update('pods', 'default', 'a', a)
  t.equal(u.metadata.labels?.v, '2')
  t.equal(u.status?.phase, 'Pending', 'PUT on the main resource does not change status')
  t.equal(u.metadata.generation, 1, 'metadata-only change keeps generation')
  t.ok(Number(u.metadata.resourceVersion) > Number(stale.metadata.resourceVersion))
  apiError(t, () => s.update('pods', 'default', 'a', stale), 409, 'Conflict')

  const spec = structuredClone(u)
  ;(spec.spec as Record<string, unknown>).activeDeadlineSeconds = 5
  t.equal(s.update('pods', 'default', 'a', spec).metadata.generation, 2, 'a spec change bumps generation')

  const st = s.get('pods', 'default', 'a') as K8sObject
  st.status = {phase: 'Running', podIP: '10.0.0.9'}
  ;(st.spec as Record<string, unknown>).nodeName = 'elsewhere'
  const viaStatus = s.update('pods', 'default', 'a', st, {subresource: 'status'})
  t.equal(viaStatus.status?.podIP, '10.0.0.9')
  t.equal(viaStatus.spec?.nodeName, 'n1', 'the status subresource does not change spec')

  const rv = s.resourceVersion
  const same = s.get('pods', 'default', 'a') as K8sObject
  delete same.metadata.resourceVersion
  s.update('pods', 'default', 'a', same)
  t.equal(s.resourceVersion, rv, 'a write that changes nothing is not a new resourceVersion')

  apiError(t, () => s.update('pods', 'default', 'zz', pod('zz')), 404, 'NotFound')
  apiError(t, () => s.update('pods', 'default', 'a', pod('b')), 400, 'BadRequest')
})

t.test('patch: merge, strategic (keyed lists), json, and their errors', async (t) => {
  const s = new Store()
  s.create('nodes', undefined, {
    metadata: {name: 'n1'},
    status: {
      conditions: [
        {type: 'MemoryPressure', status: 'False'},
        {type: 'Ready', status: 'False'},
      ],
    },
  })
  const merged = s.patch('nodes', undefined, 'n1', 'merge', {metadata: {annotations: {a: '1'}}})
  t.same(merged.metadata.annotations, {a: '1'})
  // What a kubelet sends: one condition changed, the order pinned with $setElementOrder.
  const smp = s.patch(
    'nodes',
    undefined,
    'n1',
    'strategic',
    {
      status: {
        '$setElementOrder/conditions': [{type: 'MemoryPressure'}, {type: 'Ready'}],
        conditions: [{type: 'Ready', status: 'True', reason: 'KubeletReady'}],
      },
    },
    {subresource: 'status'},
  )
  t.same(smp.status?.conditions, [
    {type: 'MemoryPressure', status: 'False'},
    {type: 'Ready', status: 'True', reason: 'KubeletReady'},
  ])
  const viaMain = s.patch('nodes', undefined, 'n1', 'merge', {status: {conditions: []}})
  t.equal((viaMain.status?.conditions as unknown[]).length, 2, 'status patches through the main resource are ignored')
  const jp = s.patch('nodes', undefined, 'n1', 'json', [
    {op: 'add', path: '/metadata/labels', value: {'kubernetes.io/hostname': 'n1'}},
  ])
  t.same(jp.metadata.labels, {'kubernetes.io/hostname': 'n1'})
  apiError(
    t,
    () => s.patch('nodes', undefined, 'n1', 'json', [{op: 'test', path: '/metadata/name', value: 'x'}]),
    422,
    'Invalid',
  )
  apiError(t, () => s.patch('nodes', undefined, 'n1', 'merge', {metadata: {resourceVersion: '1'}}), 409, 'Conflict')
  apiError(t, () => s.patch('nodes', undefined, 'n1', 'merge', {metadata: {name: 'other'}}), 422, 'Invalid')
  apiError(t, () => s.patch('nodes', undefined, 'missing', 'merge', {}), 404, 'NotFound')
})

t.test('delete: DELETED with a new resourceVersion, preconditions, protected namespaces', async (t) => {
  const s = new Store()
  const a = s.create('pods', 'default', pod('a'))
  apiError(t, () => s.delete('pods', 'default', 'a', {preconditions: {uid: 'other'}}), 409, 'Conflict')
  const gone = s.delete('pods', 'default', 'a', {preconditions: {uid: a.metadata.uid}})
  t.equal(gone.metadata.resourceVersion, String(s.resourceVersion))
  t.equal(s.get('pods', 'default', 'a'), undefined)
  apiError(t, () => s.delete('pods', 'default', 'a'), 404, 'NotFound')
  apiError(t, () => s.delete('namespaces', undefined, 'default'), 403, 'Forbidden')
  s.create('namespaces', undefined, {metadata: {name: 'lab'}})
  s.create('pods', 'lab', pod('p'))
  s.delete('namespaces', undefined, 'lab')
  t.equal(s.get('pods', 'lab', 'p'), undefined, 'deleting a namespace deletes its pods')
  s.create('pods', 'default', pod('x', {metadata: {name: 'x', labels: {del: 'y'}}}))
  s.create('pods', 'default', pod('y'))
  t.same(
    s.deleteCollection('pods', {namespace: 'default', labelSelector: 'del'}).map((p) => p.metadata.name),
    ['x'],
  )
  t.same(
    s.list('pods').items.map((p) => p.metadata.name),
    ['y'],
  )
})

t.test('list: selectors, sorting, pagination at a fixed resourceVersion, Exact', async (t) => {
  const s = new Store()
  s.create('namespaces', undefined, {metadata: {name: 'other'}})
  for (const [ns, name, node, app] of [
    ['default', 'b', 'n1', 'web'],
    ['default', 'a', 'n2', 'db'],
    ['other', 'c', 'n1', 'web'],
    ['default', 'd', 'n1', 'cache'],
  ]) {
    s.create('pods', ns, {metadata: {name, labels: {app}}, spec: {nodeName: node}})
  }
  const names = (r: {items: K8sObject[]}) => r.items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)
  t.same(names(s.list('pods')), ['default/a', 'default/b', 'default/d', 'other/c'])
  t.same(names(s.list('pods', {namespace: 'default'})), ['default/a', 'default/b', 'default/d'])
  t.same(names(s.list('pods', {fieldSelector: 'spec.nodeName=n1'})), ['default/b', 'default/d', 'other/c'])
  t.same(names(s.list('pods', {fieldSelector: 'spec.nodeName=n1,metadata.namespace!=other'})), [
    'default/b',
    'default/d',
  ])
  t.same(names(s.list('pods', {labelSelector: 'app in (web,db)'})), ['default/a', 'default/b', 'other/c'])
  t.same(names(s.list('pods', {labelSelector: 'app notin (web),app'})), ['default/a', 'default/d'])
  t.same(names(s.list('pods', {fieldSelector: 'status.phase=Pending', labelSelector: 'app!=web'})), [
    'default/a',
    'default/d',
  ])
  apiError(t, () => s.list('pods', {fieldSelector: 'spec.bogus=1'}), 400, 'BadRequest')
  apiError(t, () => s.list('pods', {labelSelector: 'app in web'}), 400, 'BadRequest')

  const p1 = s.list('pods', {limit: 2})
  t.same(names(p1), ['default/a', 'default/b'])
  t.equal(p1.remainingItemCount, 2)
  s.create('pods', 'default', {metadata: {name: 'c0'}})
  s.delete('pods', 'default', 'd')
  const p2 = s.list('pods', {limit: 2, continue: p1.continue})
  t.same(names(p2), ['default/d', 'other/c'], 'the next page is read at the first page’s resourceVersion')
  t.equal(p2.resourceVersion, p1.resourceVersion)
  t.equal(p2.continue, undefined)
  t.same(
    names(s.list('pods', {resourceVersion: p1.resourceVersion, resourceVersionMatch: 'Exact'})),
    ['default/a', 'default/b', 'default/d', 'other/c'],
    'Exact rebuilds the state at that resourceVersion',
  )
  t.same(names(s.list('pods')), ['default/a', 'default/b', 'default/c0', 'other/c'])
  apiError(t, () => s.list('pods', {resourceVersion: String(s.resourceVersion + 5)}), 504, 'Timeout')
  apiError(t, () => s.list('pods', {continue: 'garbage'}), 400, 'BadRequest')
})

t.test('watch: initial state, replay from a resourceVersion, selector transitions, 410 past the window', async (t) => {
  const s = new Store({historySize: 3})
  const seen: WatchEvent[] = []
  const types = () => seen.map((e) => `${e.type}:${(e.object as K8sObject).metadata.name}`)
  s.create('pods', 'default', pod('a'))
  const rvA = s.resourceVersion
  const stop = s.watch('pods', {labelSelector: 'app=web'}, (e) => seen.push(e))
  t.same(types(), ['ADDED:a'], 'no resourceVersion: the current state first')
  s.create('pods', 'default', pod('b', {metadata: {name: 'b', labels: {app: 'db'}}}))
  s.patch('pods', 'default', 'b', 'merge', {metadata: {labels: {app: 'web'}}})
  s.patch('pods', 'default', 'a', 'merge', {metadata: {labels: {app: 'db'}}})
  s.delete('pods', 'default', 'b')
  t.same(types(), ['ADDED:a', 'ADDED:b', 'DELETED:a', 'DELETED:b'], 'entering/leaving the selector is ADDED/DELETED')
  stop()
  s.create('pods', 'default', pod('c'))
  t.equal(seen.length, 4, 'no events after stop')
  t.equal(s.listenerCount('event'), 0)

  seen.length = 0
  const stop2 = s.watch('pods', {resourceVersion: String(s.resourceVersion - 2)}, (e) => seen.push(e))
  t.same(types(), ['DELETED:b', 'ADDED:c'], 'replays the events after the resourceVersion')
  stop2()
  t.ok(s.oldestResumableVersion > rvA)
  try {
    s.watch('pods', {resourceVersion: String(rvA)}, () => {})
    t.fail('expected 410')
  } catch (e) {
    t.match((e as ApiError).toStatus(), {kind: 'Status', code: 410, reason: 'Expired'})
  }
  apiError(t, () => s.watch('pods', {resourceVersion: String(s.resourceVersion + 10)}, () => {}), 410, 'Expired')
  apiError(t, () => s.list('pods', {resourceVersion: String(rvA), resourceVersionMatch: 'Exact'}), 410, 'Expired')
  t.equal(s.listenerCount('event'), 0, 'a failed watch leaves no listener')
})

t.test('events carry frozen objects and the previous version', async (t) => {
  const s = new Store()
  const evs: {type: string; prev?: K8sObject; object: K8sObject}[] = []
  s.on('event', (e) => evs.push(e))
  s.create('nodes', undefined, {metadata: {name: 'n1'}})
  s.patch('nodes', undefined, 'n1', 'merge', {metadata: {labels: {a: 'b'}}})
  t.equal(evs[1].type, 'MODIFIED')
  t.equal(evs[1].prev?.metadata.labels, undefined)
  t.ok(Object.isFrozen(evs[1].object.metadata), 'stored objects are frozen')
  t.throws(() => {
    ;(evs[1].object.metadata as Record<string, unknown>).name = 'x'
  })
})

t.test('snapshot: written after changes, reloaded with the same resourceVersion', async (t) => {
  const dir = t.testdir()
  const file = path.join(dir, 'state', 'api.json')
  const s = new Store({snapshotPath: file, snapshotDelayMs: 10_000})
  s.create('nodes', undefined, {metadata: {name: 'n1'}})
  s.create('pods', 'default', pod('a'))
  t.notOk(fs.existsSync(file), 'debounced: nothing written yet')
  s.close()
  t.ok(fs.existsSync(file), 'close flushes')
  const rv = s.resourceVersion
  const again = new Store({snapshotPath: file})
  t.equal(again.resourceVersion, rv)
  t.equal(again.get('pods', 'default', 'a')?.metadata.uid, s.get('pods', 'default', 'a')?.metadata.uid)
  t.equal(again.list('namespaces').items.length, 4, 'no duplicate system namespaces')
  apiError(t, () => again.watch('pods', {resourceVersion: String(rv - 1)}, () => {}), 410, 'Expired')
  const stop = again.watch('pods', {resourceVersion: String(rv)}, () => {})
  stop()
  again.create('pods', 'default', pod('b'))
  again.flush()
  const text = JSON.parse(fs.readFileSync(file, 'utf8'))
  t.equal(text.resourceVersion, rv + 1)
  fs.writeFileSync(file, '{not json')
  t.throws(() => new Store({snapshotPath: file}), /cannot read apiserver state/)
})

t.test('a failed background snapshot write is reported, not thrown', async (t) => {
  const dir = t.testdir({file: 'not a directory'})
  const s = new Store({snapshotPath: `${dir}/file/state.json`, snapshotDelayMs: 1})
  // The store's write timer is unref'd (it must not keep a process alive), so hold the loop open here.
  const keepAlive = setTimeout(() => {}, 60_000)
  const err = await new Promise<Error>((resolve) => s.once('snapshotError', resolve))
  clearTimeout(keepAlive)
  t.match(err, {code: 'EEXIST'}, 'mkdir of a path that is a file')
  t.throws(() => s.flush(), {code: 'EEXIST'}, 'an explicit flush throws it')
})
