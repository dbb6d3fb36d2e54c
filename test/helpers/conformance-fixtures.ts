/**
 * Hand-made CheckResults and ConformanceReports for reporter and UI tests. The nasty one carries
 * everything a plugin's stderr can throw at a reporter: XML/YAML metacharacters, ANSI colours,
 * NUL and other control characters, a lone surrogate, U+2028 (a line break to some parsers), TAP's `#`.
 */
import type {CheckResult, ConformanceReport} from '../../src/checks/types.js'

export function check(over: Partial<CheckResult> & Pick<CheckResult, 'id'>): CheckResult {
  return {
    title: `title of ${over.id}`,
    plugin: 'bridge',
    status: 'pass',
    version: '1.0.0',
    requirements: ['P1'],
    spec: 'SPEC.md#add-add-container-to-network-or-apply-modifications',
    severity: 'must',
    message: '',
    durationMs: 10,
    ...over,
  }
}

export const NASTY = `<error code="7"> & 'quoted' "double" # not a directive \\ backslash \u001b[31mred\u001b[0m nul\u0000 bell\u0007 lone\uD800 del\u007f line\u2028separator`

export const passAdd = check({id: 'add.result-shape', title: 'ADD returns a valid result', durationMs: 40})

export const failDel = check({
  id: 'del.idempotent',
  title: 'DEL twice succeeds',
  status: 'fail',
  requirements: ['P72', 'P73'],
  spec: 'SPEC.md#del-remove-container-from-network-or-un-apply-modifications',
  decidedBy: 'default',
  message: 'second DEL failed',
  durationMs: 12,
  evidence: {
    expected: 'exit 0 and no output',
    observed: 'exit 1, {"code":7,"msg":"no such container"}',
    diff: ['+ link cni0 (host)', '- addr 10.1.0.2/24 eth0 (container)'],
    reproduce:
      'cnidbg conformance /tmp/c.conflist --only del.idempotent --versions 1.0.0 --role interface --cni-path /usr/lib/cni',
    byHand: [
      '# the plugin calls of this case, in order',
      "cnidbg exec invoke /usr/lib/cni/bridge --sandbox repro-1a2b3c --env CNI_COMMAND=DEL --stdin '{}' --rm",
    ],
    invocations: [
      {
        verb: 'DEL',
        exitCode: 1,
        stdout: '{"cniVersion":"1.0.0","code":7,"msg":"no such container"}\n',
        stderr: 'line one\n\n  indented: yes\n...\n---\n# hash: not a comment\n',
        durationMs: 5,
      },
      {verb: 'DEL', exitCode: null, stdout: '', stderr: '', durationMs: 30000},
    ],
  },
})

export const warnVersion = check({
  id: 'version.ordering',
  title: 'VERSION lists versions in order',
  status: 'warn',
  version: null,
  severity: 'should',
  requirements: ['P100'],
  spec: 'SPEC.md#version-probe-plugin-version-support',
  decidedBy: 'default',
  message: 'supportedVersions is not sorted',
  evidence: {expected: 'sorted', observed: '["1.0.0","0.4.0"]'},
})

export const skipCheck = check({
  id: 'check.after-add',
  title: 'CHECK after ADD # succeeds',
  status: 'skip',
  version: '0.3.1',
  message: 'CHECK needs 0.4.0 # or later',
  durationMs: 0,
})

export const nastyFail = check({
  id: 'add.errors',
  title: `weird ${NASTY}`,
  status: 'fail',
  message: NASTY,
  evidence: {
    observed: NASTY,
    expected: 'line1\nline2',
    invocations: [{verb: 'ADD', exitCode: 2, stdout: NASTY, stderr: `  starts with spaces\n${NASTY}`, durationMs: 1}],
  },
})

export function report(checks: CheckResult[], over: Partial<ConformanceReport> = {}): ConformanceReport {
  const count = (s: CheckResult['status']) => checks.filter((c) => c.status === s).length
  return {
    conf: '/etc/cni/net.d/10-bridge.conflist',
    plugins: [
      {type: 'bridge', path: '/usr/lib/cni/bridge', supportedVersions: ['0.3.1', '1.0.0']},
      {type: 'host-local', path: '/usr/lib/cni/host-local', supportedVersions: ['0.3.1', '1.0.0']},
    ],
    role: 'interface',
    profile: 'default',
    strict: false,
    versions: ['0.3.1', '1.0.0'],
    summary: {passed: count('pass'), failed: count('fail'), warned: count('warn'), skipped: count('skip')},
    checks,
    durationMs: 4212,
    pluginTimeMs: 3000,
    ...over,
  }
}

export const mixedReport = (): ConformanceReport => report([passAdd, failDel, warnVersion, skipCheck])

/**
 * A chained run (portmap after ptp): one finding about portmap, one about ptp that showed with ptp
 * alone (context), counted apart.
 */
export const chainedReport = (): ConformanceReport =>
  report(
    [
      check({id: 'add.result-shape', plugin: 'portmap', title: 'ADD returns a valid result'}),
      check({
        id: 'del.no-leaks',
        plugin: 'portmap',
        status: 'warn',
        severity: 'should',
        decidedBy: 'default',
        message: 'left a nat rule',
      }),
      check({
        id: 'del.idempotent',
        plugin: 'ptp',
        context: true,
        status: 'fail',
        decidedBy: 'default',
        message: 'second DEL failed',
      }),
    ],
    {
      plugins: [
        {type: 'ptp', path: '/usr/lib/cni/ptp', supportedVersions: ['1.0.0']},
        {type: 'portmap', path: '/usr/lib/cni/portmap', supportedVersions: ['1.0.0']},
      ],
      role: 'chained',
      summary: {passed: 1, failed: 0, warned: 1, skipped: 0},
      context: {plugins: ['ptp'], summary: {passed: 0, failed: 1, warned: 0, skipped: 0}},
      versions: ['1.0.0'],
    },
  )
