import {EventEmitter} from 'node:events'
import {writeFileSync} from 'node:fs'

import type {ConformanceReport} from '../checks/types.js'
import {formatReport, type ReporterTarget} from '../ui/reporters/index.js'
import {EXIT} from '../core/exit-codes.js'
import {RunState} from '../conformance/run-state.js'
import {type ConformanceOptions, type RunEmitter, runConformance} from '../conformance/runner.js'
import {renderConformanceProgress} from '../ui/render-conformance-progress.js'

export interface ConformanceRun {
  report: ConformanceReport
  /** The reporter text meant for stdout (none under --json). */
  stdout?: string
}

/** The exit status of a finished run: 1 when a required check failed, or under --strict a warning. */
export function conformanceStatus(report: ConformanceReport, strict = false): number {
  return report.summary.failed > 0 || (strict && report.summary.warned > 0) ? EXIT.FAILED : EXIT.OK
}

/**
 * Runs the suite with a live view on stderr, then writes every reporter to its file or stdout. Under
 * --json a json reporter's file holds the same envelope as stdout, so both parse the same way.
 */
export async function conformance(
  opts: ConformanceOptions & {
    targets: ReporterTarget[]
    json: boolean
    /** The envelope's command name and warnings; status is the run's. Used only with `json`. */
    envelope?: {command: string; warnings: string[]}
  },
): Promise<ConformanceRun> {
  const events = new EventEmitter() as RunEmitter
  const state = new RunState()
  const detach = state.attach(events as unknown as Parameters<RunState['attach']>[0])
  const progress = renderConformanceProgress(state, {json: opts.json, strict: opts.strict})
  let report: ConformanceReport
  try {
    report = await runConformance(opts, events)
  } finally {
    await progress.stop()
    detach()
  }
  let stdout: string | undefined
  for (const t of opts.targets) {
    const envelope =
      opts.json && opts.envelope ? {...opts.envelope, status: conformanceStatus(report, opts.strict)} : undefined
    const text = formatReport(report, t.reporter, {envelope, listChecks: progress.mode !== 'ink', strict: opts.strict})
    if (t.output) writeFileSync(t.output, text.endsWith('\n') ? text : text + '\n')
    else if (!opts.json) stdout = text
  }
  return {report, stdout}
}
