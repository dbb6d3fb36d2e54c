/**
 * The reporter registry (modelled on @tapjs/reporter's `addType`): `--reporter pretty|tap|junit|json`.
 * Reporters are pure: report in, string out. Writing files and stdout is the command's job.
 */
import type {ConformanceReport} from '../../checks/types.js'
import {UsageError} from '../../core/errors.js'
import {formatJson, type JsonOptions} from './json.js'
import {formatJunit} from './junit.js'
import {formatPretty} from './pretty.js'
import {formatTap} from './tap.js'

export const REPORTERS = ['pretty', 'tap', 'junit', 'json'] as const
export type ReporterName = (typeof REPORTERS)[number]

export function isReporterName(s: string): s is ReporterName {
  return (REPORTERS as readonly string[]).includes(s)
}

export interface FormatOptions {
  /** Warnings fail (`not ok`, <failure>, ✗). Defaults to `report.strict`. */
  strict?: boolean
  /** pretty only: force colours on/off; default is chalk's detection minus NO_COLOR. */
  color?: boolean
  /** pretty only: false omits the per-check list (a TTY run already showed it live). */
  listChecks?: boolean
  /** json only: wrap the report in the --json envelope. */
  envelope?: JsonOptions['envelope']
  /** junit only: one <testsuite> per spec version (default) or per area. */
  suiteBy?: 'version' | 'area'
}

/**
 * Renders a finished run with one reporter. Machine formats (tap, junit, json) never contain colour.
 * @example
 * const text = formatReport(report, 'junit', {strict: flags.strict})
 * await writeFile('junit.xml', text)
 */
export function formatReport(report: ConformanceReport, reporter: ReporterName, options: FormatOptions = {}): string {
  switch (reporter) {
    case 'pretty':
      return formatPretty(report, {strict: options.strict, color: options.color, listChecks: options.listChecks})
    case 'tap':
      return formatTap(report, {strict: options.strict})
    case 'junit':
      return formatJunit(report, {strict: options.strict, suiteBy: options.suiteBy})
    case 'json':
      return formatJson(report, {envelope: options.envelope})
  }
}

/** Where one reporter writes: a file, or stdout when `output` is undefined. */
export interface ReporterTarget {
  reporter: ReporterName
  output?: string
}

/**
 * Pairs `--reporter X [--output FILE]` flags in command-line order: each --output belongs to the
 * --reporter just before it. Pass oclif's `raw` tokens from `this.parse()` (flag order is lost in
 * `flags`). No --reporter at all means `pretty` on stdout.
 * @example
 * pairReporterOutputs(raw) // for `--reporter junit --output junit.xml --reporter tap`
 * // [{reporter: 'junit', output: 'junit.xml'}, {reporter: 'tap'}]
 */
export function pairReporterOutputs(
  tokens: ReadonlyArray<{type: string; flag?: string; input: string}>,
  {reporterFlag = 'reporter', outputFlag = 'output'}: {reporterFlag?: string; outputFlag?: string} = {},
): ReporterTarget[] {
  const targets: ReporterTarget[] = []
  for (const t of tokens) {
    if (t.type !== 'flag') continue
    if (t.flag === reporterFlag) {
      if (!isReporterName(t.input)) {
        throw new UsageError(`Unknown reporter "${t.input}".`, {
          code: 'REPORTER_UNKNOWN',
          suggestions: [`Use one of: ${REPORTERS.join(', ')}.`],
        })
      }
      targets.push({reporter: t.input})
    } else if (t.flag === outputFlag) {
      const last = targets.at(-1)
      if (!last || last.output !== undefined) {
        throw new UsageError(`--${outputFlag} ${t.input} does not follow a --${reporterFlag}.`, {
          code: 'REPORTER_OUTPUT_ORPHAN',
          suggestions: [
            `Put it right after the reporter it is for: --${reporterFlag} junit --${outputFlag} ${t.input}`,
          ],
        })
      }
      last.output = t.input
    }
  }
  if (targets.length === 0) return [{reporter: 'pretty'}]
  const toStdout = targets.filter((t) => t.output === undefined || t.output === '-')
  if (toStdout.length > 1) {
    throw new UsageError(
      `Only one reporter can write to stdout; ${toStdout.map((t) => t.reporter).join(' and ')} both do.`,
      {
        code: 'REPORTER_STDOUT_TWICE',
        suggestions: [
          `Give all but one an output file: --${reporterFlag} ${toStdout[0].reporter} --${outputFlag} FILE`,
        ],
      },
    )
  }
  const files = targets.flatMap((t) => (t.output === undefined || t.output === '-' ? [] : [t.output]))
  const dup = files.find((f, i) => files.indexOf(f) !== i)
  if (dup !== undefined) {
    throw new UsageError(`Two reporters write to ${dup}.`, {
      code: 'REPORTER_OUTPUT_TWICE',
      suggestions: ['Give each reporter its own --output file.'],
    })
  }
  for (const t of targets) if (t.output === '-') delete t.output
  return targets
}

/** What the reporters made: the text for each --output file, and the one meant for stdout. */
export interface FormattedReports {
  files: Array<{path: string; text: string}>
  /** None under --json, where the envelope is stdout. */
  stdout?: string
}

/**
 * Formats each reporter for its file or for stdout. `listChecks` is false when a live view already
 * listed every check. Writing the files is the service's (services/conformance.ts).
 */
export function formatReports(
  report: ConformanceReport,
  targets: readonly ReporterTarget[],
  opts: {json: boolean; listChecks: boolean; strict?: boolean; envelope?: FormatOptions['envelope']},
): FormattedReports {
  const out: FormattedReports = {files: []}
  for (const t of targets) {
    const text = formatReport(report, t.reporter, {
      envelope: opts.envelope,
      listChecks: opts.listChecks,
      strict: opts.strict,
    })
    if (t.output) out.files.push({path: t.output, text: text.endsWith('\n') ? text : text + '\n'})
    else if (!opts.json) out.stdout = text
  }
  return out
}

export {formatJson, toJsonResult} from './json.js'
export {formatJunit} from './junit.js'
export {formatCheckLine, formatPretty} from './pretty.js'
export {formatTap} from './tap.js'
