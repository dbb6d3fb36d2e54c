/**
 * The TAP 14 reporter (https://testanything.org/tap-version-14-specification.html): one test point
 * per CheckResult, a YAML diagnostic block for failures and warnings.
 */
import type {CheckResult, ConformanceReport} from '../../checks/types.js'
import {checkLabel, contextLine, effectiveStatus, specUrl, summaryLine, tail} from './format-helpers.js'
import {toYaml, type YamlValue} from './yaml.js'
import {oneLine} from '../../core/text.js'

export interface TapOptions {
  /** Warnings become `not ok`. Defaults to the report's own `strict`. */
  strict?: boolean
}

/** TAP 14 §Test Point: `#` starts a directive and `\` escapes, so both are escaped in descriptions. */
export function escapeTapDescription(text: string): string {
  return oneLine(text).replace(/\\/g, '\\\\').replace(/#/g, '\\#')
}

/**
 * The YAML diagnostic of a failed or warned check. `severity` is the TAP outcome (TAP 13's
 * convention: fail/warn); the spec requirement level is `level`.
 */
export function tapDiagnostic(c: CheckResult): {[key: string]: YamlValue} {
  const e = c.evidence ?? {}
  return {
    severity: c.status,
    id: c.id,
    plugin: c.plugin,
    context: c.context,
    version: c.version,
    level: c.severity,
    requirements: c.requirements,
    spec: specUrl(c.spec),
    decidedBy: c.decidedBy,
    message: c.message,
    expected: e.expected,
    observed: e.observed,
    diff: e.diff && e.diff.length > 0 ? e.diff : undefined,
    reproduce: e.reproduce,
    byHand: e.byHand && e.byHand.length > 0 ? e.byHand : undefined,
    invocations:
      e.invocations && e.invocations.length > 0
        ? e.invocations.map((inv) => ({
            verb: inv.verb,
            exitCode: inv.exitCode,
            durationMs: inv.durationMs,
            stdout: inv.stdout === '' ? undefined : tail(inv.stdout),
            stderr: inv.stderr === '' ? undefined : tail(inv.stderr),
          }))
        : undefined,
    durationMs: c.durationMs,
  }
}

function testPoint(c: CheckResult, n: number, strict: boolean): string[] {
  const status = effectiveStatus(c.status, strict)
  // A finding about the plugins before the one under test is not its failure: TAP's TODO says so.
  const todo = c.context && status === 'fail' ? ` # TODO about ${escapeTapDescription(c.plugin)} (context)` : ''
  const head = `${status === 'fail' ? 'not ok' : 'ok'} ${n} - ${escapeTapDescription(checkLabel(c))}${todo}`
  if (c.status === 'skip') {
    const reason = escapeTapDescription(c.message)
    return [`${head} # SKIP${reason ? ` ${reason}` : ''}`]
  }
  if (c.status === 'pass') return [head]
  return [head, '  ---', ...toYaml(tapDiagnostic(c), '  '), '  ...']
}

/**
 * Renders the report as TAP 14. Warnings are `ok` with a diagnostic (`not ok` under --strict);
 * skips use the `# SKIP` directive.
 * @example
 * TAP version 14
 * 1..3
 * # cnidbg conformance: /etc/cni/net.d/10-bridge.conflist (bridge, host-local), role interface, profile default
 * ok 1 - [1.0.0] add.result-shape: ADD returns a valid result
 * not ok 2 - [1.0.0] del.idempotent: DEL twice succeeds
 *   ---
 *   severity: fail
 *   ...
 *   ...
 * ok 3 - [0.3.1] check.after-add: CHECK after ADD # SKIP CHECK needs 0.4.0
 * # 1 passed, 1 failed, 0 warned, 1 skipped in 4.2s
 */
export function formatTap(report: ConformanceReport, options: TapOptions = {}): string {
  const strict = options.strict ?? report.strict
  const plugins = report.plugins.map((p) => p.type).join(', ')
  const own = report.checks.filter((c) => !c.context)
  const context = report.checks.filter((c) => c.context)
  const about = contextLine(report)
  const lines = [
    'TAP version 14',
    `1..${report.checks.length}`,
    `# cnidbg conformance: ${oneLine(report.conf)}${plugins ? ` (${oneLine(plugins)})` : ''}, role ${report.role}, profile ${report.profile}${strict ? ', strict' : ''}`,
    ...own.flatMap((c, i) => testPoint(c, i + 1, strict)),
    ...(context.length ? [`# Context: ${oneLine(about ?? '')}`] : []),
    ...context.flatMap((c, i) => testPoint(c, own.length + i + 1, strict)),
    `# ${summaryLine(report.summary, report.durationMs)}`,
    ...(about ? [`# ${oneLine(about)}`] : []),
  ]
  return lines.join('\n') + '\n'
}
