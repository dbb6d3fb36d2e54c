import t from 'tap'
import {Parser, type Result} from 'tap-parser'

import {escapeTapDescription, formatTap} from '../../../src/ui/reporters/tap.js'
import {
  NASTY,
  chainedReport,
  check,
  failDel,
  mixedReport,
  nastyFail,
  passAdd,
  report,
  skipCheck,
  warnVersion,
} from '../../helpers/conformance-fixtures.js'

interface Parsed {
  ok: boolean
  count: number
  pass: number
  fail: number
  skip: number
  todo: number
  plan: {start: number; end: number}
  results: Result[]
  /** Lines the parser did not understand (a broken YAML block lands here). */
  extra: string[]
  comments: string[]
}

// Parse our output with tap's own parser, the way `tap` or any TAP 14 consumer would read it.
function parseTap(text: string): Parsed {
  const results: Result[] = []
  const extra: string[] = []
  const comments: string[] = []
  let final: Parsed | undefined
  const p = new Parser({passes: true, strict: true})
  p.on('assert', (r: Result) => results.push(r))
  p.on('extra', (s: string) => extra.push(s))
  p.on('comment', (s: string) => comments.push(s))
  p.on('complete', (f) => {
    final = {
      ok: f.ok,
      count: f.count,
      pass: f.pass,
      fail: f.fail,
      skip: f.skip,
      todo: f.todo,
      plan: {start: f.plan.start, end: f.plan.end},
      results,
      extra,
      comments,
    }
  })
  p.end(text)
  if (!final) throw new Error('tap-parser never completed')
  return final
}

t.test('a mixed run parses back with the right counts', async (t) => {
  const out = formatTap(mixedReport())
  t.ok(out.startsWith('TAP version 14\n1..4\n'), 'version line, then the plan')
  const p = parseTap(out)
  t.same(p.extra, [], 'every line is valid TAP')
  t.match(p, {ok: false, count: 4, pass: 3, fail: 1, skip: 1, todo: 0, plan: {start: 1, end: 4}})
  t.same(
    p.results.map((r) => [r.id, r.ok, r.name]),
    [
      [1, true, '[1.0.0] add.result-shape: ADD returns a valid result'],
      [2, false, '[1.0.0] del.idempotent: DEL twice succeeds'],
      [3, true, '[any version] version.ordering: VERSION lists versions in order'],
      [4, true, '[0.3.1] check.after-add: CHECK after ADD # succeeds'],
    ],
  )
  t.equal(p.results[3].skip, 'CHECK needs 0.4.0 # or later', 'skip reason survives, # included')
  t.ok(
    p.comments.some((c) => c.includes('1 passed, 1 failed, 1 warned, 1 skipped in 4.2s')),
    'summary comment',
  )
})

t.test('a failure carries the whole evidence as YAML', async (t) => {
  const p = parseTap(formatTap(report([failDel])))
  const d = p.results[0].diag
  t.match(d, {
    severity: 'fail',
    id: 'del.idempotent',
    version: '1.0.0',
    level: 'must',
    requirements: ['P72', 'P73'],
    spec: 'https://github.com/containernetworking/cni/blob/main/SPEC.md#del-remove-container-from-network-or-un-apply-modifications',
    decidedBy: 'default',
    message: 'second DEL failed',
    expected: 'exit 0 and no output',
    observed: 'exit 1, {"code":7,"msg":"no such container"}',
    diff: ['+ link cni0 (host)', '- addr 10.1.0.2/24 eth0 (container)'],
    reproduce:
      'cnidbg conformance /tmp/c.conflist --only del.idempotent --versions 1.0.0 --role interface --cni-path /usr/lib/cni',
    byHand: [
      '# the plugin calls of this case, in order',
      "cnidbg exec invoke /usr/lib/cni/bridge --sandbox repro-1a2b3c --env CNI_COMMAND=DEL --stdin '{}' --rm",
    ],
    durationMs: 12,
  })
  t.equal(d.invocations.length, 2)
  t.match(d.invocations[0], {verb: 'DEL', exitCode: 1, durationMs: 5})
  t.equal(d.invocations[0].stdout, '{"cniVersion":"1.0.0","code":7,"msg":"no such container"}')
  // The stderr tail has an empty line, an indented line and a "..." line: none may end the block.
  t.equal(d.invocations[0].stderr, 'line one\n\n  indented: yes\n...\n---\n# hash: not a comment')
  t.equal(d.invocations[1].exitCode, null, 'a killed plugin has no exit code')
  t.notOk('stdout' in d.invocations[1], 'empty output is left out')
})

t.test('control characters, quotes and # in every field survive a round trip', async (t) => {
  const p = parseTap(formatTap(report([nastyFail])))
  t.same(p.extra, [])
  t.equal(p.count, 1)
  const r = p.results[0]
  t.equal(r.ok, false)
  const clean = NASTY.replace('\uD800', '\uFFFD')
  t.equal(r.diag.message, clean)
  t.equal(r.diag.observed, clean)
  t.equal(r.diag.expected, 'line1\nline2')
  t.equal(r.diag.invocations[0].stdout, clean)
  t.equal(r.diag.invocations[0].stderr, `  starts with spaces\n${clean}`)
  // The description is one line; # and \ are escaped so no directive is read.
  t.notOk(r.skip)
  t.notOk(r.todo)
  t.notMatch(formatTap(report([nastyFail])), /[\u2028\u2029]/, 'no raw line separators anywhere in the stream')
  t.equal(
    r.name,
    `[1.0.0] add.errors: weird <error code="7"> & 'quoted' "double" # not a directive \\ backslash red nul\\x00 bell\\x07 lone\uFFFD del\\x7f line separator`,
    'title: colours dropped, controls made visible',
  )
})

t.test('warnings are ok with a diagnostic, and not ok under --strict', async (t) => {
  const plain = parseTap(formatTap(report([warnVersion])))
  t.match(plain, {ok: true, pass: 1, fail: 0, todo: 0})
  t.match(plain.results[0].diag, {
    severity: 'warn',
    level: 'should',
    version: null,
    message: 'supportedVersions is not sorted',
  })
  t.notOk(plain.results[0].todo, 'no TODO directive')

  const strict = parseTap(formatTap(report([warnVersion]), {strict: true}))
  t.match(strict, {ok: false, pass: 0, fail: 1})
  t.equal(strict.results[0].diag.severity, 'warn')

  const fromReport = parseTap(formatTap(report([warnVersion], {strict: true})))
  t.equal(fromReport.fail, 1, 'strict defaults to report.strict')
})

t.test('passes and skips have no YAML block', async (t) => {
  const out = formatTap(report([passAdd, skipCheck]))
  t.notMatch(out, /---/)
  const empty = formatTap(report([check({id: 'x.y', status: 'skip', message: ''})]))
  t.match(empty, /^ok 1 - \[1\.0\.0\] x\.y: title of x\.y # SKIP$/m)
})

t.test('an empty run is a valid empty plan', async (t) => {
  const p = parseTap(formatTap(report([])))
  t.match(p, {ok: true, count: 0, plan: {start: 1, end: 0}})
})

t.test('escapeTapDescription', async (t) => {
  t.equal(escapeTapDescription('a # b \\ c\nd'), 'a \\# b \\\\ c d')
})

t.test('chained: every finding names its plugin; the plugins before it come apart, as TODO', async (t) => {
  const out = formatTap(chainedReport())
  const p = parseTap(out)
  t.same(p.extra, [])
  t.match(p, {ok: true, count: 3, todo: 1}, 'a context failure does not fail the stream')
  t.same(
    p.results.map((r) => [r.id, r.ok, r.diag?.plugin]),
    [
      [1, true, undefined],
      [2, true, 'portmap'],
      [3, false, 'ptp'],
    ],
    'the plugin under test first, then the context',
  )
  t.equal(p.results[2].todo, 'about ptp (context)')
  t.equal(p.results[2].diag.context, true)
  t.ok(
    p.comments.some((c) => c.startsWith('# Context: about ptp, before portmap')),
    'a comment opens the context section',
  )
})
