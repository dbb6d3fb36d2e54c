import t from 'tap'

import {
  cidrContains,
  firstHost,
  ipToInt,
  isIPv4,
  networkAddress,
  parseCidr,
  prefixLength,
} from '../../src/trace/ipv4.js'

t.test('ipv4 helpers', async (t) => {
  t.ok(isIPv4('10.244.1.10'))
  t.notOk(isIPv4('10.244.1.256'))
  t.notOk(isIPv4('fe80::1'))
  t.equal(ipToInt('10.244.1.10'), 0x0af4010a)
  t.ok(cidrContains('10.244.0.0/16', '10.244.200.1'))
  t.notOk(cidrContains('10.244.1.0/24', '10.244.2.1'))
  t.ok(cidrContains('10.244.1.10', '10.244.1.10'), 'a bare address is a /32')
  t.ok(cidrContains('0.0.0.0/0', '8.8.8.8'))
  t.same(parseCidr('10.0.0.0/255.255.0.0'), {addr: 0x0a000000, len: 16})
  t.equal(networkAddress('10.244.1.77/24'), '10.244.1.0')
  t.equal(firstHost('10.244.1.0/24'), '10.244.1.1')
  t.equal(prefixLength('10.244.1.0/24'), 24)
})
