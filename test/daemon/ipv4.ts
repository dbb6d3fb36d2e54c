import t from 'tap'

import {
  cidrContains,
  cidrsOverlap,
  isUnicastMac,
  networkAddress,
  normalizeCidr,
  normalizeMac,
  parseCidr,
  parseIpv4,
  randomMac,
} from '../../src/daemon/ipv4.js'

t.test('IPv4 and CIDR parsing rejects what must never reach a command line', async (t) => {
  t.equal(parseIpv4('10.244.1.0'), 0x0af40100)
  for (const bad of ['10.244.1', '256.0.0.1', '10.0.0.1x', '1.2.3.4; rm -rf /', '::1', '']) {
    t.equal(parseIpv4(bad), undefined, JSON.stringify(bad))
  }
  t.equal(normalizeCidr('10.244.1.0/24'), '10.244.1.0/24')
  t.equal(normalizeCidr('10.244.1.5/24'), undefined, 'host bits set')
  t.same(parseCidr('10.244.1.5/24', true), {network: 0x0af40100, prefix: 24})
  for (const bad of ['10.244.1.0', '10.244.1.0/33', '10.244.1.0/24/1', '10.244.1.0/x', 'fd00::/64']) {
    t.equal(normalizeCidr(bad), undefined, bad)
  }
  t.equal(networkAddress('10.244.3.0/24'), '10.244.3.0')
})

t.test('containment and overlap', async (t) => {
  const c16 = parseCidr('10.244.0.0/16')!
  const c24 = parseCidr('10.244.7.0/24')!
  t.ok(cidrContains(c16, c24))
  t.notOk(cidrContains(c24, c16))
  t.ok(cidrsOverlap(c24, c16))
  t.notOk(cidrsOverlap(c24, parseCidr('10.244.8.0/24')!))
  t.ok(cidrContains(parseCidr('0.0.0.0/0')!, c24))
})

t.test('MACs', async (t) => {
  t.equal(normalizeMac('02:AA:bb:CC:dd:EE'), '02:aa:bb:cc:dd:ee')
  t.equal(normalizeMac('02:aa:bb:cc:dd'), undefined)
  t.ok(isUnicastMac('02:00:00:00:00:01'))
  t.notOk(isUnicastMac('01:00:5e:00:00:01'), 'multicast')
  t.notOk(isUnicastMac('00:00:00:00:00:00'))
  const m = randomMac(new Uint8Array([0xff, 1, 2, 3, 4, 5]))
  t.equal(m, 'fe:01:02:03:04:05', 'locally administered, unicast')
  t.ok(isUnicastMac(m))
})
