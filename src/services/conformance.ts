import {EventEmitter} from 'node:events'
import {accessSync, constants, existsSync, statSync, writeFileSync} from 'node:fs'
import {dirname, resolve} from 'node:path'

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

const reportNotWritten = (path: string, why: string): UsageError =>
  new UsageError(`Cannot write the report to ${path}: ${why}`, {
    code: 'REPORT_NOT_WRITTEN',
    suggestions: ['Give --output a path in a directory that exists and that you may write'],
  })

/** Why `path` cannot be written as a file, or undefined if it can (without creating it). */
function unwritable(path: string): string | undefined {
  const errorOf = (fn: () => void): string | undefined => {
    try {
      fn()
      return undefined
    } catch (error) {
      return (error as Error).message
    }
  }
  if (existsSync(path)) {
    if (statSync(path).isDirectory()) return 'it is a directory'
    return errorOf(() => accessSync(path, constants.W_OK))
  }
  const dir = dirname(resolve(path))
  if (!existsSync(dir)) return `${dir} does not exist`
  if (!statSync(dir).isDirectory()) return `${dir} is not a directory`
  return errorOf(() => accessSync(dir, constants.W_OK))
}

/**
 * Checked before the run starts: a wrong --output path is found at once (exit 2), not after a run
 * of many minutes whose report it would then lose.
 */
export function checkReportPaths(paths: readonly string[]): void {
  for (const path of paths) {
    const why = unwritable(path)
    if (why) throw reportNotWritten(path, why)
  }
}

/**
 * Writes the reporters' files (--output). A file that cannot be written is the user's path to fix
 * (exit 2), not a crash; the command prints the run's result to stdout before it writes them.
 */
export function writeReportFiles(files: ReadonlyArray<{path: string; text: string}>): void {
  for (const f of files) {
    try {
      writeFileSync(f.path, f.text)
    } catch (error) {
      throw reportNotWritten(f.path, (error as Error).message)
    }
  }
}

export type {ConformanceReport, PluginRole, Profile} from '../checks/types.js'
export type {RunState} from '../conformance/run-state.js'
export {splitCniPath} from '../runtime/find.js'
