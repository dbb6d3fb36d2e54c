// snapshotNetnsPath: what a namespace holds, as the lines conformance diffs before ADD and after DEL.
import t from 'tap'

import {createNetns, deleteNetnsAll, ipBatch} from '../../src/netns/netns.js'
import {snapshotNetns, snapshotNetnsPath} from '../../src/netns/snapshot.js'

const name = `cnidbg-snap-${process.pid}`
const ns = await createNetns(name)
t.teardown(() => deleteNetnsAll([name]).catch(() => {}))

t.test('each change in the namespace is a line of its own, and only that', async (t) => {
  const before = (await snapshotNetnsPath(ns.path)).lines
  t.ok(
    before.some((l) => l.startsWith('link lo ')),
    'the loopback is there',
  )
  await ipBatch(
    [
      'link add sn0 type veth peer name sn1',
      'link set sn0 up',
      'addr add 10.9.0.1/24 dev sn0',
      'addr add fd99::1/64 dev sn0 nodad',
      'route add 10.50.0.0/16 via 10.9.0.2 table 5',
      'route add fd50::/64 via fd99::2 table 5',
      'rule add from 10.9.0.0/24 table 5 priority 100',
    ],
    name,
  )
  const after = (await snapshotNetnsPath(ns.path)).lines
  const added = after.filter((l) => !before.includes(l))
  t.same(
    before.filter((l) => !after.includes(l)),
    [],
    'nothing went',
  )
  for (const want of [
    /^link sn0 veth mtu 1500 up /,
    /^link sn1 veth mtu 1500 down /,
    /^addr 10\.9\.0\.1\/24 dev sn0$/,
    /^addr fd99::1\/64 dev sn0$/,
    /^route4 unicast 10\.50\.0\.0\/16 via 10\.9\.0\.2 dev sn0 table 5$/,
    /^route6 unicast fd50::\/64 via fd99::2 dev sn0 table 5$/,
    /^rule 100: src 10\.9\.0\.0 srclen 24 table 5/,
  ]) {
    t.ok(
      added.some((l) => want.test(l)),
      `a line matching ${want}`,
      {added},
    )
  }
  t.notOk(
    added.some((l) => l.startsWith('route4') && l.includes('fd')),
    'IPv6 routes are not read as IPv4 ones',
    {added},
  )
})

t.test('a multipath route is a line per nexthop, so one path going leaves the other line as it was', async (t) => {
  // Two IPv6 default routes through two interfaces merge into one ECMP route, as a container's eth0
  // and net1 on one dual-stack bridge network do; deleting net1 leaves eth0's route unchanged.
  await ipBatch(
    [
      'link add mp0 type veth peer name mp1',
      'link add mp2 type veth peer name mp3',
      'link set mp0 up',
      'link set mp2 up',
      'addr add fd77::1/64 dev mp0 nodad',
      'addr add fd78::1/64 dev mp2 nodad',
      'route add default via fd77::2 dev mp0 table 7',
    ],
    name,
  )
  const one = (await snapshotNetnsPath(ns.path)).lines.filter((l) => l.includes('table 7'))
  t.same(one, ['route6 unicast default via fd77::2 dev mp0 table 7'])
  await ipBatch(['route append default via fd78::2 dev mp2 table 7'], name)
  const both = (await snapshotNetnsPath(ns.path)).lines.filter((l) => l.includes('table 7'))
  t.same(
    both,
    ['route6 unicast default via fd77::2 dev mp0 table 7', 'route6 unicast default via fd78::2 dev mp2 table 7'],
    'each nexthop with its gateway and dev',
  )
  await ipBatch(['link del mp2'], name)
  t.same(
    (await snapshotNetnsPath(ns.path)).lines.filter((l) => l.includes('table 7')),
    one,
    'back as it was',
  )
})

t.test('an ip that printed some but not all of its lines fails the snapshot', async (t) => {
  await t.rejects(
    snapshotNetns(async () => ({stdout: '[]\n@@cnidbg-section@@\n', exitCode: 0})),
    /ip printed 1 of 4 JSON lines/,
  )
})

t.test('a namespace that is gone is an empty snapshot', async (t) => {
  const gone = `cnidbg-snapgone-${process.pid}`
  const g = await createNetns(gone)
  await deleteNetnsAll([gone])
  t.same((await snapshotNetnsPath(g.path)).lines, [])
})
