import t from 'tap'

import {CniError} from '../../../src/reference-plugin/errors.js'
import {formatIP, parseIP} from '../../../src/core/ip.js'
import {candidates, canonicalRange, capacity, validateRangeSets} from '../../../src/reference-plugin/ipam/range.js'

t.test('host-local defaults: gateway .1, range .1–.254 minus the gateway', async (t) => {
  const r = canonicalRange({subnet: '10.1.0.0/24'}, 'ipam')
  t.equal(formatIP(r.gateway!), '10.1.0.1')
  t.equal(capacity([r]), 253n)
  const first = candidates([r]).next().value!
  t.equal(formatIP(first), '10.1.0.2')
  const v6 = canonicalRange({subnet: 'fd00::/120'}, 'ipam')
  t.equal(capacity([v6]), 254n, 'IPv6 keeps the last address')
})

t.test('round robin after the last reservation, wrapping once', async (t) => {
  const r = canonicalRange({subnet: '10.1.0.0/29'}, 'ipam')
  const order = [...candidates([r], parseIP('10.1.0.4'))].map(formatIP)
  t.same(order, ['10.1.0.5', '10.1.0.6', '10.1.0.2', '10.1.0.3', '10.1.0.4'])
})

t.test('invalid ranges are code 7 with a fix', async (t) => {
  const code = (fn: () => unknown) => {
    try {
      fn()
    } catch (error) {
      return (error as CniError).code
    }
    return 0
  }
  t.equal(
    code(() => canonicalRange({subnet: '10.1.0.5/24'}, 'ipam')),
    7,
    'host bits',
  )
  t.equal(
    code(() => canonicalRange({subnet: 'nope'}, 'ipam')),
    7,
  )
  t.equal(
    code(() => canonicalRange({subnet: '10.1.0.0/24', rangeStart: '10.2.0.1'}, 'ipam')),
    7,
  )
  t.equal(
    code(() => canonicalRange({subnet: '10.1.0.0/31'}, 'ipam')),
    7,
  )
  t.equal(
    canonicalRange({subnet: '10.1.0.5/24'}, 'file', true).subnet.value,
    parseIP('10.1.0.0')!.value,
    'lenient for the subnet file',
  )
  const a = canonicalRange({subnet: '10.1.0.0/24'}, 'a')
  const b = canonicalRange({subnet: '10.1.0.0/25'}, 'b')
  t.equal(
    code(() => validateRangeSets([[a], [b]])),
    7,
    'overlap',
  )
})
