/* eslint-disable no-control-regex -- these tests look for raw escape and control characters on purpose */
import t from 'tap'

import {escapeXmlAttr, escapeXmlText, formatJunit} from '../../../src/ui/reporters/junit.js'
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
import {findAll, parseXml} from '../../helpers/mini-xml.js'

t.test('the mini XML reader rejects what a real parser rejects', async (t) => {
  const head = '<?xml version="1.0" encoding="UTF-8"?>\n'
  t.throws(() => parseXml(`${head}<a>x & y</a>`), /bare &/)
  t.throws(() => parseXml(`${head}<a b="1"><c></a>`), /closes/)
  t.throws(() => parseXml(`${head}<a>\u001b[31m</a>`), /illegal XML character/)
  t.throws(() => parseXml(`${head}<a>&#1;</a>`), /illegal character reference/)
  t.throws(() => parseXml(`${head}<a b="<"/>`), /raw </)
  t.throws(() => parseXml(`${head}<a>&nbsp;</a>`), /unknown entity/)
  t.same(parseXml(`${head}<a b="&quot;&#10;"><c/>t&amp;</a>`), {
    name: 'a',
    attrs: {b: '"\n'},
    children: [{name: 'c', attrs: {}, children: [], text: ''}],
    text: 't&',
  })
})

t.test('one testsuite per spec version, with counts', async (t) => {
  const xml = parseXml(formatJunit(mixedReport()))
  t.equal(xml.name, 'testsuites')
  t.match(xml.attrs, {name: 'cnidbg conformance', tests: '4', failures: '1', errors: '0', skipped: '1', time: '4.212'})
  const suites = findAll(xml, 'testsuite')
  t.same(
    suites.map((s) => [s.attrs.name, s.attrs.tests, s.attrs.failures, s.attrs.skipped]),
    [
      ['cnidbg conformance [any version]', '1', '0', '0'],
      ['cnidbg conformance [0.3.1]', '1', '0', '1'],
      ['cnidbg conformance [1.0.0]', '2', '1', '0'],
    ],
    'version-independent first, then spec order',
  )
  const props = Object.fromEntries(findAll(suites[0], 'property').map((p) => [p.attrs.name, p.attrs.value]))
  t.same(props, {
    conf: '/etc/cni/net.d/10-bridge.conflist',
    plugins: 'bridge (/usr/lib/cni/bridge), host-local (/usr/lib/cni/host-local)',
    role: 'interface',
    profile: 'default',
    strict: 'false',
  })
  const cases = findAll(xml, 'testcase')
  t.same(
    cases.map((c) => [c.attrs.classname, c.attrs.name, c.attrs.time, c.children.map((x) => x.name)]),
    [
      [
        'cnidbg.conformance.version',
        '[any version] version.ordering: VERSION lists versions in order',
        '0.010',
        ['system-out'],
      ],
      ['cnidbg.conformance.check', '[0.3.1] check.after-add: CHECK after ADD # succeeds', '0.000', ['skipped']],
      ['cnidbg.conformance.add', '[1.0.0] add.result-shape: ADD returns a valid result', '0.040', []],
      ['cnidbg.conformance.del', '[1.0.0] del.idempotent: DEL twice succeeds', '0.012', ['failure']],
    ],
  )
  t.equal(cases[1].children[0].attrs.message, 'CHECK needs 0.4.0 # or later')
  t.match(
    cases[0].children[0].text,
    /^WARNING: supportedVersions is not sorted\nP100 · SHOULD · decided by default\nplugin: bridge\nexpected: sorted\n/,
  )
})

t.test('a failure has its message, type and the evidence as text', async (t) => {
  const [tc] = findAll(parseXml(formatJunit(report([failDel]))), 'testcase')
  const [failure] = tc.children
  t.match(failure.attrs, {message: 'second DEL failed', type: 'MUST P72,P73'})
  t.equal(
    failure.text,
    [
      'second DEL failed',
      'P72, P73 · MUST · decided by default',
      'plugin: bridge',
      'expected: exit 0 and no output',
      'observed: exit 1, {"code":7,"msg":"no such container"}',
      'diff:',
      '  + link cni0 (host)',
      '  - addr 10.1.0.2/24 eth0 (container)',
      'DEL → exit 1 in 5ms, stdout: {"cniVersion":"1.0.0","code":7,"msg":"no such container"}',
      'DEL → exit 1 in 5ms, stderr:',
      '  line one',
      '  ',
      '    indented: yes',
      '  ...',
      '  ---',
      '  # hash: not a comment',
      'DEL → exit none (killed) in 30.0s',
      'reproduce: cnidbg conformance /tmp/c.conflist --only del.idempotent --versions 1.0.0 --role interface --cni-path /usr/lib/cni',
      'by hand:',
      '  # the plugin calls of this case, in order',
      "  cnidbg exec invoke /usr/lib/cni/bridge --sandbox repro-1a2b3c --env CNI_COMMAND=DEL --stdin '{}' --rm",
      'spec: https://github.com/containernetworking/cni/blob/main/SPEC.md#del-remove-container-from-network-or-un-apply-modifications',
    ].join('\n'),
  )
})

t.test('&<>"\' and control characters from plugin output are escaped, never raw', async (t) => {
  const out = formatJunit(report([nastyFail]))
  const xml = parseXml(out) // throws on any illegal character or bad escape
  const [tc] = findAll(xml, 'testcase')
  const shown = `<error code="7"> & 'quoted' "double" # not a directive \\ backslash red nul\\x00 bell\\x07 lone\uFFFD del\\x7f line`
  // One-line fields (attributes) fold U+2028 into a space; the evidence text keeps it.
  t.equal(tc.attrs.name, `[1.0.0] add.errors: weird ${shown} separator`)
  t.equal(tc.children[0].attrs.message, `${shown} separator`)
  t.match(tc.children[0].text, `observed: ${shown}\u2028separator`)
  t.match(tc.children[0].text, `ADD → exit 2 in 1ms, stderr:\n    starts with spaces\n  ${shown}\u2028separator`)
  t.notMatch(out, /\u001b|\u0000|\u0007/, 'no raw control characters in the file')
  t.match(out, /&lt;error code=&quot;7&quot;&gt; &amp; &apos;quoted&apos;/)
})

t.test('escape helpers', async (t) => {
  t.equal(escapeXmlText(`a&b<c>d"e'f`), 'a&amp;b&lt;c&gt;d&quot;e&apos;f')
  t.equal(escapeXmlText('x\u0001y\u001b[1mz'), 'x\\x01yz')
  t.equal(escapeXmlText('keep\ttab\nand newline'), 'keep\ttab\nand newline')
  t.equal(escapeXmlAttr('two\nlines\tand\rcr'), 'two&#10;lines&#9;and&#13;cr')
  t.equal(escapeXmlText('\uFFFE\uDC00'), '\\ufffe\uFFFD')
})

t.test('warnings fail under --strict', async (t) => {
  const xml = parseXml(formatJunit(report([warnVersion, passAdd]), {strict: true}))
  t.equal(xml.attrs.failures, '1')
  const [warnCase] = findAll(xml, 'testcase')
  t.equal(warnCase.children[0].name, 'failure')
  t.equal(warnCase.children[0].attrs.type, 'SHOULD P100')
})

t.test('--suite-by area groups by operation', async (t) => {
  const xml = parseXml(formatJunit(report([passAdd, failDel, check({id: 'add.other'}), skipCheck]), {suiteBy: 'area'}))
  t.same(
    findAll(xml, 'testsuite').map((s) => [s.attrs.name, s.attrs.tests]),
    [
      ['cnidbg conformance add', '2'],
      ['cnidbg conformance del', '1'],
      ['cnidbg conformance check', '1'],
    ],
  )
})

t.test('an empty run is still a valid document', async (t) => {
  const xml = parseXml(formatJunit(report([])))
  t.match(xml.attrs, {tests: '0', failures: '0'})
  t.same(xml.children, [])
  t.ok(NASTY.length > 0)
})

t.test('chained: the plugins before the one under test get a suite of their own, without failures', async (t) => {
  const xml = parseXml(formatJunit(chainedReport()))
  t.match(xml.attrs, {tests: '3', failures: '0'})
  const suites = findAll(xml, 'testsuite')
  t.same(
    suites.map((s) => [s.attrs.name, s.attrs.tests, s.attrs.failures]),
    [
      ['cnidbg conformance [1.0.0]', '2', '0'],
      ['cnidbg conformance context (ptp)', '1', '0'],
    ],
  )
  const [context] = findAll(suites[1], 'testcase')
  t.match(context.children[0], {name: 'system-out', text: /^CONTEXT FAIL: second DEL failed\n.*\nplugin: ptp \(before/})
  const [, warn] = findAll(suites[0], 'testcase')
  t.match(warn.children[0].text, /\nplugin: portmap\n/, 'the finding about the plugin under test names it')
})
