import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import t from 'tap'

import {faultCatalog} from '../../../src/lab/break.js'
import {FAULTS, SERVICE_FAULTS, findFault} from '../../../src/lab/faults/index.js'

const DIR = join(import.meta.dirname, '..', '..', '..', 'src', 'lab', 'faults')

t.test('the catalog has every fault the lab promises', async (t) => {
  const ids = FAULTS.map((f) => f.id)
  for (const id of [
    'pod-link-down',
    'host-veth-down',
    'pod-address-removed',
    'route-missing',
    'route-wrong-node',
    'fdb-missing',
    'fdb-stale',
    'neigh-missing',
    'iptables-drop-forward',
    'ip-forward-off',
    'rp-filter-strict',
    'underlay-mtu',
    'vxlan-port-blocked',
    'vpc-route-deleted',
    'vpc-route-wrong-target',
    'vpc-src-dst-check',
    'bgp-session-blocked',
    'bgp-route-withdrawn',
    'bgp-speaker-stopped',
    'policy-deny-ingress',
    'policy-deny-egress',
    'pod-labels-removed',
    'service-nat-bypassed',
    'conntrack-invalid-drop',
    'daemon-stopped',
  ])
    t.ok(ids.includes(id), id)
  t.equal(new Set(ids).size, ids.length, 'ids are unique')
})

t.test('each fault is one module named after its id, fully described', async (t) => {
  for (const f of FAULTS) {
    t.match(f.id, /^[a-z0-9]+(-[a-z0-9]+)*$/, `${f.id}: kebab-case`)
    const file = join(DIR, `${f.id}.ts`)
    t.ok(existsSync(file), `${f.id}: src/lab/faults/${f.id}.ts`)
    t.match(readFileSync(file, 'utf8'), `id: '${f.id}'`, `${f.id}: defined in its own module`)
    t.ok(
      f.title.length > 10 && f.description.length > 60 && f.symptom.length > 20,
      `${f.id}: title, description and symptom`,
    )
    t.ok(f.modes.length > 0 && f.modes.every((m) => ['vxlan', 'host-gw', 'vpc', 'bgp'].includes(m)), `${f.id}: modes`)
    t.ok(['pod', 'node', 'peer', 'underlay'].includes(f.scope), `${f.id}: scope`)
    t.equal(findFault(f.id), f)
  }
  t.equal(findFault('no-such-fault'), undefined)
})

t.test("faults on the daemon's state stop the daemon; the others leave it running", async (t) => {
  // The daemon repairs routes, FDB and neighbour entries within seconds: such a fault must stop it.
  const daemonManaged = [
    'route-missing',
    'route-wrong-node',
    'fdb-missing',
    'fdb-stale',
    'neigh-missing',
    'vpc-route-deleted',
    'vpc-route-wrong-target',
    'bgp-speaker-stopped',
    'daemon-stopped',
  ]
  for (const f of FAULTS) t.equal(f.stopsDaemon, daemonManaged.includes(f.id), f.id)
})

t.test('VXLAN-only faults say so', async (t) => {
  for (const id of ['fdb-missing', 'fdb-stale', 'neigh-missing', 'vxlan-port-blocked'])
    t.same(findFault(id)!.modes, ['vxlan'], id)
  for (const id of ['route-missing', 'route-wrong-node', 'underlay-mtu', 'rp-filter-strict', 'pod-link-down'])
    t.same(findFault(id)!.modes, ['vxlan', 'host-gw'], id)
  for (const id of ['vpc-route-deleted', 'vpc-route-wrong-target', 'vpc-src-dst-check'])
    t.same(findFault(id)!.modes, ['vpc'], id)
  for (const id of ['bgp-session-blocked', 'bgp-route-withdrawn', 'bgp-speaker-stopped'])
    t.same(findFault(id)!.modes, ['bgp'], id)
  // The service proxy and the endpoints controller run in every mode.
  for (const id of SERVICE_FAULTS) t.same(findFault(id)!.modes, ['vxlan', 'host-gw', 'vpc', 'bgp'], id)
})

t.test('the catalog as lab break --list returns it is plain data', async (t) => {
  const c = faultCatalog()
  t.equal(c.length, FAULTS.length)
  t.same(JSON.parse(JSON.stringify(c)), c)
})
