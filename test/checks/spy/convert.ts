import t from 'tap'

import {convertResult, ipamResult} from '../../../src/checks/spy/convert.js'

// The APX bridge result (SPEC.md#add-example), 1.1.0 with an mtu and a route scope.
const v110 = {
  cniVersion: '1.1.0',
  interfaces: [
    {name: 'cni0', mac: '00:11:22:33:44:55', mtu: 1500},
    {name: 'veth3243', mac: '55:44:33:22:11:11'},
    {name: 'eth0', mac: '99:88:77:66:55:44', sandbox: '/var/run/netns/blue', mtu: 1500},
  ],
  ips: [
    {address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 2},
    {address: 'fd00::5/64', gateway: 'fd00::1', interface: 2},
  ],
  routes: [{dst: '0.0.0.0/0', scope: 0}, {dst: '::/0'}],
  dns: {nameservers: ['10.1.0.1']},
}

t.test('down to 1.0.0 drops the 1.1.0-only fields and nothing else', async (t) => {
  const r = convertResult(v110, '1.0.0')
  t.equal(r.cniVersion, '1.0.0')
  t.same(r.interfaces, [
    {name: 'cni0', mac: '00:11:22:33:44:55'},
    {name: 'veth3243', mac: '55:44:33:22:11:11'},
    {name: 'eth0', mac: '99:88:77:66:55:44', sandbox: '/var/run/netns/blue'},
  ])
  t.same(r.ips, v110.ips)
  t.same(r.routes, [{dst: '0.0.0.0/0'}, {dst: '::/0'}])
  t.same(r.dns, v110.dns)
})

t.test('1.1.0 keeps everything', async (t) => {
  t.same(convertResult(v110, '1.1.0'), v110)
})

t.test('0.4.0 and 0.3.1 add ips[].version by address family, and back', async (t) => {
  const r = convertResult(v110, '0.4.0')
  t.same(
    (r.ips as Array<{version: string}>).map((i) => i.version),
    ['4', '6'],
  )
  t.equal(convertResult(v110, '0.3.1').cniVersion, '0.3.1')
  const back = convertResult(r, '1.0.0')
  t.same(
    (back.ips as Array<Record<string, unknown>>).map((i) => i.version),
    [undefined, undefined],
  )
})

t.test('0.2.0 uses ip4/ip6 with routes split by family, and comes back', async (t) => {
  const r = convertResult(v110, '0.2.0')
  t.same(r, {
    cniVersion: '0.2.0',
    ip4: {ip: '10.1.0.5/16', gateway: '10.1.0.1', routes: [{dst: '0.0.0.0/0'}]},
    ip6: {ip: 'fd00::5/64', gateway: 'fd00::1', routes: [{dst: '::/0'}]},
    dns: {nameservers: ['10.1.0.1']},
  })
  const up = convertResult(r, '1.0.0')
  t.same(up.ips, [
    {address: '10.1.0.5/16', gateway: '10.1.0.1'},
    {address: 'fd00::5/64', gateway: 'fd00::1'},
  ])
  t.same(up.routes, [{dst: '0.0.0.0/0'}, {dst: '::/0'}])
  t.equal(up.interfaces, undefined, 'no interfaces to invent')
})

t.test('an IPAM answer becomes an abbreviated result in the asked version', async (t) => {
  const answer = {ips: [{address: '10.9.0.2/24', gateway: '10.9.0.1'}], routes: [{dst: '0.0.0.0/0'}]}
  const r100 = ipamResult(answer, '1.0.0')
  t.same(r100, {
    cniVersion: '1.0.0',
    ips: [{address: '10.9.0.2/24', gateway: '10.9.0.1'}],
    routes: [{dst: '0.0.0.0/0'}],
  })
  t.notOk('interfaces' in r100, 'no interfaces (P54)')
  t.same(ipamResult(answer, '0.4.0').ips, [{version: '4', address: '10.9.0.2/24', gateway: '10.9.0.1'}])
  t.same(ipamResult(answer, '0.1.0'), {
    cniVersion: '0.1.0',
    ip4: {ip: '10.9.0.2/24', gateway: '10.9.0.1', routes: [{dst: '0.0.0.0/0'}]},
  })
})

t.test('a result already in the asked version is copied untouched (even empty dns)', async (t) => {
  const r = {cniVersion: '0.4.0', ips: [{version: '4', address: '10.0.0.2/24'}], dns: {}, extra: 1}
  const c = convertResult(r, '0.4.0')
  t.same(c, r)
  t.not(c, r, 'a copy')
})
