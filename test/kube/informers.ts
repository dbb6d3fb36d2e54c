/**
 * WatchedCollection against the lab apiserver: list+watch, 410 Gone → relist, an apiserver outage
 * (the stale cache keeps being served, then a fresh list after the restart), and periodic relists.
 * No namespaces: only HTTP on loopback.
 */
import {CoreV1Api, KubeConfig, type V1Node} from '../../src/kube/client.js'
import t from 'tap'

import {WatchedCollection} from '../../src/kube/informers.js'
import {type ApiServer, startApiServer} from '../../src/lab/apiserver/server.js'
import {Store} from '../../src/lab/apiserver/store.js'
import {eventually} from '../helpers/daemon-lab.js'

const node = (name: string, podCIDR: string) => ({apiVersion: 'v1', kind: 'Node', metadata: {name}, spec: {podCIDR}})

async function setup(t: {teardown: (fn: () => unknown) => void}, opts: {historySize?: number; resyncMs?: number} = {}) {
  const store = new Store({historySize: opts.historySize ?? 1000})
  let api: ApiServer = await startApiServer({store})
  const port = api.port
  const kc = new KubeConfig()
  kc.loadFromString(api.kubeconfigYaml())
  const core = kc.makeApiClient(CoreV1Api)
  let changes = 0
  const logs: string[] = []
  const nodes = new WatchedCollection<V1Node>(kc, '/api/v1/nodes', () => core.listNode(), {
    onChange: () => changes++,
    log: (m) => logs.push(m),
    backoffInitialMs: 100,
    backoffMaxMs: 500,
    resyncMs: opts.resyncMs ?? 0,
  })
  t.teardown(async () => {
    await nodes.stop()
    await api.close()
    store.close()
  })
  return {
    store,
    nodes,
    logs,
    changes: () => changes,
    endWatches: () => api.endWatches(),
    stopApi: () => api.close(),
    startApi: async () => {
      api = await startApiServer({store, port})
    },
  }
}

const names = (c: WatchedCollection<V1Node>) =>
  c
    .list()
    .map((n) => n.metadata!.name)
    .sort()

t.test('lists, then follows add/update/delete through the watch', async (t) => {
  const s = await setup(t)
  s.store.create('nodes', undefined, node('a', '10.244.0.0/24'))
  s.nodes.start()
  await eventually('synced', () => s.nodes.synced)
  t.same(names(s.nodes), ['a'])
  s.store.create('nodes', undefined, node('b', '10.244.1.0/24'))
  s.store.patch('nodes', undefined, 'a', 'merge', {metadata: {annotations: {'cnidbg.dev/node-ip': '198.18.0.1'}}})
  await eventually('b added, a annotated', () => {
    return names(s.nodes).join() === 'a,b' && s.nodes.get('a')?.metadata?.annotations?.['cnidbg.dev/node-ip']
  })
  s.store.delete('nodes', undefined, 'b')
  await eventually('b deleted', () => names(s.nodes).join() === 'a')
  const st = s.nodes.status()
  t.match(st, {synced: true, connected: true, objects: 1, lists: 1, restarts: 0})
  t.ok(st.events >= 3, `watch events seen (${st.events})`)
  t.ok(s.changes() >= 3)
})

t.test('410 Gone on re-watch: relists inside the same informer, no restart', async (t) => {
  const s = await setup(t, {historySize: 5})
  s.store.create('nodes', undefined, node('a', '10.244.0.0/24'))
  s.nodes.start()
  await eventually('synced', () => s.nodes.synced)
  // Pods move the global resourceVersion past the node watch's history window.
  for (let i = 0; i < 20; i++) {
    s.store.create('pods', 'default', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {name: `p${i}`},
      spec: {containers: [{name: 'c', image: 'x'}]},
    })
  }
  const before = s.nodes.status()
  // The apiserver ends every watch (as it does at its watch timeout); resuming is 410 Gone.
  t.ok(s.endWatches() >= 1)
  await eventually('relisted', () => s.nodes.status().lists > before.lists && s.nodes.status().connected)
  t.equal(s.nodes.status().restarts, 0, 'ListWatch handled the 410 itself')
  t.same(names(s.nodes), ['a'])
})

t.test('apiserver outage: the last cache is served, then a fresh list after the restart', async (t) => {
  const s = await setup(t)
  for (const [n, c] of [
    ['a', '10.244.0.0/24'],
    ['b', '10.244.1.0/24'],
  ]) {
    s.store.create('nodes', undefined, node(n!, c!))
  }
  s.nodes.start()
  await eventually('synced', () => s.nodes.synced)
  await s.stopApi()
  await eventually('disconnected noticed', () => !s.nodes.status().connected)
  t.same(names(s.nodes), ['a', 'b'], 'an outage is not "every node was deleted"')
  t.match(s.nodes.status().lastError, /ECONNREFUSED|connect|closed|fetch/i)
  // Changes made while the daemon could not watch.
  s.store.delete('nodes', undefined, 'b')
  s.store.create('nodes', undefined, node('c', '10.244.2.0/24'))
  const restartsBefore = s.nodes.status().restarts
  await s.startApi()
  await eventually('caught up', () => names(s.nodes).join() === 'a,c' && s.nodes.status().connected)
  t.ok(s.nodes.status().restarts > restartsBefore, 'a fresh informer was started')
  t.ok(
    s.logs.some((l) => /retrying in/.test(l)),
    'backoff logged',
  )
})

t.test('periodic relist replaces the cache even when the watch looks healthy', async (t) => {
  const s = await setup(t, {resyncMs: 300})
  s.store.create('nodes', undefined, node('a', '10.244.0.0/24'))
  s.nodes.start()
  await eventually('synced', () => s.nodes.synced)
  await eventually('relisted twice', () => s.nodes.status().lists >= 3)
  t.same(names(s.nodes), ['a'])
  t.equal(s.nodes.status().restarts, 0)
})

t.test('stop() ends everything; errors from the aborted watch are not reported', async (t) => {
  const s = await setup(t)
  s.nodes.start()
  await eventually('synced', () => s.nodes.synced)
  await s.nodes.stop()
  t.equal(s.nodes.status().connected, false)
  t.equal(s.nodes.status().lastError, undefined)
})
