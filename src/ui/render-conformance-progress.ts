/**
 * The imperative entry the conformance command calls, so commands never import React. Live
 * output goes to stderr; the final report is the command's business on stdout.
 */
import {render} from 'ink'
import {createElement} from 'react'

import {checkLabel, formatDuration} from './reporters/format-helpers.js'
import {formatCheckLine} from './reporters/pretty.js'
import type {RunSnapshot, RunState} from '../conformance/run-state.js'
import {onCleanup} from '../process/cleanup.js'
import {ConformanceProgress} from './conformance-progress.js'
import {type LiveGateOptions, type LiveMode, liveMode} from './live-gate.js'

export interface ConformanceProgressOptions extends LiveGateOptions {
  /** Where live output goes. Default: process.stderr. */
  stream?: NodeJS.WriteStream
  /** Show warnings as failures (--strict). */
  strict?: boolean
  /** Plain mode: force colours on/off (default: chalk's detection, NO_COLOR respected). */
  color?: boolean
  /**
   * Plain mode: when nothing finished for this long, print which checks are still running, so a
   * slow plugin does not look like a hung CI job. Default 10 s; 0 turns it off.
   */
  heartbeatMs?: number
}

export interface ProgressHandle {
  /** How the view renders: ink, plain lines, or nothing (--json). */
  readonly mode: LiveMode
  /** Prints what is still pending and tears the view down. Call it before writing the report to stdout. */
  stop(): Promise<void>
}

/**
 * The line a plain-mode heartbeat prints.
 * @example
 * heartbeatLine(snapshot, now) // '… 12/40 done, 45.0s: still running [1.0.0] del.gc (32.0s), +2 more'
 */
export function heartbeatLine(s: RunSnapshot, now: number): string {
  const done = s.total === undefined ? `${s.finished.length} done` : `${s.finished.length}/${s.total} done`
  const [first] = s.running
  const running = first
    ? `: still running ${checkLabel(first)} (${formatDuration(now - first.startedAt)})${s.running.length > 1 ? `, +${s.running.length - 1} more` : ''}`
    : ''
  return `… ${done}, ${((now - s.startedAt) / 1000).toFixed(1)}s${running}`
}

function renderPlain(state: RunState, stream: NodeJS.WriteStream, options: ConformanceProgressOptions): ProgressHandle {
  let printed = 0
  let quietSinceBeat = true
  const flush = (s: RunSnapshot) => {
    for (; printed < s.finished.length; printed++) {
      stream.write(formatCheckLine(s.finished[printed], {strict: options.strict, color: options.color}) + '\n')
      quietSinceBeat = false
    }
  }
  state.on('change', flush)
  flush(state.snapshot)
  const heartbeatMs = options.heartbeatMs ?? 10_000
  // Silence is what makes a CI job look hung; a beat only comes after a whole interval without output.
  const timer =
    heartbeatMs > 0
      ? setInterval(() => {
          const s = state.snapshot
          if (quietSinceBeat && s.running.length > 0 && !state.done) stream.write(heartbeatLine(s, state.now()) + '\n')
          quietSinceBeat = true
        }, heartbeatMs)
      : undefined
  timer?.unref()
  return {
    mode: 'plain',
    async stop() {
      if (timer) clearInterval(timer)
      state.off('change', flush)
      flush(state.snapshot)
    },
  }
}

function renderInk(state: RunState, stream: NodeJS.WriteStream, options: ConformanceProgressOptions): ProgressHandle {
  const app = render(createElement(ConformanceProgress, {state, strict: options.strict}), {
    stdout: stream,
    stderr: stream,
    // We never read keys, so the terminal stays in cooked mode and Ctrl-C is a SIGINT for our cleanup.
    exitOnCtrlC: false,
    patchConsole: false,
  })
  // On Ctrl-C the cleanup handler exits the process: unmount first so the cursor comes back.
  const unregister = onCleanup('conformance progress view', () => app.unmount())
  let stopping: Promise<void> | undefined
  return {
    mode: 'ink',
    stop() {
      stopping ??= (async () => {
        // Let React commit the last state change (its updates are scheduled, not synchronous)
        // so the final <Static> lines are written before the app goes away.
        await new Promise((resolve) => setImmediate(resolve))
        app.unmount()
        await app.waitUntilExit()
        unregister()
      })()
      return stopping
    },
  }
}

/**
 * Shows a conformance run's progress on stderr: an ink view at an interactive terminal, one plain
 * line per finished check in CI and pipes (plus a heartbeat), nothing under --json.
 * @example
 * const state = new RunState()
 * const progress = renderConformanceProgress(state, {json: this.jsonEnabled(), strict: flags.strict})
 * let report
 * try {
 *   report = await runConformance(options, state)
 * } finally {
 *   await progress.stop()
 * }
 * this.log(formatReport(report, 'pretty', {listChecks: progress.mode !== 'ink'}))
 */
export function renderConformanceProgress(state: RunState, options: ConformanceProgressOptions = {}): ProgressHandle {
  const stream = options.stream ?? process.stderr
  const mode = liveMode(options, stream)
  if (mode === 'none') return {mode, stop: async () => {}}
  return mode === 'ink' ? renderInk(state, stream, options) : renderPlain(state, stream, options)
}
