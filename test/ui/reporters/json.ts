import t from 'tap'

import {formatJson, toJsonResult} from '../../../src/ui/reporters/json.js'
import type {ConformanceReport} from '../../../src/checks/types.js'
import {NASTY, chainedReport, mixedReport, nastyFail, report} from '../../helpers/conformance-fixtures.js'

t.test('the report is returned as-is for the --json envelope', async (t) => {
  const r = mixedReport()
  t.equal(toJsonResult(r), r)
})

t.test('bare and enveloped JSON round-trip, plugin bytes included', async (t) => {
  const r = report([nastyFail])
  const bare = formatJson(r)
  t.ok(bare.endsWith('}\n'))
  t.same(JSON.parse(bare), JSON.parse(JSON.stringify(r)))
  t.equal(JSON.parse(bare).checks[0].message, NASTY, 'control bytes and the lone surrogate come back exactly')
  const env = JSON.parse(formatJson(r, {envelope: {command: 'conformance', status: 1, warnings: ['w']}}))
  t.same(Object.keys(env), ['schemaVersion', 'command', 'status', 'result', 'warnings'])
  t.match(env, {schemaVersion: 1, command: 'conformance', status: 1, warnings: ['w'], result: {summary: {failed: 1}}})
})

t.test('every check names its plugin; context findings say so', async (t) => {
  const parsed = JSON.parse(formatJson(chainedReport())) as ConformanceReport
  t.same(
    parsed.checks.map((c) => [c.id, c.plugin, c.context ?? false]),
    [
      ['add.result-shape', 'portmap', false],
      ['del.no-leaks', 'portmap', false],
      ['del.idempotent', 'ptp', true],
    ],
  )
  t.same(parsed.context, {plugins: ['ptp'], summary: {passed: 0, failed: 1, warned: 0, skipped: 0}})
})
