import t from 'tap'

import {isUnicastMac, normalizeMac, randomMac} from '../../src/core/mac.js'

t.test('MACs', async (t) => {
  t.equal(normalizeMac('02:AA:bb:CC:dd:EE'), '02:aa:bb:cc:dd:ee')
  t.equal(normalizeMac('02:aa:bb:cc:dd'), undefined)
  t.ok(isUnicastMac('02:00:00:00:00:01'))
  t.notOk(isUnicastMac('01:00:5e:00:00:01'), 'multicast')
  t.notOk(isUnicastMac('00:00:00:00:00:00'))
  const m = randomMac(new Uint8Array([0xff, 1, 2, 3, 4, 5]))
  t.equal(m, 'fe:01:02:03:04:05', 'locally administered, unicast')
  t.ok(isUnicastMac(m))
  for (let i = 0; i < 100; i++) t.ok(isUnicastMac(randomMac()) && (parseInt(randomMac().slice(0, 2), 16) & 2) === 2)
  t.throws(() => randomMac(new Uint8Array(3)))
})
