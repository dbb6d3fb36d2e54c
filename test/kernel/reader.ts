import {randomBytes} from 'node:crypto'

import t from 'tap'

import {createNetns, deleteNetns, ipBatch, onCleanup, runInNetns} from '../../src/netns/index.js'
import {LocalKernelReader, parseRouteGet, parseSysctls, splitIpBatch} from '../../src/kernel/reader.js'

t.test('splitIpBatch lines up answers with commands, failed ones from stderr', async (t) => {
  const out = splitIpBatch(
    '[{"a":1}]\n[]\n[{"dst":"10.0.0.1"}]\n',
    'RTNETLINK answers: Network is unreachable\nCommand failed -:2\n',
    4,
  )
  t.same(out, [
    {ok: true, text: '[{"a":1}]'},
    {ok: false, text: 'RTNETLINK answers: Network is unreachable'},
    {ok: true, text: '[]'},
    {ok: true, text: '[{"dst":"10.0.0.1"}]'},
  ])
})

t.test('parseRouteGet and parseSysctls', async (t) => {
  t.same(parseRouteGet('[{"dst":"10.1.1.1","dev":"eth0"}]'), {ok: true, route: {dst: '10.1.1.1', dev: 'eth0'}})
  t.same(parseRouteGet('RTNETLINK answers: No route to host'), {ok: false, error: 'No route to host'})
  t.same(parseSysctls('/proc/sys/net/ipv4/ip_forward:1\n/proc/sys/net/ipv4/conf/cnidbg.1/rp_filter:2\n'), {
    'net/ipv4/ip_forward': '1',
    'net/ipv4/conf/cnidbg.1/rp_filter': '2',
  })
})

t.test('LocalKernelReader reads a real namespace in one exec', async (t) => {
  const id = randomBytes(3).toString('hex')
  const ns = `cnidbg-trc-${id}-rd`
  const peer = `cnidbg-trc-${id}-rp`
  const undo = onCleanup('reader test netns', async () => {
    await deleteNetns(ns)
    await deleteNetns(peer)
  })
  t.teardown(async () => {
    await deleteNetns(ns)
    await deleteNetns(peer)
    undo()
  })
  await createNetns(ns)
  await createNetns(peer)
  await ipBatch(
    [
      `link add cnitest0 type veth peer name eth0 netns ${peer}`,
      'link set cnitest0 up',
      'addr add 10.99.0.1/32 dev cnitest0',
      'route add 10.99.0.5/32 dev cnitest0',
      'link add eth1 type veth peer name eth2',
      'link set eth1 up',
      'link set eth2 up',
      'addr add 192.0.2.1/24 dev eth1',
    ],
    ns,
  )
  await ipBatch(['link set eth0 up', 'addr add 10.99.0.5/32 dev eth0'], peer)
  // A new namespace copies its IPv4 settings from the root one (net.core.devconf_inherit_init_net
  // 0), so forwarding is turned off here rather than assumed off: the route checks below need it off.
  const off = await runInNetns(`/run/netns/${ns}`, 'sysctl', ['-qw', 'net.ipv4.ip_forward=0'])
  t.equal(off.exitCode, 0, off.stderr)
  const reader = new LocalKernelReader(`/run/netns/${ns}`)
  const s = await reader.snapshot({
    routeGets: [
      {dst: '192.0.2.7', from: '10.99.0.5', iifFor: '10.99.0.5'},
      {dst: '203.0.113.1'},
      {dst: '192.0.2.7', from: '10.99.0.5', iif: 'cnitest0'},
    ],
  })
  t.same(s.missing, [])
  const veth = s.links.find((l) => l.ifname === 'cnitest0')!
  t.equal(veth.linkinfo?.info_kind, 'veth')
  t.equal(veth.addr_info?.find((a) => a.family === 'inet')?.local, '10.99.0.1')
  t.ok(veth.stats64, 'counters come with the links')
  t.ok(s.routes.some((r) => r.dst === '10.99.0.5' && r.dev === 'cnitest0'))
  t.ok(
    s.routes.every((r) => !r.dst.includes(':')),
    'IPv6 routes are dropped',
  )
  t.ok(s.sysctls['net/ipv4/ip_forward'] !== undefined)
  t.equal(s.routeGets[0]!.iif, 'cnitest0', 'iifFor resolved to the veth that routes the pod IP')
  // Forwarding is off: the kernel refuses, and says so.
  t.same(s.routeGets[0]!.ok, false)
  t.same(s.routeGets[1], {ok: false, error: 'Network is unreachable'})
  t.same(s.routeGets[2]!.ok, false)
  t.equal(typeof s.iptables, 'string')
  const broken = await new LocalKernelReader('/run/netns/cnidbg-trc-does-not-exist').snapshot()
  t.ok(
    broken.missing.some((m) => m.startsWith('exec:')),
    'an unreadable namespace is reported, not thrown',
  )
})
