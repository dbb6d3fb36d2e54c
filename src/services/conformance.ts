import {EventEmitter} from 'node:events'

import type {ConformanceReport} from '../checks/types.js'
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

export type {ConformanceReport, PluginRole, Profile} from '../checks/types.js'
export type {RunState} from '../conformance/run-state.js'
export {splitCniPath} from '../runtime/find.js'
