import t from 'tap'

import {opArgs, toBatches} from '../../src/daemon/apply.js'
import type {Op} from '../../src/daemon/reconcile.js'

const VTEP = 'cnidbg.1'
const MAC = '02:00:00:00:00:0b'

t.test('opArgs renders exactly the commands flannel’s netlink calls correspond to', async (t) => {
  const cases: Array<[Op, string]> = [
    [
      {kind: 'neigh', action: 'replace', neigh: {ip: '10.244.1.0', mac: MAC, dev: VTEP}, reason: ''},
      `neigh replace 10.244.1.0 lladdr ${MAC} dev ${VTEP} nud permanent`,
    ],
    [
      {kind: 'neigh', action: 'del', neigh: {ip: '10.244.1.0', mac: MAC, dev: VTEP}, reason: ''},
      `neigh del 10.244.1.0 dev ${VTEP}`,
    ],
    [
      {kind: 'fdb', action: 'replace', fdb: {mac: MAC, dst: '198.18.0.2', dev: VTEP}, reason: ''},
      `fdb replace ${MAC} dev ${VTEP} dst 198.18.0.2 self permanent`,
    ],
    [
      {kind: 'fdb', action: 'del', fdb: {mac: MAC, dst: '198.18.0.2', dev: VTEP}, reason: ''},
      `fdb del ${MAC} dev ${VTEP} dst 198.18.0.2 self`,
    ],
    [
      {
        kind: 'route',
        action: 'replace',
        route: {dst: '10.244.1.0/24', via: '10.244.1.0', dev: VTEP, onlink: true, metric: 0},
        reason: '',
      },
      `route replace 10.244.1.0/24 via 10.244.1.0 dev ${VTEP} onlink proto 205 table main`,
    ],
    [
      {
        kind: 'route',
        action: 'replace',
        route: {dst: '10.244.2.0/24', via: '198.18.0.3', dev: 'eth0', onlink: false, metric: 0},
        reason: '',
      },
      'route replace 10.244.2.0/24 via 198.18.0.3 dev eth0 proto 205 table main',
    ],
    [
      {
        kind: 'route',
        action: 'del',
        route: {dst: '10.244.2.0/24', via: '198.18.0.3', dev: 'eth0', onlink: false, metric: 7},
        reason: '',
      },
      'route del 10.244.2.0/24 via 198.18.0.3 proto 205 metric 7 table main',
    ],
  ]
  for (const [op, line] of cases) t.equal(opArgs(op).join(' '), line)
  t.equal(
    opArgs(
      {kind: 'route', action: 'del', route: {dst: '10.9.0.0/16', dev: 'x', onlink: false, metric: 0}, reason: ''},
      77,
    ).join(' '),
    'route del 10.9.0.0/16 proto 77 table main',
    'a route is only ever deleted with our proto',
  )
})

t.test('toBatches keeps order and groups consecutive ops per tool', async (t) => {
  const n: Op = {kind: 'neigh', action: 'replace', neigh: {ip: '10.244.1.0', mac: MAC, dev: VTEP}, reason: ''}
  const f: Op = {kind: 'fdb', action: 'replace', fdb: {mac: MAC, dst: '198.18.0.2', dev: VTEP}, reason: ''}
  const r: Op = {
    kind: 'route',
    action: 'replace',
    route: {dst: '10.244.1.0/24', via: '10.244.1.0', dev: VTEP, onlink: true, metric: 0},
    reason: '',
  }
  const batches = toBatches([n, n, f, f, r, r])
  t.same(
    batches.map((b) => [b.tool, b.ops.length]),
    [
      ['ip', 2],
      ['bridge', 2],
      ['ip', 2],
    ],
  )
  t.same(toBatches([]), [])
})
