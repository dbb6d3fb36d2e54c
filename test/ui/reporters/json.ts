import t from 'tap'

import {formatJson, toJsonResult} from '../../../src/ui/reporters/json.js'
import {NASTY, mixedReport, nastyFail, report} from '../../helpers/conformance-fixtures.js'

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
