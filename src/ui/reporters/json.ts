/**
 * The JSON reporter. The report is already plain data (src/checks/types.ts), so this adds nothing:
 * the --json envelope ({schemaVersion, command, status, result, warnings}) is BaseCommand's job, and
 * the same builder (core/envelope.ts) wraps a report file when asked.
 */
import {envelope, type Envelope} from '../../core/envelope.js'
import type {ConformanceReport} from '../../checks/types.js'

export interface JsonOptions {
  /**
   * Wrap the report in the same envelope `--json` prints, so a `--reporter json --output x.json`
   * file and `--json` stdout parse the same way. Without it the bare report is written.
   */
  envelope?: Pick<Envelope<ConformanceReport>, 'command' | 'status' | 'warnings'>
}

/** The report as-is, for BaseCommand to return from run() (it becomes `result` in the envelope). */
export function toJsonResult(report: ConformanceReport): ConformanceReport {
  return report
}

/**
 * Serialises the report (optionally inside the envelope), pretty-printed with a final newline.
 * @example
 * formatJson(report, {envelope: {command: 'conformance', status: 1, warnings: []}})
 * // '{\n  "schemaVersion": 1,\n  "command": "conformance",\n  "status": 1,\n  "result": {…},\n  "warnings": []\n}\n'
 */
export function formatJson(report: ConformanceReport, options: JsonOptions = {}): string {
  const result = toJsonResult(report)
  const value = options.envelope ? envelope(options.envelope, {result}) : result
  return JSON.stringify(value, null, 2) + '\n'
}
