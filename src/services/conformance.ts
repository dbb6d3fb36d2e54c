import {EventEmitter} from 'node:events'
import {writeFileSync} from 'node:fs'

import type {ConformanceReport} from '../checks/types.js'
import {UsageError} from '../core/errors.js'
import {EXIT} from '../core/exit-codes.js'
import {RunState} from '../conformance/run-state.js'
import {type ConformanceOptions, type RunEmitter, runConformance} from '../conformance/runner.js'

/** A live view of the run's state, which the caller (a command, through ui) provides. */
export interface RunView {
  stop(): Promise<void>
}

/** The exit status of a finished run: 1 when a required check failed, or under --strict a warning. */
export function conformanceStatus(report: ConformanceReport, strict = false): number {
  return report.summary.failed > 0 || (strict && report.summary.warned > 0) ? EXIT.FAILED : EXIT.OK
}

/** Runs the suite; `view` watches the run's state while it runs (the service renders nothing). */
export async function conformance(
  opts: ConformanceOptions,
  view: (state: RunState) => RunView = () => ({stop: async () => {}}),
): Promise<ConformanceReport> {
  const events = new EventEmitter() as RunEmitter
  const state = new RunState()
  const detach = state.attach(events as unknown as Parameters<RunState['attach']>[0])
  const live = view(state)
  try {
    return await runConformance(opts, events)
  } finally {
    await live.stop()
    detach()
  }
}

/**
 * Writes the reporters' files (--output). A file that cannot be written is the user's path to fix
 * (exit 2), not a crash; the run's result is still printed to stdout by the command.
 */
export function writeReportFiles(files: ReadonlyArray<{path: string; text: string}>): void {
  for (const f of files) {
    try {
      writeFileSync(f.path, f.text)
    } catch (error) {
      throw new UsageError(`Cannot write the report to ${f.path}: ${(error as Error).message}`, {
        code: 'REPORT_NOT_WRITTEN',
        suggestions: ['Give --output a path in a directory that exists and that you may write'],
      })
    }
  }
}

export type {ConformanceReport, PluginRole, Profile} from '../checks/types.js'
export type {RunState} from '../conformance/run-state.js'
export {splitCniPath} from '../runtime/find.js'
