import t from 'tap'

import {fromWire, toWire} from '../../src/reference-plugin/result.js'

const model = {
  cniVersion: 'x',
  interfaces: [
    {name: 'h', mac: '02:00:00:00:00:01', mtu: 1400},
    {name: 'eth0', mac: '02:00:00:00:00:02', mtu: 1400, sandbox: '/run/netns/p'},
  ],
  ips: [
    {address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 1},
    {address: 'fd00::2/64', gateway: 'fd00::1', interface: 1},
  ],
  routes: [{dst: '0.0.0.0/0', table: 100}],
}

t.test('each version gets its own shape', async (t) => {
  const old = toWire(model, '0.4.0') as any
  t.same(
    old.ips.map((i: any) => i.version),
    ['4', '6'],
  )
  t.notOk('mtu' in old.interfaces[0])
  t.notOk('table' in old.routes[0])
  const v1 = toWire(model, '1.0.0') as any
  t.notOk('version' in v1.ips[0])
  t.notOk('mtu' in v1.interfaces[0])
  const v11 = toWire(model, '1.1.0') as any
  t.equal(v11.interfaces[1].mtu, 1400)
  t.equal(v11.routes[0].table, 100)
  t.same(v11.dns, {})
})

t.test('reads any version back', async (t) => {
  const back = fromWire(toWire(model, '0.3.0'), 'prevResult')
  t.same(back.ips, model.ips)
  t.throws(() => fromWire({ips: [{address: '10.0.0.2'}]}, 'prevResult'), {code: 7})
})
