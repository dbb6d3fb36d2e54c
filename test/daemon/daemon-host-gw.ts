/**
 * The node daemon in host-gw mode against a real kernel and the lab apiserver, including a switch
 * from vxlan to host-gw on the same nodes (the VTEP and its routes must go).
 */
import {readFileSync} from 'node:fs'
import t from 'tap'

import {ANN_BACKEND_TYPE, ANN_NODE_IP, ANN_VTEP_MAC} from '../../src/daemon/annotations.js'
import {ip} from '../../src/netns/index.js'
import {type DaemonLab, eventually, httpGet, link, ping, routes, startDaemonLab} from '../helpers/daemon-lab.js'

function annotations(lab: DaemonLab, i: number): Record<string, string> {
  const n = lab.api.store.get('nodes', undefined, lab.nodes[i]!.name)
  return (n?.metadata.annotations as Record<string, string> | undefined) ?? {}
}

async function hostGwConverged(lab: DaemonLab, i: number, peers: number[]): Promise<true> {
  const n = lab.nodes[i]!
  const problems: string[] = []
  if (await link(n.ns, 'cnidbg.1')) problems.push('a VTEP exists')
  const ann = annotations(lab, i)
  if (ann[ANN_BACKEND_TYPE] !== 'host-gw' || ann[ANN_NODE_IP] !== n.ip || ANN_VTEP_MAC in ann) {
    problems.push(`annotations ${JSON.stringify(ann)}`)
  }
  const ours = (await routes(n.ns)).filter((r) => r.protocol === '205')
  for (const j of peers) {
    const m = ours.filter((r) => r.dst === `10.244.${j}.0/24`)
    if (
      m.length !== 1 ||
      m[0]!.gateway !== lab.nodes[j]!.ip ||
      m[0]!.dev !== 'eth0' ||
      m[0]!.flags?.includes('onlink')
    ) {
      problems.push(`route 10.244.${j}.0/24: ${JSON.stringify(m)}`)
    }
  }
  if (ours.length !== peers.length) problems.push(`${ours.length} proto-205 routes, want ${peers.length}`)
  if (problems.length > 0) throw new Error(`${n.name}: ${problems.join('; ')}`)
  return true
}

t.test('host-gw mode, three nodes', async (t) => {
  const lab = await startDaemonLab({nodes: 3, pods: true})
  t.teardown(() => lab.dispose())
  const all = [0, 1, 2]
  const converged = async (nodes: number[]) => {
    for (const i of nodes)
      await hostGwConverged(
        lab,
        i,
        nodes.filter((j) => j !== i),
      )
    return true
  }

  await t.test('starts in vxlan, then switches to host-gw: VTEP, vxlan routes and vtep-mac go', async (t) => {
    for (const i of all) await lab.startDaemon(i)
    await eventually('vxlan routes', async () => {
      const rs = await routes(lab.nodes[0]!.ns)
      return rs.filter((r) => r.protocol === '205' && r.dev === 'cnidbg.1').length === 2
    })
    t.ok(annotations(lab, 0)[ANN_VTEP_MAC], 'vxlan published a VTEP MAC')
    for (const i of all) await lab.stopDaemon(i)
    for (const i of all) await lab.startDaemon(i, {mode: 'host-gw'})
    await eventually('host-gw converged', () => converged(all))
    t.pass('every node routes every other podCIDR via its node IP, no VTEP left')
    for (const i of all) {
      t.equal(
        readFileSync(lab.subnetFile(i), 'utf8'),
        `CNIDBG_NETWORK=10.244.0.0/16\nCNIDBG_SUBNET=10.244.${i}.0/24\nCNIDBG_MTU=1500\n`,
        'underlay MTU: no encapsulation',
      )
    }
  })

  await t.test('pods on different nodes reach each other via the node IPs', async (t) => {
    t.ok(await eventually('ping 0→1', () => ping(lab.nodes[0]!.podNs!, lab.nodes[1]!.podIP!)))
    t.ok(await ping(lab.nodes[2]!.podNs!, lab.nodes[0]!.podIP!))
  })

  await t.test('/diag in host-gw mode', async (t) => {
    const d = await httpGet(lab.daemon(1)!.address!, '/diag', lab.token)
    t.match(d.body, {node: 'node-1', mode: 'host-gw', vtep: null, podMTU: 1500})
    t.same(
      d.body.peers.map((p: any) => [p.node, p.status, p.expected.route[0].via, p.actual.route[0]?.via]),
      [
        ['node-0', 'ok', '198.18.0.1', '198.18.0.1'],
        ['node-2', 'ok', '198.18.0.3', '198.18.0.3'],
      ],
    )
  })

  await t.test('drift: a deleted or rewritten route is restored', async (t) => {
    const n2 = lab.nodes[2]!.ns
    await ip(['route', 'del', '10.244.0.0/24', 'proto', '205'], n2)
    await eventually('restored', () => hostGwConverged(lab, 2, [0, 1]))
    t.pass('deleted route back')
    await ip(['route', 'replace', '10.244.1.0/24', 'via', '198.18.0.1', 'dev', 'eth0', 'proto', '205'], n2)
    await eventually('rewritten', () => hostGwConverged(lab, 2, [0, 1]))
    t.pass('wrong next hop replaced')
  })

  await t.test('a foreign route for a peer podCIDR is not overwritten, and is reported', async (t) => {
    const n0 = lab.nodes[0]!.ns
    await lab.stopDaemon(0)
    await ip(['route', 'del', '10.244.2.0/24', 'proto', '205'], n0)
    await ip(['route', 'add', '10.244.2.0/24', 'via', '198.18.0.2', 'dev', 'eth0', 'proto', 'static'], n0)
    const d0 = await lab.startDaemon(0, {mode: 'host-gw'})
    const report = await eventually('conflict reported', () => {
      const r = d0.lastReconcile
      return r && r.conflicts.length > 0 && r.peers === 2 ? r : undefined
    })
    t.match(report, {ok: false, conflicts: [{dst: '10.244.2.0/24', blocking: true}]})
    const r = (await routes(n0)).filter((x) => x.dst === '10.244.2.0/24')
    t.same(
      r.map((x) => [x.gateway, x.protocol]),
      [['198.18.0.2', '4']],
      'the static route is untouched',
    )
    const diag = await httpGet(d0.address!, '/diag', lab.token)
    t.match(diag.body.peers[1], {node: 'node-2', status: 'degraded', checks: [{object: 'route', status: 'conflict'}]})
    t.equal((await httpGet(d0.address!, '/healthz')).status, 503, 'unhealthy while it cannot program a peer')
    await ip(['route', 'del', '10.244.2.0/24', 'proto', 'static'], n0)
    await eventually('route of ours installed', () => hostGwConverged(lab, 0, [1, 2]))
  })

  await t.test('a deleted Node disappears from the others', async (t) => {
    lab.api.store.delete('nodes', undefined, 'node-1')
    await eventually('node-1 gone', async () => {
      await hostGwConverged(lab, 0, [2])
      await hostGwConverged(lab, 2, [0])
      return true
    })
    t.pass('its route is gone from node-0 and node-2')
  })
})
