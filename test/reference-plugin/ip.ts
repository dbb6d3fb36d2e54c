import t from 'tap'

import {
  contains,
  formatCIDR,
  formatIP,
  hasHostBits,
  lastOf,
  networkOf,
  parseCIDR,
  parseIP,
} from '../../src/reference-plugin/ip.js'

t.test('IPv4 and IPv6 parse and format like Go', async (t) => {
  for (const [input, out] of [
    ['10.244.1.5', '10.244.1.5'],
    ['fd00:10:244:1::5', 'fd00:10:244:1::5'],
    ['FD00:0:0:0:0:0:0:1', 'fd00::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['::ffff:1.2.3.4', '::ffff:102:304'],
  ]) {
    t.equal(formatIP(parseIP(input)!), out, input)
  }
  for (const bad of ['10.1.1', '10.1.1.256', 'fe80::1%eth0', 'x', '']) t.equal(parseIP(bad), undefined, bad)
})

t.test('CIDR arithmetic', async (t) => {
  const c = parseCIDR('10.244.1.7/24')!
  t.ok(hasHostBits(c))
  t.equal(formatIP({family: 4, value: networkOf(c)}), '10.244.1.0')
  t.equal(formatIP({family: 4, value: lastOf(c)}), '10.244.1.255')
  t.ok(contains(c, parseIP('10.244.1.200')!))
  t.notOk(contains(c, parseIP('10.244.2.1')!))
  t.notOk(contains(c, parseIP('::1')!))
  t.equal(formatCIDR(parseCIDR('fd00::/64')!), 'fd00::/64')
  t.equal(parseCIDR('10.0.0.0/33'), undefined)
  t.equal(parseCIDR('10.0.0.0'), undefined)
})
