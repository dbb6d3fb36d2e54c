/**
 * The node daemon against a real kernel and the lab apiserver, vxlan mode, lifecycle: a deleted VTEP,
 * a daemon restart, a deleted Node, an apiserver outage. Three nodes in namespaces, one in-process
 * daemon each; assertions read the kernel directly and wait with a generous deadline.
 */
import t from 'tap'

import {ANN_VTEP_MAC} from '../../src/daemon/annotations.js'
import {ip, ipBatch} from '../../src/netns/index.js'
import {
  allConverged,
  annotations,
  eventually,
  link,
  ping,
  routes,
  startDaemonLab,
  VTEP,
  vxlanConverged,
} from '../helpers/daemon-lab.js'

t.test('vxlan mode, three nodes: lifecycle', async (t) => {
  const lab = await startDaemonLab({nodes: 3, pods: true})
  t.teardown(() => lab.dispose())
  const all = [0, 1, 2]
  for (const i of all) await lab.startDaemon(i)
  await eventually('all nodes converged', () => allConverged(lab, all))

  await t.test('a deleted VTEP is recreated with the same MAC', async (t) => {
    const n1 = lab.nodes[1]!.ns
    const mac = (await link(n1, VTEP))!.address
    await ip(['link', 'del', VTEP], n1)
    await eventually('node-1 converged', () => vxlanConverged(lab, 1, [0, 2]))
    t.equal((await link(n1, VTEP))!.address, mac)
    await eventually('all converged', () => allConverged(lab, all))
    t.ok(await eventually('ping 1→2', () => ping(lab.nodes[1]!.podNs!, lab.nodes[2]!.podIP!)))
  })

  await t.test('restart: no duplicates, same VTEP MAC, leftovers of ours removed', async (t) => {
    const n0 = lab.nodes[0]!.ns
    const mac = (await link(n0, VTEP))!.address
    await lab.stopDaemon(0)
    // While it is down: a stale route of ours and a stale neighbour on its VTEP.
    await ipBatch(
      [
        'route add 10.244.77.0/24 via 10.244.77.0 dev cnidbg.1 onlink proto 205',
        'neigh add 10.244.77.0 lladdr 02:77:77:77:77:77 dev cnidbg.1 nud permanent',
      ],
      n0,
    )
    await lab.startDaemon(0)
    await eventually('node-0 converged after restart', () => vxlanConverged(lab, 0, [1, 2]))
    t.equal((await link(n0, VTEP))!.address, mac, 'same VTEP MAC')
    t.equal(annotations(lab, 0)[ANN_VTEP_MAC], mac, 'same advertised MAC')
    t.notOk(
      (await routes(n0)).some((r) => r.dst === '10.244.77.0/24'),
      'stale route gone',
    )
    await allConverged(lab, all)
    t.pass('peers unchanged')
  })

  await t.test('a deleted Node disappears from every other node', async (t) => {
    lab.api.store.delete('nodes', undefined, 'node-2')
    await eventually('node-2 gone', async () => {
      await vxlanConverged(lab, 0, [1])
      await vxlanConverged(lab, 1, [0])
      return true
    })
    t.pass('route, FDB and neighbour for node-2 removed on node-0 and node-1')
    t.ok(await ping(lab.nodes[0]!.podNs!, lab.nodes[1]!.podIP!), 'the others still talk')
  })

  await t.test('apiserver outage: kernel state kept; changes made meanwhile applied after it returns', async (t) => {
    const d0 = lab.daemon(0)!
    await lab.stopApi()
    await eventually('outage noticed', () => !d0.health().informers.nodes.connected)
    await vxlanConverged(lab, 0, [1])
    t.pass('node-0 still has everything for node-1 while the API server is down')
    // And it still repairs from its cache: a route deleted during the outage comes back.
    const n0 = lab.nodes[0]!.ns
    await ip(['route', 'del', '10.244.1.0/24', 'proto', '205'], n0)
    await eventually('route back during the outage', () => vxlanConverged(lab, 0, [1]))
    t.pass('a route deleted during the outage was put back')
    t.ok(d0.health().informers.nodes.synced, 'still serving the last listed cache')
    // Node-1 leaves the cluster while node-0 cannot watch.
    lab.api.store.delete('nodes', undefined, 'node-1')
    await lab.startApi()
    await eventually('node-1 removed from node-0', () => vxlanConverged(lab, 0, []))
    t.pass('caught up after the API server came back')
    t.ok(d0.health().informers.nodes.restarts >= 1)
  })
})
