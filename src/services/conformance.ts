import {EventEmitter} from 'node:events'
import {writeFileSync} from 'node:fs'

import type {ConformanceReport} from '../checks/types.js'
import {formatReport, type ReporterTarget} from '../conformance/reporters/index.js'
import {RunState} from '../conformance/run-state.js'
import {type ConformanceOptions, type RunEmitter, runConformance} from '../conformance/runner.js'
import {renderConformanceProgress} from '../ui/render-conformance-progress.js'

export interface ConformanceRun {
  report: ConformanceReport
  /** The reporter text meant for stdout (none under --json). */
  stdout?: string
}

/** Runs the suite with a live view on stderr, then writes every reporter to its file or stdout. */
export async function conformance(
  opts: ConformanceOptions & {targets: ReporterTarget[]; json: boolean},
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
    const text = formatReport(report, t.reporter, {listChecks: progress.mode !== 'ink', strict: opts.strict})
    if (t.output) writeFileSync(t.output, text.endsWith('\n') ? text : text + '\n')
    else if (!opts.json) stdout = text
  }
  return {report, stdout}
}
