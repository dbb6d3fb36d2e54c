import t from 'tap'

import {REPORTERS, formatReport, isReporterName, pairReporterOutputs} from '../../../src/ui/reporters/index.js'
import {UsageError} from '../../../src/core/errors.js'
import {mixedReport, report, warnVersion} from '../../helpers/conformance-fixtures.js'

const flag = (f: string, input: string) => ({type: 'flag', flag: f, input})

t.test('every reporter is registered and dispatches', async (t) => {
  t.same(REPORTERS, ['pretty', 'tap', 'junit', 'json'])
  t.ok(isReporterName('junit'))
  t.notOk(isReporterName('xml'))
  const r = mixedReport()
  t.match(formatReport(r, 'pretty', {color: false}), /^cnidbg conformance /)
  t.match(formatReport(r, 'pretty', {color: false, listChecks: false}), /^Failures \(1\)/)
  t.match(formatReport(r, 'tap'), /^TAP version 14\n1\.\.4\n/)
  t.match(formatReport(r, 'junit'), /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites /)
  t.match(formatReport(r, 'junit', {suiteBy: 'area'}), /<testsuite name="cnidbg conformance add"/)
  t.same(JSON.parse(formatReport(r, 'json')), JSON.parse(JSON.stringify(r)))
  t.match(JSON.parse(formatReport(r, 'json', {envelope: {command: 'conformance', status: 1, warnings: []}})), {
    schemaVersion: 1,
    result: {conf: r.conf},
  })
})

t.test('strict reaches every reporter', async (t) => {
  const r = report([warnVersion])
  t.match(formatReport(r, 'tap', {strict: true}), /^not ok 1 /m)
  t.match(formatReport(r, 'junit', {strict: true}), /<failure /)
  t.match(formatReport(r, 'pretty', {strict: true, color: false}), /Failures \(1\)/)
})

t.test('pairReporterOutputs pairs each --output with the --reporter before it', async (t) => {
  t.same(pairReporterOutputs([]), [{reporter: 'pretty'}], 'default: pretty on stdout')
  t.same(
    pairReporterOutputs([
      flag('reporter', 'junit'),
      flag('output', 'junit.xml'),
      {type: 'arg', input: 'x.conflist'},
      flag('strict', 'true'),
      flag('reporter', 'tap'),
    ]),
    [{reporter: 'junit', output: 'junit.xml'}, {reporter: 'tap'}],
  )
  t.same(
    pairReporterOutputs([
      flag('reporter', 'tap'),
      flag('output', '-'),
      flag('reporter', 'json'),
      flag('output', 'r.json'),
    ]),
    [{reporter: 'tap'}, {reporter: 'json', output: 'r.json'}],
    '- means stdout',
  )
  t.same(pairReporterOutputs([flag('r', 'tap'), flag('o', 't.tap')], {reporterFlag: 'r', outputFlag: 'o'}), [
    {reporter: 'tap', output: 't.tap'},
  ])
})

t.test('pairReporterOutputs rejects ambiguous combinations as usage errors', async (t) => {
  const cases: Array<[string, Array<ReturnType<typeof flag>>, string]> = [
    ['unknown reporter', [flag('reporter', 'xml')], 'REPORTER_UNKNOWN'],
    ['output first', [flag('output', 'a.xml'), flag('reporter', 'junit')], 'REPORTER_OUTPUT_ORPHAN'],
    ['two outputs', [flag('reporter', 'junit'), flag('output', 'a'), flag('output', 'b')], 'REPORTER_OUTPUT_ORPHAN'],
    ['two on stdout', [flag('reporter', 'tap'), flag('reporter', 'pretty')], 'REPORTER_STDOUT_TWICE'],
    [
      'same file',
      [flag('reporter', 'tap'), flag('output', 'x'), flag('reporter', 'junit'), flag('output', 'x')],
      'REPORTER_OUTPUT_TWICE',
    ],
  ]
  for (const [name, tokens, code] of cases) {
    let caught: unknown
    try {
      pairReporterOutputs(tokens)
    } catch (error) {
      caught = error
    }
    t.type(caught, UsageError, name)
    t.equal((caught as UsageError).cnidbgCode, code, name)
    t.equal((caught as UsageError).oclif.exit, 2, `${name}: exit 2`)
  }
})
