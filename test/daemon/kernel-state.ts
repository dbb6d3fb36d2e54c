import t from 'tap'

import {parseFdbs, parseLinks, parseNeighs, parseRoutes, underlayOf} from '../../src/daemon/kernel-state.js'

// Captured from iproute2 6.1 (`ip -N -j route show table main` etc.) on the lab topology.
const ROUTES = [
  {dst: 'default', gateway: '198.18.0.9', dev: 'eth0', flags: []},
  {dst: '10.7.0.1', gateway: '198.18.0.7', dev: 'eth0', metric: 20, flags: []},
  {
    dst: '10.8.0.0/16',
    flags: [],
    nexthops: [
      {gateway: '198.18.0.5', dev: 'eth0', weight: 1, flags: []},
      {gateway: '198.18.0.6', dev: 'eth0', weight: 1, flags: []},
    ],
  },
  {type: '6', dst: '10.9.0.0/16', flags: []},
  {dst: '198.18.0.0/15', dev: 'eth0', protocol: '2', scope: '253', prefsrc: '198.18.0.1', flags: []},
  {dst: '10.244.1.0/24', gateway: '10.244.1.0', dev: 'cnidbg.1', protocol: '205', flags: ['onlink']},
]

t.test('routes: defaults iproute2 leaves out are filled in', async (t) => {
  const r = parseRoutes(ROUTES)
  t.same(r[0], {
    dst: '0.0.0.0/0',
    via: '198.18.0.9',
    dev: 'eth0',
    onlink: false,
    metric: 0,
    proto: '3',
    type: 'unicast',
    multipath: false,
  })
  t.match(r[1], {dst: '10.7.0.1/32', metric: 20}, 'a host route gets /32')
  t.match(r[2], {dst: '10.8.0.0/16', multipath: true, dev: ''})
  t.match(r[3], {dst: '10.9.0.0/16', type: 'blackhole'})
  t.match(r[4], {proto: '2', via: undefined})
  t.same(r[5], {
    dst: '10.244.1.0/24',
    via: '10.244.1.0',
    dev: 'cnidbg.1',
    onlink: true,
    metric: 0,
    proto: '205',
    type: 'unicast',
    multipath: false,
  })
  t.same(parseRoutes([{dst: 'fe80::/64', dev: 'eth0'}, 'junk', null]), [], 'IPv6 and junk skipped')
})

t.test('neighbours and FDB', async (t) => {
  t.same(
    parseNeighs([
      {dst: '10.244.1.0', dev: 'cnidbg.1', lladdr: '02:AA:bb:cc:dd:01', state: ['PERMANENT']},
      {dst: '10.244.9.0', dev: 'cnidbg.1', state: ['FAILED']},
    ]),
    [
      {ip: '10.244.1.0', mac: '02:aa:bb:cc:dd:01', dev: 'cnidbg.1', state: 'PERMANENT'},
      {ip: '10.244.9.0', mac: '', dev: 'cnidbg.1', state: 'FAILED'},
    ],
  )
  t.same(
    parseFdbs(
      [
        {mac: '02:aa:bb:cc:dd:01', dst: '198.18.0.2', flags: ['self'], state: 'permanent'},
        {mac: '02:aa:bb:cc:dd:02', dst: '198.18.0.3', flags: ['self']},
        {mac: '33:33:00:00:00:01', flags: ['self'], state: 'permanent'},
      ],
      'cnidbg.1',
    ),
    [
      {mac: '02:aa:bb:cc:dd:01', dst: '198.18.0.2', dev: 'cnidbg.1', state: 'permanent'},
      {mac: '02:aa:bb:cc:dd:02', dst: '198.18.0.3', dev: 'cnidbg.1', state: ''},
    ],
    'entries without a remote dst (local multicast) are not VTEP remotes',
  )
})

const LINKS = [
  {
    ifindex: 3,
    link: 'peer0',
    ifname: 'eth0',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    mtu: 1500,
    operstate: 'UP',
    address: '02:b3:dd:ac:7c:17',
    linkinfo: {info_kind: 'veth'},
    addr_info: [
      {family: 'inet', local: '198.18.0.1', prefixlen: 15, scope: 'global', label: 'eth0'},
      {family: 'inet6', local: 'fe80::b3:ddff:feac:7c17', prefixlen: 64, scope: 'link'},
    ],
  },
  {
    ifindex: 4,
    ifname: 'cnidbg.1',
    flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    mtu: 1450,
    operstate: 'UNKNOWN',
    address: '02:11:22:33:44:55',
    linkinfo: {
      info_kind: 'vxlan',
      info_data: {id: 1, local: '198.18.0.1', link: 'eth0', port_range: {low: 0, high: 0}, port: 8472, learning: false},
    },
    addr_info: [{family: 'inet', local: '10.244.0.0', prefixlen: 32}],
  },
]

t.test('links: vxlan details and IPv4 addresses', async (t) => {
  const [eth0, vtep] = parseLinks(LINKS)
  t.match(eth0, {name: 'eth0', mtu: 1500, up: true, kind: 'veth', ipv4: [{address: '198.18.0.1', prefix: 15}]})
  t.equal(eth0!.vxlan, undefined)
  t.same(vtep, {
    name: 'cnidbg.1',
    index: 4,
    mac: '02:11:22:33:44:55',
    mtu: 1450,
    operstate: 'UNKNOWN',
    up: true,
    kind: 'vxlan',
    master: undefined,
    vxlan: {id: 1, local: '198.18.0.1', link: 'eth0', port: 8472, learning: false},
    ipv4: [{address: '10.244.0.0', prefix: 32}],
  })
})

t.test('underlayOf: the first IPv4 of the interface and its MTU, or why not', async (t) => {
  const links = parseLinks(LINKS)
  t.same(underlayOf(links, 'eth0'), {iface: 'eth0', ip: '198.18.0.1', prefix: 15, mtu: 1500, up: true})
  t.same(underlayOf(links, 'eth9'), {error: 'interface eth9 not found'})
  t.same(underlayOf([{...links[0]!, ipv4: []}], 'eth0'), {error: 'interface eth0 has no IPv4 address'})
})
