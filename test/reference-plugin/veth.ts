import t from 'tap'

import {
  hostAddrBatch,
  hostVethName,
  linkBatches,
  podAddrBatch,
  randomMac,
  v6Metric,
  type VethPlan,
} from '../../src/reference-plugin/veth.js'

t.test('host veth names are deterministic, distinct and fit IFNAMSIZ', async (t) => {
  const a = hostVethName('abc', 'eth0')
  t.equal(a, hostVethName('abc', 'eth0'))
  t.not(a, hostVethName('abc', 'net1'))
  t.not(a, hostVethName('abd', 'eth0'))
  t.match(a, /^cnidbg[0-9a-f]{8}$/)
  t.ok(a.length <= 15)
  t.match(randomMac(), /^[0-9a-f][26ae](:[0-9a-f]{2}){5}$/, 'locally administered unicast')
})

t.test('the pair and both ends up before IPAM answers; then addresses and routes on each side', async (t) => {
  const plan: VethPlan = {
    hostIf: 'cnidbg00000001',
    podIf: 'net1',
    hostMac: '02:00:00:00:00:01',
    podMac: '02:00:00:00:00:02',
    mtu: 1450,
    podNsPath: '/run/netns/p',
    alias: 'cnidbg-ref n c net1',
    addrs: [
      {address: '10.0.0.2/24', gateway: '10.0.0.1', family: 4},
      {address: 'fd00::2/64', gateway: 'fd00::1', family: 6},
    ],
    routes: [{dst: '0.0.0.0/0'}, {dst: '::/0'}],
  }
  const link = linkBatches(plan)
  t.match(link.host[0], /^link add cnidbg00000001 mtu 1450 .* type veth peer name net1 .* netns \/run\/netns\/p$/)
  t.same(link.host.slice(1), ['link set cnidbg00000001 up alias "cnidbg-ref n c net1"'], 'nothing that needs IPAM')
  t.same(link.pod, ['link set net1 up'])
  const host = hostAddrBatch(plan)
  t.notOk(
    host.some((l) => l.startsWith('link ')),
    'no link lines after IPAM',
  )
  t.ok(host.includes('addr add 10.0.0.1/32 dev cnidbg00000001'))
  t.ok(host.includes('route append 10.0.0.2/32 dev cnidbg00000001 scope link'))
  t.ok(host.includes('addr add fd00::1/128 dev cnidbg00000001 nodad'))
  const pod = podAddrBatch(plan)
  const m = v6Metric('net1')
  t.not(m, 1024, 'a second interface gets its own IPv6 metric')
  t.equal(v6Metric('eth0'), 1024)
  t.same(pod, [
    'addr add 10.0.0.2/24 dev net1 noprefixroute',
    'route append 10.0.0.1/32 dev net1 scope link',
    'addr add fd00::2/64 dev net1 noprefixroute nodad',
    `route append fd00::1/128 dev net1 scope link metric ${m}`,
    'route append 0.0.0.0/0 via 10.0.0.1 dev net1',
    `route append ::/0 via fd00::1 dev net1 metric ${m}`,
  ])
})
