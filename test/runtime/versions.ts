import t from 'tap'

import {
  ALL_SPEC_VERSIONS,
  atLeast,
  compareVersions,
  CURRENT_VERSION,
  hasCheck,
  hasChaining,
  hasExtendedResultFields,
  hasGc,
  hasIpVersionField,
  hasLegacyResult,
  hasPrevResultOnDel,
  hasStatus,
  isSpecVersion,
} from '../../src/runtime/versions.js'

t.test('the version list is ordered and ends at the current version', async (t) => {
  const sorted = [...ALL_SPEC_VERSIONS].sort(compareVersions)
  t.same(sorted, [...ALL_SPEC_VERSIONS])
  t.equal(ALL_SPEC_VERSIONS.at(-1), CURRENT_VERSION)
})

t.test('compareVersions is numeric, not lexical', async (t) => {
  t.ok(compareVersions('0.10.0', '0.9.0') > 0, '0.10.0 > 0.9.0')
  t.ok(compareVersions('1.0.0', '0.4.0') > 0)
  t.equal(compareVersions('0.3.1', '0.3.1'), 0)
  t.ok(compareVersions('0.3.0', '0.3.1') < 0)
  t.ok(atLeast('1.1.0', '1.0.0'))
  t.notOk(atLeast('0.4.0', '1.0.0'))
})

t.test('isSpecVersion knows exactly the published versions', async (t) => {
  for (const v of ALL_SPEC_VERSIONS) t.ok(isSpecVersion(v), v)
  for (const v of ['0.5.0', '1.2.0', '1.0', 'v1.0.0', '']) t.notOk(isSpecVersion(v), JSON.stringify(v))
})

// One row per version: which features the spec gives it (SPEC §"Version considerations", checklist §1).
const table: Record<
  string,
  [
    legacy: boolean,
    ipVersion: boolean,
    chaining: boolean,
    check: boolean,
    prevOnDel: boolean,
    gc: boolean,
    extended: boolean,
  ]
> = {
  '0.1.0': [true, false, false, false, false, false, false],
  '0.2.0': [true, false, false, false, false, false, false],
  '0.3.0': [false, true, true, false, false, false, false],
  '0.3.1': [false, true, true, false, false, false, false],
  '0.4.0': [false, true, true, true, true, false, false],
  '1.0.0': [false, false, true, true, true, false, false],
  '1.1.0': [false, false, true, true, true, true, true],
}

t.test('capability predicates per version', async (t) => {
  for (const v of ALL_SPEC_VERSIONS) {
    const [legacy, ipVersion, chaining, check, prevOnDel, gc, extended] = table[v]!
    t.equal(hasLegacyResult(v), legacy, `${v} legacy result`)
    t.equal(hasIpVersionField(v), ipVersion, `${v} ips[].version`)
    t.equal(hasChaining(v), chaining, `${v} chaining`)
    t.equal(hasCheck(v), check, `${v} CHECK`)
    t.equal(hasPrevResultOnDel(v), prevOnDel, `${v} prevResult on DEL`)
    t.equal(hasGc(v), gc, `${v} GC`)
    t.equal(hasStatus(v), gc, `${v} STATUS`)
    t.equal(hasExtendedResultFields(v), extended, `${v} 1.1.0 result fields`)
  }
})
