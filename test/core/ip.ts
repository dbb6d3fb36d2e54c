import {isIP} from 'node:net'

import t from 'tap'

import {
  cidrsOverlap,
  contains,
  containsCIDR,
  firstHost,
  formatCIDR,
  formatIP,
  hasHostBits,
  isCIDR,
  isIP as isIPText,
  isIPv4,
  lastOf,
  networkAddress,
  networkOf,
  normalizeNetwork,
  parseCIDR,
  parseIP,
  parseNetwork,
  parsePrefixText,
  prefixContains,
  prefixLength,
} from '../../src/core/ip.js'

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

t.test('text helpers: what the daemon, trace and the runtime checks parse', async (t) => {
  t.ok(isIPv4('10.244.1.10'))
  t.notOk(isIPv4('10.244.1.256'))
  t.notOk(isIPv4('fe80::1'))
  for (const bad of ['10.244.1', '256.0.0.1', '10.0.0.1x', '1.2.3.4; rm -rf /', '', 'fe80::1%eth0']) {
    t.notOk(isIPText(bad), JSON.stringify(bad))
  }
  t.ok(isIPText('fd00::1'))
  t.ok(isCIDR('fd00::/64'))
  t.notOk(isCIDR('10.0.0.1'))

  // Networks: host bits must be clear unless loose; family narrows.
  t.equal(normalizeNetwork('10.244.1.0/24'), '10.244.1.0/24')
  t.equal(normalizeNetwork('10.244.1.5/24'), undefined, 'host bits set')
  t.equal(formatCIDR(parseNetwork('10.244.1.5/24', {loose: true})!), '10.244.1.0/24')
  for (const bad of ['10.244.1.0', '10.244.1.0/33', '10.244.1.0/24/1', '10.244.1.0/x']) {
    t.equal(normalizeNetwork(bad), undefined, bad)
  }
  t.equal(normalizeNetwork('fd00::/64', 4), undefined, 'an IPv6 network where IPv4 is wanted')
  t.equal(normalizeNetwork('FD00:0::/64'), 'fd00::/64')

  const c16 = parseNetwork('10.244.0.0/16')!
  const c24 = parseNetwork('10.244.7.0/24')!
  t.ok(containsCIDR(c16, c24))
  t.notOk(containsCIDR(c24, c16))
  t.ok(cidrsOverlap(c24, c16))
  t.notOk(cidrsOverlap(c24, parseNetwork('10.244.8.0/24')!))
  t.ok(containsCIDR(parseNetwork('0.0.0.0/0')!, c24))
  t.notOk(containsCIDR(parseNetwork('::/0')!, c24), 'families never contain each other')

  // Prefixes as route tables and firewalls print them.
  t.ok(prefixContains('10.244.0.0/16', '10.244.200.1'))
  t.notOk(prefixContains('10.244.1.0/24', '10.244.2.1'))
  t.ok(prefixContains('10.244.1.10', '10.244.1.10'), 'a bare address is a /32')
  t.ok(prefixContains('0.0.0.0/0', '8.8.8.8'))
  t.ok(prefixContains('10.0.0.0/255.255.0.0', '10.0.9.9'), 'dotted mask')
  t.notOk(prefixContains('10.0.0.0/255.0.255.0', '10.0.9.9'), 'a mask with holes is no prefix')
  t.notOk(prefixContains('garbage', '10.0.0.1'))
  t.equal(parsePrefixText('10.0.0.0/255.255.0.0')?.prefix, 16)
  t.equal(networkAddress('10.244.1.77/24'), '10.244.1.0')
  t.equal(networkAddress('10.244.3.0/24'), '10.244.3.0')
  t.equal(firstHost('10.244.1.0/24'), '10.244.1.1')
  t.equal(firstHost('fd00:1::/64'), 'fd00:1::1')
  t.equal(prefixLength('10.244.1.0/24'), 24)
  t.equal(prefixLength('10.244.1.1'), 32)
  t.throws(() => networkAddress('nope'))
})
