/**
 * The human report: every check grouped by area and spec version, then each failure and warning
 * with its evidence, then one summary line. Printed to stdout at the end of a run (the live view,
 * src/ui/conformance-progress.tsx, only shows progress on stderr).
 */
import chalk, {Chalk, type ChalkInstance, type ColorSupportLevel} from 'chalk'

import type {CheckResult, CheckStatus, ConformanceReport} from '../../checks/types.js'
import {evidenceSections, requirementLine} from './evidence.js'
import {
  ANY_VERSION,
  checkLabel,
  contextLine,
  effectiveStatus,
  findingMessage,
  formatDuration,
  groupByArea,
  summaryLine,
} from './format-helpers.js'
import {oneLine, visible} from '../../core/text.js'

export interface PrettyOptions {
  /** Warnings are shown and counted as failures. Defaults to the report's own `strict`. */
  strict?: boolean
  /**
   * Force colours on or off. Default: chalk's detection for stdout (FORCE_COLOR), off when
   * NO_COLOR is set (https://no-color.org).
   */
  color?: boolean
  /**
   * List every check grouped by area/version (default). A TTY run that already showed each check
   * live passes false and gets only the failures, warnings and summary.
   */
  listChecks?: boolean
}

export const STATUS_SYMBOL: Record<CheckStatus, string> = {pass: '✓', fail: '✗', warn: '!', skip: '-'}

/** A chalk instance honouring `color` (see PrettyOptions.color). */
export function chalkFor(color: boolean | undefined): ChalkInstance {
  if (color === undefined) {
    const noColor = (process.env.NO_COLOR ?? '') !== ''
    return noColor ? new Chalk({level: 0}) : chalk
  }
  return new Chalk({level: color ? (Math.max(chalk.level, 1) as ColorSupportLevel) : 0})
}

function paint(c: ChalkInstance, status: CheckStatus): (s: string) => string {
  if (status === 'pass') return c.green
  if (status === 'fail') return c.red
  if (status === 'warn') return c.yellow
  return c.dim
}

/**
 * One line for one finished check, as the plain (non-TTY) progress output and the grouped list
 * print it.
 * @example
 * formatCheckLine(result, {color: false}) // '✗ [1.0.0] del.idempotent: DEL twice succeeds (12ms): bridge: second DEL failed'
 */
export function formatCheckLine(
  r: CheckResult,
  {strict = false, color, withVersion = true}: {strict?: boolean; color?: boolean; withVersion?: boolean} = {},
): string {
  const c = chalkFor(color)
  const status = effectiveStatus(r.status, strict)
  const name = withVersion ? checkLabel(r) : `${r.id}: ${oneLine(r.title)}`
  const symbol = paint(c, status)(STATUS_SYMBOL[status])
  const label = status === 'fail' ? c.red(name) : name
  const why = r.status === 'pass' || r.message === '' ? '' : `: ${c.dim(findingMessage(r))}`
  const took = r.status === 'skip' ? '' : ` ${c.dim(`(${formatDuration(r.durationMs)})`)}`
  return `${symbol} ${label}${took}${why}`
}

function header(report: ConformanceReport, c: ChalkInstance, strict: boolean): string[] {
  const plugins = report.plugins.map((p) => `${p.type} ${c.dim(`(${p.path})`)}`).join(', ')
  const facts = [
    `role ${report.role}`,
    `profile ${report.profile}`,
    ...(strict ? ['strict'] : []),
    ...(report.served ? ['served (a plugin server per case)'] : []),
    `versions ${report.versions.join(', ') || 'none'}`,
  ]
  return [
    `${c.bold('cnidbg conformance')} ${report.conf}`,
    ...(plugins ? [`  plugins  ${plugins}`] : []),
    `  ${facts.join(c.dim(' · '))}`,
    '',
  ]
}

function groupedList(checks: CheckResult[], c: ChalkInstance, strict: boolean, color?: boolean): string[] {
  const out: string[] = []
  for (const g of groupByArea(checks)) {
    out.push(c.bold(g.area))
    for (const v of g.versions) {
      out.push(`  ${c.cyan(`[${v.version ?? ANY_VERSION}]`)}`)
      for (const r of v.checks) out.push(`    ${formatCheckLine(r, {strict, color, withVersion: false})}`)
    }
  }
  out.push('')
  return out
}

function indentBlock(text: string, pad: string, c: ChalkInstance): string[] {
  return text.split('\n').map((l) => `${pad}${c.dim('│')} ${l}`)
}

function details(r: CheckResult, n: number, c: ChalkInstance, strict: boolean): string[] {
  const status = effectiveStatus(r.status, strict)
  const out = [`${paint(c, status)(`${n}) ${STATUS_SYMBOL[status]}`)} ${c.bold(checkLabel(r))}`]
  const pad = ' '.repeat(String(n).length + 2)
  if (r.message) out.push(`${pad}${visible(r.message)}`)
  out.push(`${pad}${c.dim(requirementLine(r))}`)
  // Invocation output and multi-line values go in a block under their label; the rest align.
  const sections = evidenceSections(r).map((s) => ({...s, block: s.text.includes('\n') || s.label.includes('→')}))
  const width = Math.max(0, ...sections.filter((s) => !s.block).map((s) => s.label.length))
  for (const s of sections) {
    if (s.block) {
      out.push(`${pad}${c.dim(s.label)}`)
      if (s.text !== '') out.push(...indentBlock(s.text, pad + '  ', c))
    } else {
      out.push(`${pad}${c.dim(s.label.padEnd(width))}  ${s.label === 'reproduce' ? c.cyan(s.text) : s.text}`)
    }
  }
  out.push('')
  return out
}

/**
 * Renders the final human report.
 * @example
 * cnidbg conformance /etc/cni/net.d/10-bridge.conflist
 *   plugins  bridge (/usr/lib/cni/bridge)
 *   role interface · profile default · versions 1.0.0
 *
 * del
 *   [1.0.0]
 *     ✗ del.idempotent: DEL twice succeeds (12ms): bridge: second DEL failed
 *
 * Failures (1)
 *
 * 1) ✗ [1.0.0] del.idempotent: DEL twice succeeds
 *    second DEL failed
 *    P72 · MUST · decided by default
 *    plugin     bridge
 *    expected   exit 0
 *    observed   exit 1
 *    reproduce  cnidbg conformance /etc/cni/net.d/10-bridge.conflist --only del.idempotent --versions 1.0.0 …
 *    by hand
 *      │ cnidbg exec invoke /usr/lib/cni/bridge --sandbox repro-1a2b3c --env CNI_COMMAND=DEL … --rm
 *    spec       https://github.com/containernetworking/cni/blob/main/SPEC.md#del-…
 *
 * 0 passed, 1 failed, 0 warned, 0 skipped in 4.2s
 */
export function formatPretty(report: ConformanceReport, options: PrettyOptions = {}): string {
  const strict = options.strict ?? report.strict
  const c = chalkFor(options.color)
  const out: string[] = []
  // Chained role: what is about the plugins before the one under test comes apart, after it.
  const own = report.checks.filter((r) => !r.context)
  const context = report.checks.filter((r) => r.context)
  const contextTitle = `About ${report.context?.plugins.join(', ') ?? 'the plugins before it'}, before the plugin under test (context)`
  if (options.listChecks ?? true) {
    out.push(...header(report, c, strict), ...groupedList(own, c, strict, options.color))
    if (context.length) out.push(c.bold(contextTitle), ...groupedList(context, c, strict, options.color))
  }
  const failed = own.filter((r) => effectiveStatus(r.status, strict) === 'fail')
  const warned = own.filter((r) => effectiveStatus(r.status, strict) === 'warn')
  if (failed.length > 0) {
    out.push(c.red.bold(`Failures (${failed.length})`), '')
    failed.forEach((r, i) => out.push(...details(r, i + 1, c, strict)))
  }
  if (warned.length > 0) {
    out.push(c.yellow.bold(`Warnings (${warned.length})`), '')
    warned.forEach((r, i) => out.push(...details(r, i + 1, c, strict)))
  }
  if (context.length > 0) {
    out.push(c.bold(`${contextTitle}: findings (${context.length})`), '')
    context.forEach((r, i) => out.push(...details(r, i + 1, c, strict)))
  }
  const s = report.summary
  const line = summaryLine(s, report.durationMs)
  const tone = s.failed > 0 || (strict && s.warned > 0) ? c.red : s.warned > 0 ? c.yellow : c.green
  out.push(tone(line) + (strict && s.warned > 0 ? c.dim(' (--strict: warnings fail)') : ''))
  const about = contextLine(report)
  if (about) out.push(c.dim(about))
  return out.join('\n') + '\n'
}
