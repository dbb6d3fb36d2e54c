/**
 * The JUnit XML reporter, in the dialect GitHub test-report actions (dorny/test-reporter,
 * mikepenz/action-junit-report) and GitLab's `artifacts:reports:junit` render: testsuites →
 * testsuite → testcase with failure/skipped/system-out.
 */
import type {CheckResult, ConformanceReport} from '../../checks/types.js'
import {evidenceText} from './evidence.js'
import {ANY_VERSION, areaOf, checkLabel, effectiveStatus, groupByVersion} from './format-helpers.js'
import {ANSI_SEQUENCE, oneLine} from '../../core/text.js'

export interface JunitOptions {
  /** Warnings become <failure>. Defaults to the report's own `strict`. */
  strict?: boolean
  /** One <testsuite> per spec version (default) or per area (`del`, `add`, …). */
  suiteBy?: 'version' | 'area'
}

// XML 1.0 §2.2 Char: these may not appear at all, not even as character references.
// eslint-disable-next-line no-control-regex
const XML_ILLEGAL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

function cleanForXml(s: string): string {
  return s
    .replace(ANSI_SEQUENCE, '')
    .replace(XML_ILLEGAL, (ch) => {
      const code = ch.charCodeAt(0)
      return code > 0xff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\x${code.toString(16).padStart(2, '0')}`
    })
    .replace(LONE_SURROGATE, '\uFFFD')
}

/** Escapes element text: the five predefined entities, and control characters made visible. */
export function escapeXmlText(s: string): string {
  return cleanForXml(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
}

/** Escapes an attribute value; line breaks and tabs become references so normalisation keeps them. */
export function escapeXmlAttr(s: string): string {
  return escapeXmlText(s).replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;')
}

function attrs(a: Record<string, string | number>): string {
  return Object.entries(a)
    .map(([k, v]) => ` ${k}="${escapeXmlAttr(String(v))}"`)
    .join('')
}

const seconds = (ms: number): string => (ms / 1000).toFixed(3)

function testcase(c: CheckResult, strict: boolean): string[] {
  const open = `    <testcase${attrs({classname: `cnidbg.conformance.${areaOf(c.id)}`, name: checkLabel(c), time: seconds(c.durationMs)})}`
  // Findings about the plugins before the one under test do not fail the run, so not the CI tab either.
  const status = c.context ? 'warn' : effectiveStatus(c.status, strict)
  if (c.status === 'pass') return [`${open}/>`]
  if (c.status === 'skip')
    return [`${open}>`, `      <skipped${attrs({message: oneLine(c.message)})}/>`, '    </testcase>']
  if (status === 'fail') {
    const type = `${c.severity.toUpperCase()} ${c.requirements.join(',')}`.trim()
    return [
      `${open}>`,
      `      <failure${attrs({message: oneLine(c.message), type})}>${escapeXmlText(evidenceText(c))}</failure>`,
      '    </testcase>',
    ]
  }
  // A warning passes, but the reason must still be visible in the CI tab.
  return [
    `${open}>`,
    `      <system-out>${escapeXmlText(`${c.context ? `CONTEXT ${c.status.toUpperCase()}` : 'WARNING'}: ${evidenceText(c)}`)}</system-out>`,
    '    </testcase>',
  ]
}

const failing = (c: CheckResult, strict: boolean): boolean => !c.context && effectiveStatus(c.status, strict) === 'fail'

function suite(name: string, checks: CheckResult[], report: ConformanceReport, strict: boolean): string[] {
  const failures = checks.filter((c) => failing(c, strict)).length
  const skipped = checks.filter((c) => c.status === 'skip').length
  const time = checks.reduce((sum, c) => sum + c.durationMs, 0)
  const props: Record<string, string> = {
    conf: report.conf,
    plugins: report.plugins.map((p) => `${p.type} (${p.path})`).join(', '),
    role: report.role,
    profile: report.profile,
    strict: String(strict),
  }
  return [
    `  <testsuite${attrs({name, tests: checks.length, failures, errors: 0, skipped, time: seconds(time)})}>`,
    '    <properties>',
    ...Object.entries(props).map(([k, v]) => `      <property${attrs({name: k, value: v})}/>`),
    '    </properties>',
    ...checks.flatMap((c) => testcase(c, strict)),
    '  </testsuite>',
  ]
}

/**
 * Renders the report as JUnit XML.
 * @example
 * <?xml version="1.0" encoding="UTF-8"?>
 * <testsuites name="cnidbg conformance" tests="2" failures="1" errors="0" skipped="0" time="4.212">
 *   <testsuite name="cnidbg conformance [1.0.0]" tests="2" failures="1" errors="0" skipped="0" time="0.052">
 *     <properties>…</properties>
 *     <testcase classname="cnidbg.conformance.add" name="[1.0.0] add.result-shape: ADD returns a valid result" time="0.040"/>
 *     <testcase classname="cnidbg.conformance.del" name="[1.0.0] del.idempotent: DEL twice succeeds" time="0.012">
 *       <failure message="second DEL failed" type="MUST P72">…evidence…</failure>
 *     </testcase>
 *   </testsuite>
 * </testsuites>
 */
export function formatJunit(report: ConformanceReport, options: JunitOptions = {}): string {
  const strict = options.strict ?? report.strict
  const own = report.checks.filter((c) => !c.context)
  const context = report.checks.filter((c) => c.context)
  const groups = [
    ...(options.suiteBy === 'area'
      ? [...new Set(own.map((c) => areaOf(c.id)))].map((area) => ({
          name: `cnidbg conformance ${area}`,
          checks: own.filter((c) => areaOf(c.id) === area),
        }))
      : groupByVersion(own).map((g) => ({
          name: `cnidbg conformance [${g.version ?? ANY_VERSION}]`,
          checks: g.checks,
        }))),
    // Chained role: the findings about the plugins before the one under test, in a suite of their own.
    ...(context.length
      ? [{name: `cnidbg conformance context (${report.context?.plugins.join(', ') ?? ''})`, checks: context}]
      : []),
  ]
  const failures = report.checks.filter((c) => failing(c, strict)).length
  const skipped = report.checks.filter((c) => c.status === 'skip').length
  const head = attrs({
    name: 'cnidbg conformance',
    tests: report.checks.length,
    failures,
    errors: 0,
    skipped,
    time: seconds(report.durationMs),
  })
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${head}>`,
    ...groups.flatMap((g) => suite(g.name, g.checks, report, strict)),
    '</testsuites>',
    '',
  ].join('\n')
}
