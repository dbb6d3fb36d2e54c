import t from 'tap'

import {
  hostAddrBatch,
  hostAlias,
  hostVethName,
  linkBatches,
  parseAlias,
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
  t.match(link.host[0], /^link add name cnidbg00000001 mtu 1450 .* type veth peer name net1 .* netns \/run\/netns\/p$/)
  t.same(link.host.slice(1), ['link set dev cnidbg00000001 up alias "cnidbg-ref n c net1"'], 'nothing that needs IPAM')
  t.same(link.pod, ['link set dev net1 up'])
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

const basePlan: VethPlan = {
  hostIf: 'cnidbg00000001',
  podIf: 'eth0',
  hostMac: '02:00:00:00:00:01',
  podMac: '02:00:00:00:00:02',
  mtu: 1500,
  podNsPath: '/run/netns/p',
  alias: 'cnidbg-ref n c eth0',
  addrs: [{address: '10.0.0.2/24', gateway: '10.0.0.1', family: 4}],
  routes: [],
}

t.test('IPAM values reach ip parsed and printed canonically, never as given', async (t) => {
  const plan: VethPlan = {
    ...basePlan,
    addrs: [{address: 'FD00:0::0002/64', gateway: 'FD00::1', family: 6}],
    routes: [{dst: '::/0', gw: 'fd00:0:0:0:0:0:0:1'}],
  }
  t.same(podAddrBatch(plan), [
    'addr add fd00::2/64 dev eth0 noprefixroute nodad',
    'route append fd00::1/128 dev eth0 scope link metric 1024',
    'route append ::/0 via fd00::1 dev eth0 metric 1024',
  ])
  t.same(hostAddrBatch(plan), [
    'addr add fd00::1/128 dev cnidbg00000001 nodad',
    'route append fd00::2/128 dev cnidbg00000001 scope link',
  ])
})

t.test('an IPAM value that is not an address is a CNI error naming the field', async (t) => {
  const withRoute = (gw: string): VethPlan => ({...basePlan, routes: [{dst: '0.0.0.0/0', gw}]})
  t.throws(() => podAddrBatch(withRoute('10.0.0.1\nnetns exec x touch /tmp/f')), {
    code: 7,
    message: /routes\[0\]\.gw "10\.0\.0\.1\\nnetns exec/,
  })
  t.throws(() => podAddrBatch(withRoute('fd00::1')), {code: 7, message: /routes\[0\]\.gw .* IPv4/})
  t.throws(() => podAddrBatch({...basePlan, routes: [{dst: '0.0.0.0/0 dev lo'}]}), {
    code: 7,
    message: /routes\[0\]\.dst/,
  })
  const badGw = {...basePlan, addrs: [{address: '10.0.0.2/24', gateway: '10.0.0.1 dev lo', family: 4 as const}]}
  t.throws(() => hostAddrBatch(badGw), {code: 7, message: /ips\[0\]\.gateway/})
  t.throws(() => linkBatches({...basePlan, mtu: 1e9}), {code: 7, message: /^mtu/})
})

t.test('names and paths are words of their own: quotes, "#" and keywords keep their meaning', async (t) => {
  const link = linkBatches({...basePlan, podIf: `x"'master'"br0`, podNsPath: '/run/netns/a b'})
  t.match(link.host[0], /peer name x"'master'"br0 mtu 1500 .* netns "\/run\/netns\/a b"$/)
  t.same(link.pod, [`link set dev x"'master'"br0 up`])
  t.same(linkBatches({...basePlan, podIf: 'up'}).pod, ['link set dev up up'], 'after "dev", "up" is a name')
  t.throws(() => linkBatches({...basePlan, podIf: 'e#'}), {code: 4, message: /^CNI_IFNAME "e#"/})
  t.throws(() => linkBatches({...basePlan, podNsPath: '/run/x\nnetns exec X touch F'}), {
    code: 4,
    message: /^CNI_NETNS .* newline/,
  })
})

t.test('the alias encodes each field, so any legal value comes back intact', async (t) => {
  for (const ifname of ['eth0', `x"'master'"br0`, 'a b', 'e#', '%41', 'é😀', "'", '\\']) {
    const alias = hostAlias('net-1', 'cid_2.x', ifname)
    t.equal(alias.split(' ').length, 4, alias)
    t.notMatch(alias, /["'#\\]/, 'nothing ip or a reader could split on')
    t.same(parseAlias(alias)?.containerID, 'cid_2.x')
    t.ok(parseAlias(alias)?.ifnames.includes(ifname), `${JSON.stringify(ifname)} reads back`)
  }
  t.equal(hostAlias('n', 'c', 'eth0'), 'cnidbg-ref n c eth0', 'plain names read as before')
  t.same(parseAlias('cnidbg-ref n c a%ZZ'), {network: 'n', containerID: 'c', ifnames: ['a%ZZ']})
  t.same(parseAlias('cnidbg-ref n c eth%41')?.ifnames, ['ethA', 'eth%41'], 'an old plain alias still matches')
  t.equal(parseAlias('cnidbg-ref n c'), undefined)
  t.equal(parseAlias('other n c eth0'), undefined)
  t.equal(parseAlias(undefined), undefined)
})
