import t from 'tap'

import {
  areaOf,
  checkLabel,
  effectiveStatus,
  formatDuration,
  groupByArea,
  groupByVersion,
  specUrl,
  summaryLine,
  tail,
} from '../../../src/ui/reporters/format-helpers.js'
import {check} from '../../helpers/conformance-fixtures.js'

t.test('names', async (t) => {
  t.equal(areaOf('del.idempotent'), 'del')
  t.equal(areaOf('gc.stale.ipam'), 'gc')
  t.equal(areaOf('plain'), 'plain')
  t.equal(checkLabel({id: 'a.b', title: 'two\nlines', version: null}), '[any version] a.b: two lines')
  t.equal(effectiveStatus('warn', true), 'fail')
  t.equal(effectiveStatus('warn', false), 'warn')
  t.equal(effectiveStatus('skip', true), 'skip')
  t.equal(specUrl('SPEC.md#errors'), 'https://github.com/containernetworking/cni/blob/main/SPEC.md#errors')
  t.equal(specUrl('https://example.com/x'), 'https://example.com/x')
  t.equal(specUrl(''), '')
})

t.test('tail keeps the end and says how much it cut', async (t) => {
  t.equal(tail('a\nb\n'), 'a\nb')
  const many = Array.from({length: 30}, (_, i) => `line ${i}`).join('\n')
  const kept = tail(many, {lines: 3})
  t.equal(kept.split('\n').slice(1).join('\n'), 'line 27\nline 28\nline 29')
  t.match(kept, /^… \(\d+ earlier characters cut\)\n/)
  const long = tail('x'.repeat(100) + '\nshort', {chars: 10})
  t.equal(long.split('\n').at(-1), 'short', 'a cut never leaves half a line when a whole one fits')
  const oneHuge = tail('y'.repeat(100), {chars: 10})
  t.equal(oneHuge.split('\n')[1], 'y'.repeat(10))
})

t.test('durations and the summary line', async (t) => {
  t.equal(formatDuration(12.4), '12ms')
  t.equal(formatDuration(4212), '4.2s')
  t.equal(formatDuration(65_000), '1m05s')
  t.equal(
    summaryLine({passed: 12, failed: 1, warned: 2, skipped: 3}, 4212),
    '12 passed, 1 failed, 2 warned, 3 skipped in 4.2s',
  )
  t.equal(
    summaryLine({passed: 0, failed: 0, warned: 0, skipped: 0}, 312_400),
    '0 passed, 0 failed, 0 warned, 0 skipped in 312.4s',
  )
})

t.test('grouping keeps the runner order of areas and sorts versions by spec order', async (t) => {
  const checks = [
    check({id: 'del.a', version: '1.0.0'}),
    check({id: 'add.a', version: '1.1.0'}),
    check({id: 'del.b', version: '0.4.0'}),
    check({id: 'add.b', version: '0.3.1'}),
    check({id: 'add.c', version: null}),
    check({id: 'del.c', version: '1.0.0'}),
  ]
  t.same(
    groupByArea(checks).map((g) => [g.area, g.versions.map((v) => [v.version, v.checks.map((c) => c.id)])]),
    [
      [
        'del',
        [
          ['0.4.0', ['del.b']],
          ['1.0.0', ['del.a', 'del.c']],
        ],
      ],
      [
        'add',
        [
          [null, ['add.c']],
          ['0.3.1', ['add.b']],
          ['1.1.0', ['add.a']],
        ],
      ],
    ],
  )
  t.same(
    groupByVersion(checks).map((g) => [g.version, g.checks.length]),
    [
      [null, 1],
      ['0.3.1', 1],
      ['0.4.0', 1],
      ['1.0.0', 2],
      ['1.1.0', 1],
    ],
  )
})
