/**
 * The node daemon against a real kernel and the lab apiserver, vxlan mode: three nodes in namespaces
 * on one underlay bridge, one in-process daemon per node. Convergence, pod-to-pod traffic, /healthz
 * and /diag, drift repair. Every assertion reads the kernel (or the apiserver) directly and waits
 * for convergence with a generous deadline. Lifecycle cases are in daemon-lifecycle.ts.
 */
import {readdirSync, readFileSync} from 'node:fs'
import t from 'tap'

import {ANN_VTEP_MAC} from '../../src/daemon/annotations.js'
import {ip, ipBatch, runOk} from '../../src/netns/index.js'
import {
  allConverged,
  annotations,
  eventually,
  httpGet,
  ping,
  routes,
  startDaemonLab,
  VTEP,
  vxlanConverged,
} from '../helpers/daemon-lab.js'

t.test('vxlan mode, three nodes', async (t) => {
  const lab = await startDaemonLab({nodes: 3, pods: true})
  t.teardown(() => lab.dispose())
  const all = [0, 1, 2]
  // The drift cases below damage node-0 and wait for the repair. Its daemon's timer never fires while
  // the test runs, so every repair there is one a kernel event started (kernel-watch.ts); the others
  // check at the helper's pace.
  const HOUR = 3_600_000
  for (const i of all) {
    await lab.startDaemon(i, i === 0 ? {reconcileIntervalMs: HOUR, watchedIntervalMs: HOUR} : {})
  }

  await t.test('converges: VTEP, neighbour/FDB/route per peer, annotations, subnet file', async (t) => {
    const started = Date.now()
    await eventually('all nodes converged', () => allConverged(lab, all))
    t.comment(`converged in ${Date.now() - started} ms`)
    if (process.env.DMN_DEBUG) t.comment(lab.logs.join('\n'))
    for (const i of all) {
      t.equal(
        readFileSync(lab.subnetFile(i), 'utf8'),
        `CNIDBG_NETWORK=10.244.0.0/16\nCNIDBG_SUBNET=10.244.${i}.0/24\nCNIDBG_MTU=1450\n`,
        `subnet file of node-${i}`,
      )
    }
    t.pass('every node has the VTEP and exactly one neighbour, FDB entry and route per peer')
  })

  await t.test('pods on different nodes reach each other through the VTEPs', async (t) => {
    t.ok(await eventually('ping 0→1', () => ping(lab.nodes[0]!.podNs!, lab.nodes[1]!.podIP!)), 'pod 0 → pod 1')
    t.ok(await ping(lab.nodes[2]!.podNs!, lab.nodes[0]!.podIP!), 'pod 2 → pod 0')
    t.ok(await ping(lab.nodes[1]!.podNs!, lab.nodes[2]!.podIP!), 'pod 1 → pod 2')
  })

  await t.test('/healthz: ok to anyone, its report and /diag only to get nodes/proxy', async (t) => {
    const d0 = lab.daemon(0)!
    const open = await eventually('healthy', async () => {
      const r = await httpGet(d0.address!, '/healthz')
      return r.status === 200 ? r : undefined
    })
    t.same(open.body, {ok: true}, 'without credentials: whether it is ok, nothing of the node')
    const h = await httpGet(d0.address!, '/healthz', lab.token)
    t.equal(h.status, 200)
    t.equal((await httpGet(d0.address!, '/healthz', 'not-a-token')).status, 401, 'credentials it refuses: 401')
    const anonymous = await httpGet(d0.address!, '/diag')
    t.equal(anonymous.status, 401, 'no token: 401')
    t.match(anonymous.headers.get('www-authenticate'), /^Bearer /)
    t.notMatch(anonymous.text, /podCIDR|peers/, 'nothing of the node in the refusal')
    t.equal((await httpGet(d0.address!, '/', 'not-a-token')).status, 401, 'a token the API server does not know: 401')
    t.match(h.body, {ok: true, node: 'node-0', mode: 'vxlan', informers: {nodes: {synced: true}, pods: {synced: true}}})
    // The lab API server serves NetworkPolicies (none exist here): enforcement is on, and the node healthy.
    t.match(h.body.networkPolicy, {mode: 'auto'})
    t.not(h.body.networkPolicy.state, 'error')
    const diag = await httpGet(d0.address!, '/diag', lab.token)
    t.equal(diag.status, 200)
    const mac = annotations(lab, 0)[ANN_VTEP_MAC]
    t.match(diag.body, {
      node: 'node-0',
      mode: 'vxlan',
      nodeIP: '198.18.0.1',
      podCIDR: '10.244.0.0/24',
      podMTU: 1450,
      routeProto: 205,
      vtep: {name: VTEP, present: true, mac, mtu: 1450},
    })
    t.same(
      diag.body.peers.map((p: any) => [
        p.node,
        p.status,
        p.checks.map((c: any) => `${c.object}:${c.status}`).join(','),
      ]),
      [
        ['node-1', 'ok', 'neigh:ok,fdb:ok,route:ok'],
        ['node-2', 'ok', 'neigh:ok,fdb:ok,route:ok'],
      ],
    )
    const p1 = diag.body.peers[0]
    const mac1 = annotations(lab, 1)[ANN_VTEP_MAC]
    t.match(p1.expected, {
      route: [{dst: '10.244.1.0/24', via: '10.244.1.0', dev: VTEP, onlink: true}],
      neigh: [{ip: '10.244.1.0', mac: mac1, dev: VTEP}],
      fdb: [{mac: mac1, dst: '198.18.0.2', dev: VTEP}],
    })
    t.match(p1.actual, {
      route: [{dst: '10.244.1.0/24', via: '10.244.1.0', proto: '205'}],
      neigh: [{ip: '10.244.1.0', mac: mac1, state: 'PERMANENT'}],
      fdb: [{mac: mac1, dst: '198.18.0.2', state: 'permanent'}],
    })
    t.equal(diag.body.sysctls['net.ipv4.ip_forward'], '1', 'read inside the node namespace')
    t.same(diag.body.kernel.unexpected, [])
    // The apiserver demands a bearer token: it must appear nowhere the daemon serves.
    for (const r of [h, diag]) t.notMatch(r.text, lab.token)
    t.notMatch(diag.text, /token|kubeconfig|BEGIN/i)
  })

  await t.test('drift: deleted route, FDB entry and neighbour come back', async (t) => {
    const n0 = lab.nodes[0]!.ns
    const mac1 = annotations(lab, 1)[ANN_VTEP_MAC]!
    await ip(['route', 'del', '10.244.1.0/24', 'proto', '205'], n0)
    await eventually('route back', () => vxlanConverged(lab, 0, [1, 2]))
    t.pass('route restored')
    await runOk('bridge', ['-n', n0, 'fdb', 'del', mac1, 'dev', VTEP, 'dst', '198.18.0.2', 'self'])
    await eventually('fdb back', () => vxlanConverged(lab, 0, [1, 2]))
    t.pass('FDB entry restored')
    await ip(['neigh', 'del', '10.244.1.0', 'dev', VTEP], n0)
    await eventually('neigh back', () => vxlanConverged(lab, 0, [1, 2]))
    t.pass('neighbour restored')
  })

  await t.test('drift: stale FDB dst and stale neighbour MAC are replaced', async (t) => {
    const n0 = lab.nodes[0]!.ns
    const mac2 = annotations(lab, 2)[ANN_VTEP_MAC]!
    // runOk proves the stale entry went in; reading it back would race node 0's daemon, which rewrites
    // it as soon as the kernel reports the change.
    await runOk('bridge', ['-n', n0, 'fdb', 'replace', mac2, 'dev', VTEP, 'dst', '198.18.0.99', 'self', 'permanent'])
    await eventually('fdb dst fixed', () => vxlanConverged(lab, 0, [1, 2]))
    t.pass('FDB dst rewritten')
    await ip(['neigh', 'replace', '10.244.2.0', 'lladdr', '02:de:ad:00:be:ef', 'dev', VTEP, 'nud', 'permanent'], n0)
    await eventually('neigh mac fixed', () => vxlanConverged(lab, 0, [1, 2]))
    t.pass('neighbour MAC rewritten')
    // A stale route of ours (wrong gateway) is replaced too.
    await ip(['route', 'replace', '10.244.2.0/24', 'via', '10.244.9.0', 'dev', VTEP, 'onlink', 'proto', '205'], n0)
    await eventually('route fixed', () => vxlanConverged(lab, 0, [1, 2]))
    t.pass('route gateway rewritten')
  })

  await t.test('objects that are not ours are left alone', async (t) => {
    const n0 = lab.nodes[0]!.ns
    await ipBatch(['route add 10.99.0.0/16 via 198.18.0.2 proto static', 'route add 10.98.0.0/16 via 198.18.0.3'], n0)
    const d0 = lab.daemon(0)!
    // A whole reconcile that saw both routes (after any the route events started).
    const report = await d0.reconcileNow()
    t.ok(report.ok, 'the reconcile that saw them is ok')
    t.same(report.ops, [], 'and changed nothing')
    const rs = await routes(n0)
    t.ok(rs.some((r) => r.dst === '10.99.0.0/16' && r.protocol === '4'))
    t.ok(rs.some((r) => r.dst === '10.98.0.0/16'))
    await ipBatch(['route del 10.99.0.0/16', 'route del 10.98.0.0/16'], n0)
  })

  await t.test('a kernel watch that dies is started again, and repairs go on', async (t) => {
    const n0 = lab.nodes[0]!.ns
    const d0 = lab.daemon(0)!
    t.match(d0.health().kernelWatch, {state: 'watching', restarts: 0})
    const monitor = monitorPid(n0)
    t.ok(monitor, 'node-0’s daemon runs ip monitor in its namespace')
    process.kill(monitor!, 'SIGKILL')
    await eventually('watching again', () => {
      const w = d0.health().kernelWatch
      return w.state === 'watching' && w.restarts === 1 && monitorPid(n0) !== undefined
    })
    t.match(d0.health().kernelWatch.lastError, /exited \(SIGKILL\)/)
    // Its timer still never fires: this repair is the new monitor's.
    await ip(['route', 'del', '10.244.1.0/24', 'proto', '205'], n0)
    await eventually('route back', () => vxlanConverged(lab, 0, [1, 2]))
    t.pass('a route deleted after the restart came back')
  })
})

/** The pid of the `ip monitor` running for namespace `ns`, if one runs. */
function monitorPid(ns: string): number | undefined {
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0')
      if (argv[0] === 'ip' && argv[1] === '-n' && argv[2] === ns && argv[4] === 'monitor') return Number(e)
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined
}
