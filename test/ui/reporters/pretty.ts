/* eslint-disable no-control-regex -- these tests look for raw escape and control characters on purpose */
import t from 'tap'

import {chalkFor, formatCheckLine, formatPretty} from '../../../src/ui/reporters/pretty.js'
import {
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

t.test('the full report: header, grouped checks, failures, warnings, summary', async (t) => {
  const out = formatPretty(mixedReport(), {color: false})
  t.equal(
    out,
    [
      'cnidbg conformance /etc/cni/net.d/10-bridge.conflist',
      '  plugins  bridge (/usr/lib/cni/bridge), host-local (/usr/lib/cni/host-local)',
      '  role interface · profile default · versions 0.3.1, 1.0.0',
      '',
      'add',
      '  [1.0.0]',
      '    ✓ add.result-shape: ADD returns a valid result (40ms)',
      'del',
      '  [1.0.0]',
      '    ✗ del.idempotent: DEL twice succeeds (12ms): bridge: second DEL failed',
      'version',
      '  [any version]',
      '    ! version.ordering: VERSION lists versions in order (10ms): bridge: supportedVersions is not sorted',
      'check',
      '  [0.3.1]',
      '    - check.after-add: CHECK after ADD # succeeds: CHECK needs 0.4.0 # or later',
      '',
      'Failures (1)',
      '',
      '1) ✗ [1.0.0] del.idempotent: DEL twice succeeds',
      '   second DEL failed',
      '   P72, P73 · MUST · decided by default',
      '   plugin     bridge',
      '   expected   exit 0 and no output',
      '   observed   exit 1, {"code":7,"msg":"no such container"}',
      '   diff',
      '     │ + link cni0 (host)',
      '     │ - addr 10.1.0.2/24 eth0 (container)',
      '   DEL → exit 1 in 5ms, stdout',
      '     │ {"cniVersion":"1.0.0","code":7,"msg":"no such container"}',
      '   DEL → exit 1 in 5ms, stderr',
      '     │ line one',
      '     │ ',
      '     │   indented: yes',
      '     │ ...',
      '     │ ---',
      '     │ # hash: not a comment',
      '   DEL → exit none (killed) in 30.0s',
      '   reproduce  cnidbg conformance /tmp/c.conflist --only del.idempotent --versions 1.0.0 --role interface --cni-path /usr/lib/cni',
      '   by hand',
      '     │ # the plugin calls of this case, in order',
      "     │ cnidbg exec invoke /usr/lib/cni/bridge --sandbox repro-1a2b3c --env CNI_COMMAND=DEL --stdin '{}' --rm",
      '   spec       https://github.com/containernetworking/cni/blob/main/SPEC.md#del-remove-container-from-network-or-un-apply-modifications',
      '',
      'Warnings (1)',
      '',
      '1) ! [any version] version.ordering: VERSION lists versions in order',
      '   supportedVersions is not sorted',
      '   P100 · SHOULD · decided by default',
      '   plugin    bridge',
      '   expected  sorted',
      '   observed  ["1.0.0","0.4.0"]',
      '   spec      https://github.com/containernetworking/cni/blob/main/SPEC.md#version-probe-plugin-version-support',
      '',
      '1 passed, 1 failed, 1 warned, 1 skipped in 4.2s',
      '',
    ].join('\n'),
  )
})

t.test('a served run says so in the header', async (t) => {
  const out = formatPretty({...mixedReport(), served: true}, {color: false})
  t.match(out.split('\n')[2], / · served \(a plugin server per case\) · versions /)
  t.notMatch(formatPretty(mixedReport(), {color: false}).split('\n')[2], /served/, 'and only a served run')
})

t.test('listChecks: false keeps only failures, warnings and the summary', async (t) => {
  const out = formatPretty(mixedReport(), {color: false, listChecks: false})
  t.ok(out.startsWith('Failures (1)\n'))
  t.notMatch(out, /add\.result-shape/)
  t.match(out, /1 passed, 1 failed, 1 warned, 1 skipped in 4\.2s\n$/)
})

t.test('a clean run without the list is just the summary', async (t) => {
  const out = formatPretty(report([passAdd, skipCheck]), {color: false, listChecks: false})
  t.equal(out, '1 passed, 0 failed, 0 warned, 1 skipped in 4.2s\n')
})

t.test('--strict lists warnings as failures and says why', async (t) => {
  const out = formatPretty(report([warnVersion]), {color: false, strict: true})
  t.match(out, /✗ version\.ordering/)
  t.match(out, /Failures \(1\)\n\n1\) ✗ \[any version\] version\.ordering/)
  t.notMatch(out, /Warnings/)
  t.match(out, /0 passed, 0 failed, 1 warned, 0 skipped in 4\.2s \(--strict: warnings fail\)\n$/)
})

t.test('plugin output cannot reach the terminal raw', async (t) => {
  const out = formatPretty(report([nastyFail]), {color: false})
  t.notMatch(out, /[\u0000-\u0008\u000b-\u001f\u007f]/, 'no control characters, ANSI included')
  t.match(out, 'nul\\x00 bell\\x07')
})

t.test('colour: on when asked, off when asked, NO_COLOR respected by default', async (t) => {
  t.match(formatPretty(report([failDel]), {color: true}), /\u001b\[31m/)
  t.notMatch(formatPretty(report([failDel]), {color: false}), /\u001b\[/)
  const saved = process.env.NO_COLOR
  t.teardown(() => {
    if (saved === undefined) delete process.env.NO_COLOR
    else process.env.NO_COLOR = saved
  })
  process.env.NO_COLOR = '1'
  t.equal(chalkFor(undefined).level, 0)
})

t.test('formatCheckLine', async (t) => {
  t.equal(
    formatCheckLine(failDel, {color: false}),
    '✗ [1.0.0] del.idempotent: DEL twice succeeds (12ms): bridge: second DEL failed',
  )
  t.equal(formatCheckLine(passAdd, {color: false}), '✓ [1.0.0] add.result-shape: ADD returns a valid result (40ms)')
  t.equal(formatCheckLine(warnVersion, {color: false, strict: true}).slice(0, 2), '✗ ')
  t.equal(
    formatCheckLine(check({id: 'a.b', status: 'warn', message: '', durationMs: 1500}), {color: false}),
    '! [1.0.0] a.b: title of a.b (1.5s)',
  )
})

t.test('chained: findings name their plugin, and the context comes apart after the plugin under test', async (t) => {
  const out = formatPretty(chainedReport(), {color: false})
  const own = out.indexOf('Warnings (1)')
  const context = out.indexOf('About ptp, before the plugin under test (context): findings (1)')
  t.ok(own > 0 && context > own, 'the plugin under test first, then the context')
  t.match(out, /! del\.no-leaks: title of del\.no-leaks \(10ms\): portmap: left a nat rule/)
  t.match(out, /✗ del\.idempotent: title of del\.idempotent \(10ms\): ptp: second DEL failed/)
  t.match(out, /plugin +ptp \(before the plugin under test\)/)
  t.match(
    out,
    /1 passed, 0 failed, 1 warned, 0 skipped in 4\.2s\nabout ptp, before portmap \(context, not counted above\): 1 failed, 0 warned\n$/,
  )
  t.notMatch(out, /^Failures/m, 'no failure of the plugin under test')
})
