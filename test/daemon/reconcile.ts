import t from 'tap'

import {
  type ActualFdb,
  type ActualNeigh,
  type ActualRoute,
  type ActualState,
  type DesiredState,
  type Ownership,
  ROUTE_PROTO,
} from '../../src/daemon/model.js'
import {compareFdb, compareNeigh, compareRoute, diff, type Op, orderOps} from '../../src/daemon/reconcile.js'

const VTEP = 'cnidbg.1'
const own: Ownership = {routeProto: ROUTE_PROTO, neighDevs: [VTEP], fdbDevs: [VTEP]}
const P = String(ROUTE_PROTO)

const MAC_B = '02:00:00:00:00:0b'
const MAC_C = '02:00:00:00:00:0c'

/** What node A wants for peers B (10.244.1.0/24 @198.18.0.2) and C (10.244.2.0/24 @198.18.0.3). */
function desiredAB(): DesiredState {
  return {
    neighs: [
      {ip: '10.244.1.0', mac: MAC_B, dev: VTEP},
      {ip: '10.244.2.0', mac: MAC_C, dev: VTEP},
    ],
    fdbs: [
      {mac: MAC_B, dst: '198.18.0.2', dev: VTEP},
      {mac: MAC_C, dst: '198.18.0.3', dev: VTEP},
    ],
    routes: [
      {dst: '10.244.1.0/24', via: '10.244.1.0', dev: VTEP, onlink: true, metric: 0},
      {dst: '10.244.2.0/24', via: '10.244.2.0', dev: VTEP, onlink: true, metric: 0},
    ],
  }
}

function route(over: Partial<ActualRoute> & {dst: string}): ActualRoute {
  return {via: undefined, dev: VTEP, onlink: false, metric: 0, proto: P, type: 'unicast', multipath: false, ...over}
}

function neigh(over: Partial<ActualNeigh> & {ip: string}): ActualNeigh {
  return {mac: MAC_B, dev: VTEP, state: 'PERMANENT', ...over}
}

function fdb(over: Partial<ActualFdb> & {mac: string}): ActualFdb {
  return {dst: '198.18.0.2', dev: VTEP, state: 'permanent', ...over}
}

/** The kernel state that exactly matches desiredAB(), plus the usual foreign routes. */
function actualAB(): ActualState {
  return {
    routes: [
      route({dst: '10.244.1.0/24', via: '10.244.1.0', onlink: true}),
      route({dst: '10.244.2.0/24', via: '10.244.2.0', onlink: true}),
      route({dst: '198.18.0.0/15', dev: 'eth0', proto: '2'}),
      route({dst: '10.244.0.0/24', dev: 'cni0', proto: '2'}),
    ],
    neighs: [
      neigh({ip: '10.244.1.0', mac: MAC_B}),
      neigh({ip: '10.244.2.0', mac: MAC_C}),
      // Not on an owned device: never touched.
      neigh({ip: '198.18.0.9', mac: '02:99:99:99:99:99', dev: 'eth0', state: 'REACHABLE'}),
    ],
    fdbs: [fdb({mac: MAC_B, dst: '198.18.0.2'}), fdb({mac: MAC_C, dst: '198.18.0.3'})],
  }
}

const summary = (ops: Op[]) =>
  ops.map((o) => {
    const obj = o.kind === 'route' ? o.route.dst : o.kind === 'neigh' ? o.neigh.ip : `${o.fdb.mac}>${o.fdb.dst}`
    return `${o.kind} ${o.action} ${obj}`
  })

t.test('empty kernel: neighbour, FDB, route for every peer, in that order', async (t) => {
  const plan = diff(desiredAB(), {routes: [], neighs: [], fdbs: []}, own)
  t.same(summary(plan.ops), [
    'neigh replace 10.244.1.0',
    'neigh replace 10.244.2.0',
    `fdb replace ${MAC_B}>198.18.0.2`,
    `fdb replace ${MAC_C}>198.18.0.3`,
    'route replace 10.244.1.0/24',
    'route replace 10.244.2.0/24',
  ])
  t.ok(plan.ops.every((o) => o.reason === 'missing'))
  t.equal(plan.inSync, 0)
  t.same(plan.conflicts, [])
})

t.test('in sync: no ops, everything counted, foreign routes and neighbours ignored', async (t) => {
  const plan = diff(desiredAB(), actualAB(), own)
  t.same(plan.ops, [])
  t.equal(plan.inSync, 6)
})

t.test('the diff is idempotent: applying its ops yields a state with no ops', async (t) => {
  // Simulate "apply" on the model and diff again.
  const actual: ActualState = {routes: [], neighs: [], fdbs: []}
  for (const op of diff(desiredAB(), actual, own).ops) {
    if (op.kind === 'route') actual.routes.push(route({...op.route}))
    if (op.kind === 'neigh') actual.neighs.push(neigh({...op.neigh}))
    if (op.kind === 'fdb') actual.fdbs.push(fdb({...op.fdb}))
  }
  t.same(diff(desiredAB(), actual, own).ops, [])
})

t.test('a deleted route, neighbour or FDB entry is re-added alone', async (t) => {
  for (const [what, mutate, expected] of [
    ['route', (a: ActualState) => a.routes.splice(0, 1), 'route replace 10.244.1.0/24'],
    ['neigh', (a: ActualState) => a.neighs.splice(1, 1), 'neigh replace 10.244.2.0'],
    ['fdb', (a: ActualState) => a.fdbs.splice(0, 1), `fdb replace ${MAC_B}>198.18.0.2`],
  ] as const) {
    const a = actualAB()
    mutate(a)
    const plan = diff(desiredAB(), a, own)
    t.same(summary(plan.ops), [expected], what)
    t.equal(plan.ops[0]!.reason, 'missing')
    t.equal(plan.inSync, 5)
  }
})

t.test('a stale FDB dst is rewritten in place (one replace, no delete gap)', async (t) => {
  const a = actualAB()
  a.fdbs[0] = fdb({mac: MAC_B, dst: '198.18.9.9'})
  const plan = diff(desiredAB(), a, own)
  t.same(summary(plan.ops), [`fdb replace ${MAC_B}>198.18.0.2`])
  t.match(plan.ops[0]!.reason, /stale: dst 198\.18\.9\.9 ≠ 198\.18\.0\.2/)
})

t.test('extra remotes for one MAC (bridge fdb append) are deleted, the right one kept', async (t) => {
  const a = actualAB()
  a.fdbs.push(fdb({mac: MAC_B, dst: '198.18.7.7'}))
  t.same(summary(diff(desiredAB(), a, own).ops), [`fdb del ${MAC_B}>198.18.7.7`])

  // Two wrong remotes: both go, then the right one is added.
  const b = actualAB()
  b.fdbs[0] = fdb({mac: MAC_B, dst: '198.18.7.7'})
  b.fdbs.push(fdb({mac: MAC_B, dst: '198.18.8.8'}))
  t.same(summary(diff(desiredAB(), b, own).ops), [
    `fdb del ${MAC_B}>198.18.7.7`,
    `fdb del ${MAC_B}>198.18.8.8`,
    `fdb replace ${MAC_B}>198.18.0.2`,
  ])
})

t.test('a non-permanent FDB entry is made permanent', async (t) => {
  const a = actualAB()
  a.fdbs[1] = fdb({mac: MAC_C, dst: '198.18.0.3', state: ''})
  const plan = diff(desiredAB(), a, own)
  t.same(summary(plan.ops), [`fdb replace ${MAC_C}>198.18.0.3`])
  t.match(plan.ops[0]!.reason, /state dynamic/)
})

t.test('a stale neighbour MAC or a non-permanent neighbour is replaced', async (t) => {
  const a = actualAB()
  a.neighs[0] = neigh({ip: '10.244.1.0', mac: '02:de:ad:be:ef:00'})
  a.neighs[1] = neigh({ip: '10.244.2.0', mac: MAC_C, state: 'STALE'})
  const plan = diff(desiredAB(), a, own)
  t.same(summary(plan.ops), ['neigh replace 10.244.1.0', 'neigh replace 10.244.2.0'])
  t.match(plan.ops[0]!.reason, /lladdr 02:de:ad:be:ef:00 ≠ 02:00:00:00:00:0b/)
  t.match(plan.ops[1]!.reason, /state STALE/)
})

t.test('a stale route (wrong gateway, device, onlink, type) is replaced, not deleted', async (t) => {
  const cases: Array<[Partial<ActualRoute>, RegExp]> = [
    [{via: '10.244.9.0', onlink: true}, /via 10\.244\.9\.0 ≠ 10\.244\.1\.0/],
    [{via: '10.244.1.0', onlink: true, dev: 'eth0'}, /dev eth0 ≠ cnidbg\.1/],
    [{via: '10.244.1.0', onlink: false}, /onlink missing/],
    [{via: '10.244.1.0', onlink: true, type: 'blackhole'}, /type blackhole/],
  ]
  for (const [over, why] of cases) {
    const a = actualAB()
    a.routes[0] = route({dst: '10.244.1.0/24', ...over})
    const plan = diff(desiredAB(), a, own)
    t.same(summary(plan.ops), ['route replace 10.244.1.0/24'])
    t.match(plan.ops[0]!.reason, why)
  }
})

t.test('a removed peer: route, FDB, neighbour deleted in reverse order', async (t) => {
  const d = desiredAB()
  d.neighs.pop()
  d.fdbs.pop()
  d.routes.pop()
  const plan = diff(d, actualAB(), own)
  t.same(summary(plan.ops), ['route del 10.244.2.0/24', `fdb del ${MAC_C}>198.18.0.3`, 'neigh del 10.244.2.0'])
  t.ok(plan.ops.every((o) => o.reason === 'not desired'))
  // Deletion carries the actual route (its gateway) so the exact entry is removed.
  t.match(plan.ops[0], {kind: 'route', route: {via: '10.244.2.0'}})
})

t.test('everything removed when nothing is desired; foreign objects untouched', async (t) => {
  const plan = diff({routes: [], neighs: [], fdbs: []}, actualAB(), own)
  t.same(summary(plan.ops), [
    'route del 10.244.1.0/24',
    'route del 10.244.2.0/24',
    `fdb del ${MAC_B}>198.18.0.2`,
    `fdb del ${MAC_C}>198.18.0.3`,
    'neigh del 10.244.1.0',
    'neigh del 10.244.2.0',
  ])
  t.notOk(
    plan.ops.some((o) => o.kind === 'route' && ['198.18.0.0/15', '10.244.0.0/24'].includes(o.route.dst)),
    'kernel routes are not ours',
  )
  t.notOk(
    plan.ops.some((o) => o.kind === 'neigh' && o.neigh.dev === 'eth0'),
    'neighbours off the VTEP are not ours',
  )
})

t.test('a foreign route with our key is never overwritten; reported as a blocking conflict', async (t) => {
  const a = actualAB()
  a.routes[0] = route({dst: '10.244.1.0/24', via: '198.18.0.50', dev: 'eth0', proto: '3'})
  const plan = diff(desiredAB(), a, own)
  t.same(summary(plan.ops), [], 'no replace over the foreign route, and no delete of it')
  t.equal(plan.conflicts.length, 1)
  t.match(plan.conflicts[0], {dst: '10.244.1.0/24', blocking: true, foreign: [/via 198\.18\.0\.50 dev eth0 proto 3/]})
})

t.test('a foreign route with another metric does not block, but is reported', async (t) => {
  const a = actualAB()
  a.routes.push(route({dst: '10.244.2.0/24', via: '198.18.0.50', dev: 'eth0', proto: '4', metric: 100}))
  const plan = diff(desiredAB(), a, own)
  t.same(plan.ops, [])
  t.match(plan.conflicts, [{dst: '10.244.2.0/24', blocking: false}])
})

t.test('our route at a wrong metric is deleted and the right one added', async (t) => {
  const a = actualAB()
  a.routes[0] = route({dst: '10.244.1.0/24', via: '10.244.1.0', onlink: true, metric: 50})
  const plan = diff(desiredAB(), a, own)
  t.same(summary(plan.ops), ['route del 10.244.1.0/24', 'route replace 10.244.1.0/24'])
  t.match(plan.ops[0], {action: 'del', route: {metric: 50}})
})

t.test('duplicate owned routes for one key: the drifted one is deleted', async (t) => {
  const a = actualAB()
  a.routes.push(route({dst: '10.244.1.0/24', via: '10.244.7.0', onlink: true}))
  const plan = diff(desiredAB(), a, own)
  t.same(summary(plan.ops), ['route del 10.244.1.0/24', 'route replace 10.244.1.0/24'])
  t.match(plan.ops[0], {action: 'del', route: {via: '10.244.7.0'}, reason: 'duplicate'})
})

t.test('neighbours in odd states on the VTEP that nobody wants are deleted', async (t) => {
  const a = actualAB()
  a.neighs.push(neigh({ip: '10.244.5.0', mac: '', state: 'FAILED'}))
  t.same(summary(diff(desiredAB(), a, own).ops), ['neigh del 10.244.5.0'])
})

t.test('duplicate desired objects are programmed once', async (t) => {
  const d = desiredAB()
  d.routes.push({...d.routes[0]!})
  d.neighs.push({...d.neighs[0]!})
  d.fdbs.push({...d.fdbs[0]!})
  t.equal(diff(d, {routes: [], neighs: [], fdbs: []}, own).ops.length, 6)
})

t.test('host-gw ownership: only proto routes, no neighbour or FDB table is ours', async (t) => {
  const hostGw: Ownership = {routeProto: ROUTE_PROTO, neighDevs: [], fdbDevs: []}
  const desired: DesiredState = {
    routes: [{dst: '10.244.1.0/24', via: '198.18.0.2', dev: 'eth0', onlink: false, metric: 0}],
    neighs: [],
    fdbs: [],
  }
  const actual = actualAB() // vxlan leftovers: routes ours, neigh/fdb on a device host-gw doesn't own
  const plan = diff(desired, actual, hostGw)
  t.same(summary(plan.ops), ['route del 10.244.2.0/24', 'route replace 10.244.1.0/24'])
  t.match(plan.ops[1]!.reason, /via 10\.244\.1\.0 ≠ 198\.18\.0\.2/)
})

t.test('peer VTEP MAC change: neighbour replaced, old FDB deleted, new one added, route kept', async (t) => {
  const NEW = '02:00:00:00:01:0b'
  const d = desiredAB()
  d.neighs[0] = {ip: '10.244.1.0', mac: NEW, dev: VTEP}
  d.fdbs[0] = {mac: NEW, dst: '198.18.0.2', dev: VTEP}
  const plan = diff(d, actualAB(), own)
  t.same(summary(plan.ops), [
    `fdb del ${MAC_B}>198.18.0.2`,
    'neigh replace 10.244.1.0',
    `fdb replace ${NEW}>198.18.0.2`,
  ])
})

t.test('orderOps: deletes (route, fdb, neigh) before adds (neigh, fdb, route), keys sorted', async (t) => {
  const ops: Op[] = [
    {kind: 'route', action: 'replace', route: {dst: '10.0.2.0/24', dev: 'x', onlink: false, metric: 0}, reason: ''},
    {kind: 'neigh', action: 'del', neigh: {ip: '10.0.0.1', mac: MAC_B, dev: 'x'}, reason: ''},
    {kind: 'fdb', action: 'replace', fdb: {mac: MAC_B, dst: '1.1.1.1', dev: 'x'}, reason: ''},
    {kind: 'route', action: 'del', route: {dst: '10.0.9.0/24', dev: 'x', onlink: false, metric: 0}, reason: ''},
    {kind: 'neigh', action: 'replace', neigh: {ip: '10.0.0.2', mac: MAC_B, dev: 'x'}, reason: ''},
    {kind: 'fdb', action: 'del', fdb: {mac: MAC_C, dst: '1.1.1.2', dev: 'x'}, reason: ''},
    {kind: 'route', action: 'replace', route: {dst: '10.0.1.0/24', dev: 'x', onlink: false, metric: 0}, reason: ''},
  ]
  t.same(
    orderOps(ops).map((o) => `${o.kind}-${o.action}`),
    ['route-del', 'fdb-del', 'neigh-del', 'neigh-replace', 'fdb-replace', 'route-replace', 'route-replace'],
  )
  t.same(
    orderOps(ops)
      .filter((o) => o.kind === 'route' && o.action === 'replace')
      .map((o) => (o.kind === 'route' ? o.route.dst : '')),
    ['10.0.1.0/24', '10.0.2.0/24'],
  )
})

t.test('compare*: per-object status for /diag', async (t) => {
  const d = desiredAB()
  const a = actualAB()
  t.equal(compareRoute(d.routes[0]!, a, own).status, 'ok')
  t.equal(compareNeigh(d.neighs[0]!, a).status, 'ok')
  t.equal(compareFdb(d.fdbs[0]!, a).status, 'ok')

  a.routes.splice(0, 1)
  t.equal(compareRoute(d.routes[0]!, a, own).status, 'missing')
  a.routes.push(route({dst: '10.244.1.0/24', via: '1.2.3.4', dev: 'eth0', proto: '3'}))
  t.match(compareRoute(d.routes[0]!, a, own), {status: 'conflict', detail: /foreign route proto 3/})

  a.neighs[0] = neigh({ip: '10.244.1.0', mac: MAC_C})
  t.match(compareNeigh(d.neighs[0]!, a), {status: 'stale', detail: /lladdr/})
  a.fdbs[0] = fdb({mac: MAC_B, dst: '9.9.9.9'})
  t.match(compareFdb(d.fdbs[0]!, a), {status: 'stale', detail: 'dst 9.9.9.9'})
  a.fdbs = []
  t.equal(compareFdb(d.fdbs[0]!, a).status, 'missing')
})

t.test('a route wanted with any next hop (bgp behind a router) is in sync whatever its via', async (t) => {
  const bird: Ownership = {routeProto: 12, neighDevs: [], fdbDevs: []}
  const want = {dst: '10.244.2.0/24', anyVia: true, dev: 'eth0', onlink: false, metric: 32}
  const have = route({dst: '10.244.2.0/24', via: '198.18.0.254', dev: 'eth0', metric: 32, proto: '12'})
  const p = diff({routes: [want], neighs: [], fdbs: []}, {routes: [have], neighs: [], fdbs: []}, bird)
  t.same(p.ops, [])
  t.equal(p.inSync, 1)
  t.equal(compareRoute(want, {routes: [have], neighs: [], fdbs: []}, bird).status, 'ok')
  // A fixed next hop still has to match.
  const fixed = {...want, anyVia: undefined, via: '198.18.1.3'}
  t.equal(compareRoute(fixed, {routes: [have], neighs: [], fdbs: []}, bird).status, 'stale')
})
