/**
 * Small pure helpers every conformance reporter shares, so the pretty, TAP and JUnit outputs name,
 * group and count checks the same way.
 */
import {compareVersions} from '../../runtime/versions.js'
import type {CheckResult, CheckStatus, ConformanceReport} from '../../checks/types.js'
import {oneLine} from '../../core/text.js'

/** Where the spec anchors in CheckResult.spec point (the anchors are identical on spec-v1.1.0 and main). */
export const SPEC_BASE_URL = 'https://github.com/containernetworking/cni/blob/main/'

/** The group heading used for version-independent checks (CheckResult.version === null). */
export const ANY_VERSION = 'any version'

/** `del.idempotent` → `del`: the operation a check exercises (check ids are `<operation>.<property>`). */
export function areaOf(id: string): string {
  const dot = id.indexOf('.')
  return dot > 0 ? id.slice(0, dot) : id
}

/**
 * The one-line name of a check used by every reporter.
 * @example
 * checkLabel({id: 'del.idempotent', version: '1.0.0', title: 'DEL twice succeeds'})
 * // '[1.0.0] del.idempotent: DEL twice succeeds'
 */
export function checkLabel(c: Pick<CheckResult, 'id' | 'title' | 'version'>): string {
  return `[${c.version ?? ANY_VERSION}] ${c.id}: ${oneLine(c.title)}`
}

/** Under --strict a warning fails the run, so reporters show it as a failure. */
export function effectiveStatus(status: CheckStatus, strict: boolean): CheckStatus {
  return strict && status === 'warn' ? 'fail' : status
}

/** `SPEC.md#errors` → a clickable URL; full URLs and empty anchors pass through. */
export function specUrl(anchor: string): string {
  if (anchor === '' || /^[a-z]+:\/\//i.test(anchor)) return anchor
  return SPEC_BASE_URL + anchor.replace(/^\/+/, '')
}

/**
 * The last `lines` lines of a plugin's stdout/stderr, at most `chars` characters, with a marker
 * saying how much was cut. Trailing newlines are dropped.
 */
export function tail(text: string, {lines = 20, chars = 4000}: {lines?: number; chars?: number} = {}): string {
  const trimmed = text.replace(/\n+$/, '')
  let kept = trimmed.split('\n')
  let cut = 0
  if (kept.length > lines) {
    cut = kept.length - lines
    kept = kept.slice(-lines)
  }
  let out = kept.join('\n')
  if (out.length > chars) {
    out = out.slice(-chars)
    const nl = out.indexOf('\n')
    if (nl >= 0 && nl < out.length - 1) out = out.slice(nl + 1)
    cut = Math.max(cut, 1)
  }
  return cut > 0 ? `… (${trimmed.length - out.length} earlier characters cut)\n${out}` : out
}

/** 12 → `12ms`, 4200 → `4.2s`, 65000 → `1m05s`: for per-check durations. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  const s = Math.round(ms / 1000)
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
}

/**
 * The summary line every human reporter ends with.
 * @example
 * summaryLine({passed: 12, failed: 1, warned: 2, skipped: 3}, 4212) // '12 passed, 1 failed, 2 warned, 3 skipped in 4.2s'
 */
export function summaryLine(s: ConformanceReport['summary'], durationMs: number): string {
  return `${s.passed} passed, ${s.failed} failed, ${s.warned} warned, ${s.skipped} skipped in ${(durationMs / 1000).toFixed(1)}s`
}

/**
 * The message of a finished check as the one-line views show it: a finding (fail or warn) names
 * its plugin first, so a chain's report says whose it is.
 * @example
 * findingMessage({status: 'fail', plugin: 'portmap', message: 'second DEL failed'}) // 'portmap: second DEL failed'
 */
export function findingMessage(c: Pick<CheckResult, 'message' | 'plugin' | 'status'>): string {
  const message = oneLine(c.message)
  return (c.status === 'fail' || c.status === 'warn') && c.plugin ? `${c.plugin}: ${message}` : message
}

/**
 * The line that counts the findings about the plugins before the one under test (chained role), or
 * undefined when there are none.
 * @example
 * contextLine(report) // 'about ptp, before portmap (context, not counted above): 0 failed, 2 warned'
 */
export function contextLine(report: Pick<ConformanceReport, 'context' | 'plugins'>): string | undefined {
  if (!report.context) return undefined
  const s = report.context.summary
  const subject = report.plugins.at(-1)?.type ?? 'the plugin under test'
  return `about ${report.context.plugins.join(', ')}, before ${subject} (context, not counted above): ${s.failed} failed, ${s.warned} warned`
}

/** Versions in spec order, version-independent (null) checks first. */
export function compareCheckVersions(a: string | null, b: string | null): number {
  if (a === b) return 0
  if (a === null) return -1
  if (b === null) return 1
  return compareVersions(a, b)
}

export interface CheckGroup {
  area: string
  versions: Array<{version: string | null; checks: CheckResult[]}>
}

/**
 * Groups checks by area (in order of first appearance, which is the runner's order) and, inside an
 * area, by spec version in spec order. Checks keep their relative order within a group.
 */
export function groupByArea(checks: readonly CheckResult[]): CheckGroup[] {
  const areas = new Map<string, Map<string | null, CheckResult[]>>()
  for (const c of checks) {
    const area = areaOf(c.id)
    let byVersion = areas.get(area)
    if (!byVersion) areas.set(area, (byVersion = new Map()))
    const list = byVersion.get(c.version)
    if (list) list.push(c)
    else byVersion.set(c.version, [c])
  }
  return [...areas].map(([area, byVersion]) => ({
    area,
    versions: [...byVersion]
      .sort(([a], [b]) => compareCheckVersions(a, b))
      .map(([version, list]) => ({version, checks: list})),
  }))
}

/**
 * Groups checks by spec version in spec order (null first), keeping the runner's order inside each.
 */
export function groupByVersion(checks: readonly CheckResult[]): Array<{version: string | null; checks: CheckResult[]}> {
  const byVersion = new Map<string | null, CheckResult[]>()
  for (const c of checks) {
    const list = byVersion.get(c.version)
    if (list) list.push(c)
    else byVersion.set(c.version, [c])
  }
  return [...byVersion]
    .sort(([a], [b]) => compareCheckVersions(a, b))
    .map(([version, list]) => ({version, checks: list}))
}
