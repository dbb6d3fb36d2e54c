import t from 'tap'

import {KernelWatch, relevantEvent} from '../../src/daemon/kernel-watch.js'
import {ip, Sandbox} from '../../src/netns/index.js'
import {eventually} from '../helpers/machine.js'

const SCOPE = {devices: ['cnidbg.1', 'eth0'], neighDevs: ['cnidbg.1'], fdbDevs: ['cnidbg.1'], routeProto: 205}

t.test('relevantEvent: the daemon’s devices, routes and tables wake it; pods’ churn does not', async (t) => {
  const cases: Array<[string, boolean]> = [
    // Links and addresses: the VTEP and the underlay, not a pod's veth.
    ['[LINK]4: cnidbg.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN', true],
    ['[LINK]Deleted 4: cnidbg.1: <BROADCAST,MULTICAST> mtu 1450 qdisc noop state DOWN', true],
    ['[LINK]2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc noqueue state UP', true],
    ['[LINK]9: cnidbg5a6b@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP', false],
    ['[LINK]Deleted 9: cnidbg5a6b@NONE: <BROADCAST,MULTICAST> mtu 1450 qdisc noop state DOWN', false],
    // A device named like ours but longer is not ours.
    ['[LINK]5: cnidbg.10: <BROADCAST,MULTICAST> mtu 1450 qdisc noop state DOWN', false],
    ['[ADDR]2: eth0    inet 198.18.0.2/24 scope global eth0', true],
    ['[ADDR]Deleted 2: eth0    inet 198.18.0.2/24 scope global eth0', true],
    ['[ADDR]9: cnidbg5a6b    inet 10.244.1.1/32 scope global cnidbg5a6b', false],
    ['[ADDR]9: cnidbg5a6b    inet6 fe80::1/64 scope link', false],
    // Routes: ours by proto, a prefix a foreign route may hold, not a pod's host route or local table.
    ['[ROUTE]Deleted 10.244.2.0/24 via 10.244.2.0 dev cnidbg.1 proto 205 onlink', true],
    ['[ROUTE]10.244.2.0/24 via 198.18.0.3 dev eth0 proto 205', true],
    ['[ROUTE]10.244.2.0/24 via 198.18.0.9 dev eth0 proto static', true],
    ['[ROUTE]default via 198.18.0.254 dev eth0', true],
    ['[ROUTE]10.244.1.3 dev cnidbg5a6b scope link', false],
    ['[ROUTE]Deleted 10.244.1.3 dev cnidbg5a6b scope link', false],
    ['[ROUTE]10.244.1.3/32 dev cnidbg5a6b scope link', false],
    ['[ROUTE]local 10.244.1.1 dev cnidbg5a6b table local proto kernel scope host src 10.244.1.1', false],
    ['[ROUTE]broadcast 198.18.0.255 dev eth0 table local proto kernel scope link src 198.18.0.2', false],
    ['[ROUTE]fe80::/64 dev cnidbg5a6b proto kernel metric 256 pref medium', false],
    ['[ROUTE]multicast ff00::/8 dev cnidbg5a6b table local proto kernel metric 256 pref medium', false],
    ['[ROUTE]unreachable 10.244.2.0/24 proto static', true],
    // Neighbours and FDB entries: only on the devices whose tables are the daemon's.
    ['[NEIGH]Deleted 10.244.2.0 dev cnidbg.1 lladdr 02:aa:bb:cc:dd:ee PERMANENT', true],
    ['[NEIGH]198.18.0.3 dev cnidbg.1 lladdr 02:aa:bb:cc:dd:ee NOARP PERMANENT', true],
    ['[NEIGH]10.244.1.2 dev cnidbg5a6b lladdr 0e:11:22:33:44:55 STALE', false],
    ['[NEIGH]198.18.0.3 dev eth0 lladdr 0e:11:22:33:44:55 REACHABLE', false],
    ['[NEIGH]10.0.0.1 dev cnidbg.10 lladdr 0e:11:22:33:44:55 STALE', false],
    ['[NEIGH]10.0.0.1 nodev x dev eth0 lladdr 0e:11:22:33:44:55 STALE', false],
    // Forms not known here are kept: a reconcile too many costs a read, one too few a repair.
    ['[NEIGH]something new', true],
    ['[LINK]something new', true],
    ['[NETCONF]ipv4 dev eth0 forwarding on', true],
    ['an unlabelled line', true],
  ]
  for (const [line, want] of cases) t.equal(relevantEvent(line, SCOPE), want, line)
})

t.test('KernelWatch counts relevant events, says when events were lost, restarts a monitor that died', async (t) => {
  const changes: string[] = []
  const logs: string[] = []
  const script = [
    'echo "[NEIGH]10.244.1.2 dev cnidbg5a6b lladdr 0e:11:22:33:44:55 STALE"',
    'echo "[ROUTE]Deleted 10.244.2.0/24 via 10.244.2.0 dev cnidbg.1 proto 205 onlink"',
    'echo "netlink receive error No buffer space available (105)" >&2',
    'sleep 0.2',
    'exit 1',
  ].join('; ')
  const w = new KernelWatch({
    scope: SCOPE,
    onChange: (why) => changes.push(why),
    log: (m) => logs.push(m),
    backoffInitialMs: 50,
    backoffMaxMs: 200,
    command: {file: 'sh', args: ['-c', script]},
  })
  t.teardown(() => w.stop())
  t.equal(w.status().state, 'off')
  w.start()
  t.ok(w.live, 'watching once started')
  t.ok(await eventually(() => w.status().restarts >= 2), 'restarted after each exit')
  await w.stop()
  t.equal(w.status().state, 'off')
  t.notOk(w.live)
  const first = changes.slice(0, changes.indexOf('kernel watch restarted') + 1)
  t.same(
    first,
    ['kernel event', 'kernel events lost', 'kernel watch lost', 'kernel watch restarted'],
    'the route event (not the pod’s neighbour), the lost events, the loss and the restart each ask for a reconcile',
  )
  t.ok(w.status().events >= 2, 'one event counted per run')
  t.match(w.status().lastError, /netlink receive error/)
  t.match(logs[0], /kernel watch stopped \(sh exited \(1\).*restarting in 0.05 s/)
  const restarts = w.status().restarts
  await new Promise((r) => setTimeout(r, 300))
  t.equal(w.status().restarts, restarts, 'no restart after stop()')
})

t.test(
  'KernelWatch on a real namespace: a route change is reported, a neighbour on another device is not',
  async (t) => {
    const sb = await Sandbox.create({label: 'kernel-watch-test'})
    t.teardown(() => sb.dispose())
    const ns = (await sb.addNetns('node')).name
    await ip(['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'], ns)
    await ip(['link', 'set', 'v0', 'up'], ns)
    await ip(['addr', 'add', '10.9.0.1/24', 'dev', 'v0'], ns)
    const changes: string[] = []
    const w = new KernelWatch({
      netns: ns,
      scope: {devices: ['cnidbg.1'], neighDevs: ['cnidbg.1'], fdbDevs: [], routeProto: 205},
      onChange: (why) => changes.push(why),
      log: () => {},
      backoffInitialMs: 1000,
      backoffMaxMs: 1000,
    })
    t.teardown(() => w.stop())
    w.start()
    // `ip monitor` says nothing once it has subscribed: a route changed until the change is seen tells
    // (changed, not replaced as it is: the kernel reports no replace that changes nothing).
    let via = 2
    t.ok(
      await eventually(async () => {
        await ip(['route', 'replace', '10.9.7.0/24', 'via', `10.9.0.${(via = 5 - via)}`, 'proto', '205'], ns)
        return w.status().events > 0
      }),
      'a route change is an event',
    )
    const before = w.status().events
    await ip(['neigh', 'replace', '10.9.0.7', 'lladdr', '02:00:00:00:00:07', 'dev', 'v0'], ns)
    await ip(['route', 'del', '10.9.7.0/24'], ns)
    t.ok(await eventually(() => w.status().events > before), 'the route deletion is seen')
    t.equal(w.status().events, before + 1, 'the neighbour on v0 (not owned) was not counted, the deletion was')
    t.equal(w.status().state, 'watching')
    await w.stop()
  },
)
