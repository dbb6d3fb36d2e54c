/**
 * A check's evidence as labelled text sections, shared by the pretty and JUnit reporters so a
 * failure reads the same in a terminal and in a CI test tab.
 */
import type {CheckResult} from '../../checks/types.js'
import {formatDuration, specUrl, tail} from './format-helpers.js'
import {visible} from '../../core/text.js'

export interface EvidenceSection {
  /** e.g. `expected`, `observed`, `DEL → exit 1 in 12ms stderr`. */
  label: string
  /** Plain text; may span lines. */
  text: string
}

/** The requirement line: `P72 · MUST · decided by default`. */
export function requirementLine(c: CheckResult): string {
  const parts = [c.requirements.join(', '), c.severity.toUpperCase()]
  if (c.decidedBy) parts.push(`decided by ${c.decidedBy}`)
  return parts.filter((p) => p !== '').join(' · ')
}

/**
 * Sections in reading order: the plugin it is about, what was expected, what we saw, the state
 * diff, the plugin's own output, then how to reproduce and where the spec says so.
 */
export function evidenceSections(c: CheckResult, {tailLines = 20}: {tailLines?: number} = {}): EvidenceSection[] {
  const e = c.evidence ?? {}
  const out: EvidenceSection[] = []
  if (c.plugin) out.push({label: 'plugin', text: c.context ? `${c.plugin} (before the plugin under test)` : c.plugin})
  if (e.expected) out.push({label: 'expected', text: e.expected})
  if (e.observed) out.push({label: 'observed', text: e.observed})
  if (e.diff && e.diff.length > 0) out.push({label: 'diff', text: e.diff.join('\n')})
  for (const inv of e.invocations ?? []) {
    const head = `${inv.verb} → exit ${inv.exitCode ?? 'none (killed)'} in ${formatDuration(inv.durationMs)}`
    if (inv.stdout === '' && inv.stderr === '') out.push({label: head, text: ''})
    if (inv.stdout !== '') out.push({label: `${head}, stdout`, text: tail(inv.stdout, {lines: tailLines})})
    if (inv.stderr !== '') out.push({label: `${head}, stderr`, text: tail(inv.stderr, {lines: tailLines})})
  }
  if (e.reproduce) out.push({label: 'reproduce', text: e.reproduce})
  if (e.byHand && e.byHand.length > 0) out.push({label: 'by hand', text: e.byHand.join('\n')})
  if (c.spec) out.push({label: 'spec', text: specUrl(c.spec)})
  return out.map((s) => ({label: s.label, text: visible(s.text)}))
}

/**
 * The plain-text body of a failure: message, requirement line, then the sections.
 * @example
 * DEL of an unknown container returned an error
 * P72 · MUST · decided by default
 * expected: exit 0
 * observed: exit 1, {"code":7}
 * spec: https://github.com/containernetworking/cni/blob/main/SPEC.md#del-…
 */
export function evidenceText(c: CheckResult): string {
  const lines = [visible(c.message), requirementLine(c)]
  for (const s of evidenceSections(c)) {
    if (s.text.includes('\n')) lines.push(`${s.label}:`, ...s.text.split('\n').map((l) => `  ${l}`))
    else lines.push(s.text === '' ? s.label : `${s.label}: ${s.text}`)
  }
  return lines.filter((l) => l !== '').join('\n')
}
