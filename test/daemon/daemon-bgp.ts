/**
 * The node daemon in bgp mode against a real kernel, real bird2 processes and the lab apiserver:
 * bird started per node in its namespace, peer routes as `proto bird`, the sessions in /diag, a
 * hostile peer address kept out of the config, and a teardown that stops bird and removes its routes.
 */
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {livePid} from '../../src/daemon/speaker.js'
import {killNetnsProcesses, netnsPath} from '../../src/netns/netns.js'
import {eventually, httpGet, ping, routes, startDaemonLab} from '../helpers/daemon-lab.js'

t.test('bgp mode, two nodes', async (t) => {
  const lab = await startDaemonLab({nodes: 2, pods: true})
  // Whatever happens, no bird outlives the test's namespaces.
  t.teardown(async () => {
    for (const n of lab.nodes) killNetnsProcesses(n.ns)
    await lab.dispose()
  })
  const birdDir = (i: number) => join(lab.dir, 'state', lab.nodes[i]!.name, 'bird')
  const [n0, n1] = lab.nodes as [(typeof lab.nodes)[0], (typeof lab.nodes)[0]]
  for (const i of [0, 1]) await lab.startDaemon(i, {mode: 'bgp'})

  await t.test('each node runs its own bird and learns the other pod CIDR as proto bird', async (t) => {
    const d0 = lab.daemon(0)!
    await eventually('healthy daemons', () => lab.daemon(0)!.health().ok && lab.daemon(1)!.health().ok)
    // bird and its sessions are not in the kernel: checked on the timer, and a whole BGP table's churn
    // is not watched.
    t.equal(d0.health().kernelWatch.state, 'off', 'no ip monitor in bgp mode')
    const r = (await routes(n0.ns)).find((x) => x.dst === n1.podCIDR)
    t.match(r, {gateway: n1.ip, dev: 'eth0', protocol: '12'}, `${n1.podCIDR} via ${n1.ip} proto bird`)
    t.ok(livePid(join(birdDir(0), 'bird.pid'), netnsPath(n0.ns)), "node 0's bird runs in node 0's namespace")
    t.ok(livePid(join(birdDir(1), 'bird.pid'), netnsPath(n1.ns)), "node 1's bird runs in node 1's namespace")
    t.notOk(livePid(join(birdDir(0), 'bird.pid'), netnsPath(n1.ns)), "and not in another node's")
    const diag = (await httpGet(d0.address!, '/diag', lab.token)).body
    t.equal(diag.mode, 'bgp')
    t.equal(diag.routeProto, 12)
    t.match(diag.bgp, {asn: 64512, speaker: {running: true}})
    t.match(diag.bgp.sessions, [{peerNode: n1.name, peerIP: n1.ip, state: 'Established', role: 'mesh'}])
    t.match(diag.peers, [{node: n1.name, status: 'ok'}])
    t.ok(await ping(n0.podNs!, n1.podIP!), 'pod on node 0 → pod on node 1')
  })

  await t.test('a hostile peer address never reaches bird.conf', async (t) => {
    lab.api.store.create('nodes', undefined, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: 'evil',
        annotations: {
          'cnidbg.dev/node-ip': '198.18.0.9; } protocol kernel { ipv4 { export all; }; }',
          'cnidbg.dev/backend-type': 'bgp',
        },
      },
      spec: {podCIDR: '10.244.9.0/24'},
    })
    await eventually('evil skipped', async () =>
      (await httpGet(lab.daemon(0)!.address!, '/diag', lab.token)).body.skippedPeers.some(
        (p: {name: string}) => p.name === 'evil',
      ),
    )
    await lab.daemon(0)!.reconcileNow()
    const conf = readFileSync(join(birdDir(0), 'bird.conf'), 'utf8')
    t.notMatch(conf, /evil|export all|198\.18\.0\.9/)
    t.ok(lab.daemon(0)!.health().ok, 'still healthy')
  })

  await t.test('teardown stops bird and removes its routes; the other node withdraws them', async (t) => {
    await lab.daemon(0)!.stop({teardown: true})
    t.notOk(livePid(join(birdDir(0), 'bird.pid'), netnsPath(n0.ns)), 'bird stopped')
    t.notOk(
      (await routes(n0.ns)).some((r) => r.protocol === '12'),
      'no proto bird route left on node 0',
    )
    await eventually('node 1 withdrew node 0', async () => !(await routes(n1.ns)).some((r) => r.dst === n0.podCIDR))
    t.ok(existsSync(join(birdDir(0), 'bird.conf')), 'the config stays for the next start')
    await lab.daemon(1)!.stop({teardown: true})
  })
})
