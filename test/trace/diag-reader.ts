import {createServer} from 'node:http'
import type {AddressInfo} from 'node:net'

import t from 'tap'

import {diagUnknowns, RemoteDiagReader, snapshotFromDiag, toFdb, toNeigh, toRoute} from '../../src/trace/diag-reader.js'

t.test('remote /diag objects, in text or object form', async (t) => {
  t.same(toRoute('10.244.1.0/24 via 10.244.1.0 dev cnidbg.1 onlink'), {
    dst: '10.244.1.0/24',
    gateway: '10.244.1.0',
    dev: 'cnidbg.1',
    flags: ['onlink'],
  })
  t.same(toRoute({dst: '10.244.1.0/24', via: '10.244.1.0', dev: 'cnidbg.1', onlink: true, metric: 0}), {
    dst: '10.244.1.0/24',
    gateway: '10.244.1.0',
    dev: 'cnidbg.1',
    flags: ['onlink'],
  })
  t.same(toNeigh({ip: '10.244.1.0', mac: 'aa:bb:cc:dd:ee:ff', dev: 'cnidbg.1', state: 'PERMANENT'}, 'x'), {
    dst: '10.244.1.0',
    dev: 'cnidbg.1',
    lladdr: 'aa:bb:cc:dd:ee:ff',
    state: ['PERMANENT'],
  })
  t.same(toFdb('aa:bb:cc:dd:ee:ff dst 198.18.0.11 self permanent', 'cnidbg.1'), {
    mac: 'aa:bb:cc:dd:ee:ff',
    dst: '198.18.0.11',
    ifname: 'cnidbg.1',
    flags: ['self'],
  })
  t.equal(toRoute(42), undefined)
})

// The shape src/daemon serves (trimmed).
const DIAG = {
  schemaVersion: 1,
  node: 'node-0',
  mode: 'vxlan',
  iface: 'eth0',
  nodeIP: '198.18.0.10',
  podCIDR: '10.244.0.0/24',
  underlay: {iface: 'eth0', ip: '198.18.0.10', prefix: 15, mtu: 1500, up: true},
  vtep: {
    name: 'cnidbg.1',
    present: true,
    mac: '0a:00:00:00:00:01',
    mtu: 1450,
    state: 'UNKNOWN',
    addresses: ['10.244.0.0/32'],
  },
  peers: [],
  kernel: {
    ownedRoutes: [
      {
        dst: '10.244.1.0/24',
        via: '10.244.1.0',
        dev: 'cnidbg.1',
        onlink: true,
        metric: 0,
        proto: '250',
        type: 'unicast',
        multipath: false,
      },
    ],
    neighs: [{ip: '10.244.1.0', mac: '0a:00:00:00:00:02', dev: 'cnidbg.1', state: 'PERMANENT'}],
    fdbs: [{mac: '0a:00:00:00:00:02', dst: '198.18.0.11', dev: 'cnidbg.1', state: 'permanent'}],
  },
  sysctls: {'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.cnidbg.1.rp_filter': '1'},
}

t.test('snapshotFromDiag maps the daemon report and says what it lacks', async (t) => {
  const s = snapshotFromDiag(DIAG, 'cnidbg.1')
  t.same(
    s.links.map((l) => [l.ifname, l.mtu, l.addr_info?.[0]?.local]),
    [
      ['cnidbg.1', 1450, '10.244.0.0'],
      ['eth0', 1500, '198.18.0.10'],
    ],
  )
  t.equal(s.routes[0]!.gateway, '10.244.1.0')
  t.equal(s.neigh[0]!.lladdr, '0a:00:00:00:00:02')
  t.equal(s.fdb[0]!.dst, '198.18.0.11')
  t.equal(s.sysctls['net/ipv4/conf/cnidbg.1/rp_filter'], '1')
  t.equal(s.sysctls['net/ipv4/ip_forward'], '1')
  t.ok(s.missing.includes('routeGet') && s.missing.includes('veths'))
  t.same(snapshotFromDiag({}, 'cnidbg.1').links, [], 'an empty document is not an error')
})

t.test('what a /diag read leaves unknown: the sysctls only when it served none', async (t) => {
  t.same(diagUnknowns(snapshotFromDiag(DIAG, 'cnidbg.1')), ['route lookups', 'netfilter'])
  t.same(diagUnknowns(snapshotFromDiag({...DIAG, sysctls: {}}, 'cnidbg.1')), ['route lookups', 'sysctls', 'netfilter'])
  t.same(diagUnknowns({...snapshotFromDiag({}, 'cnidbg.1'), missing: ['all', 'diag: HTTP 404']}), [])
})

t.test('RemoteDiagReader reads GET /diag and tolerates a dead endpoint', async (t) => {
  const server = createServer((req, res) => {
    if (req.url === '/diag') {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify(DIAG))
    } else {
      res.statusCode = 404
      res.end()
    }
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const port = (server.address() as AddressInfo).port
  const s = await new RemoteDiagReader(`http://127.0.0.1:${port}`).snapshot({routeGets: [{dst: '10.244.1.5'}]})
  t.equal(s.fdb.length, 1)
  t.same(s.routeGets, [{ok: false, error: 'not available over /diag', unavailable: true}])
  const dead = await new RemoteDiagReader(`http://127.0.0.1:${port}/nope`, {timeoutMs: 500}).snapshot()
  t.ok(dead.missing.includes('all'))
  t.match(dead.missing.join(' '), /HTTP 404/)
})
