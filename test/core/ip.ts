import {isIP} from 'node:net'

import t from 'tap'

import {contains, formatCIDR, formatIP, hasHostBits, lastOf, networkOf, parseCIDR, parseIP} from '../../src/core/ip.js'

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

t.test('accepts exactly what node:net accepts (without zones)', async (t) => {
  const cases = [
    '0.0.0.0',
    '255.255.255.255',
    '01.2.3.4',
    '1.2.3.04',
    '1.2.3',
    '1.2.3.4.5',
    '1..2.3',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '::',
    '::1',
    '1::',
    '1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7::',
    '::2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7:8:9',
    '1::2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7',
    ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:',
    '1:::2',
    '1::2::3',
    '12345::',
    'g::1',
    '::ffff:1.2.3.4',
    '::ffff:1.2.3.256',
    '1:2:3:4:5:6:1.2.3.4',
    '1:2:3:4:5:6:7:1.2.3.4',
    '::1.2.3.4',
    'ABCD:EF01::',
    'fe80::',
    '::ffff:',
    'last_reserved_ip.0',
    'lock',
    '10.244.1.5',
    'fd00:10:244:1::5',
  ]
  // Random strings over the address alphabet find the corners a list misses.
  const alphabet = '0123456789abcdef:.'
  let seed = 7
  const rnd = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n
  for (let i = 0; i < 5000; i++)
    cases.push(Array.from({length: 2 + rnd(14)}, () => alphabet[rnd(alphabet.length)]).join(''))
  const wrong = cases.filter((c) => (parseIP(c)?.family ?? 0) !== isIP(c))
  t.same(wrong, [], 'the same verdict and family as node:net isIP')
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
