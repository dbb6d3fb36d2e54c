/**
 * The imperative entry for step lists (lab up, demo): ink at a terminal, one line per step change
 * in CI and pipes, nothing under --json. Same gate as the conformance view (live-gate.ts).
 */
import {render} from 'ink'
import {createElement} from 'react'

import {chalkFor} from './reporters/pretty.js'
import {onCleanup} from '../process/cleanup.js'
import {type LiveGateOptions, liveMode} from './live-gate.js'
import type {ProgressHandle} from './render-conformance-progress.js'
import type {Step, StepTracker} from '../core/step-tracker.js'
import {STEP_SYMBOL, Steps, stepDuration} from './steps.js'

export interface StepsOptions extends LiveGateOptions {
  /** Where live output goes. Default: process.stderr. */
  stream?: NodeJS.WriteStream
  /** A heading printed above the steps. */
  title?: string
  /** Plain mode: force colours on/off (default: chalk's detection, NO_COLOR respected). */
  color?: boolean
}

/**
 * The plain line for a step that just changed; undefined when the change is not worth a line
 * (a detail update on a running step).
 * @example
 * stepLine(step, now) // '✓ Create node namespaces (1.2s): 3 nodes'
 */
export function stepLine(step: Step, now: number, color?: boolean): string | undefined {
  if (step.status === 'pending') return undefined
  const c = chalkFor(color)
  const paint = step.status === 'done' ? c.green : step.status === 'failed' ? c.red : c.cyan
  const took = step.status === 'running' ? undefined : stepDuration(step, now)
  return `${paint(STEP_SYMBOL[step.status])} ${step.title}${took ? c.dim(` (${took})`) : ''}${step.detail ? `: ${step.detail}` : ''}`
}

/**
 * Shows a StepTracker on stderr until stop() is called.
 * @example
 * const steps = new StepTracker(['Create node namespaces', 'Start the daemon'])
 * const view = renderSteps(steps, {json: this.jsonEnabled(), title: 'Starting the lab'})
 * try {
 *   await labUp(options, steps)
 * } finally {
 *   await view.stop()
 * }
 */
export function renderSteps(tracker: StepTracker, options: StepsOptions = {}): ProgressHandle {
  const stream = options.stream ?? process.stderr
  const mode = liveMode(options, stream)
  if (mode === 'none') return {mode, stop: async () => {}}

  if (mode === 'plain') {
    if (options.title) stream.write(`${chalkFor(options.color).bold(options.title)}\n`)
    const last = new Map<string, Step['status']>()
    const onChange = (_steps: readonly Step[], step: Step) => {
      // One line per status change; detail-only updates would flood a CI log.
      if (last.get(step.id) === step.status) return
      last.set(step.id, step.status)
      const line = stepLine(step, tracker.now(), options.color)
      if (line !== undefined) stream.write(line + '\n')
    }
    tracker.on('change', onChange)
    return {
      mode,
      async stop() {
        tracker.off('change', onChange)
      },
    }
  }

  const app = render(createElement(Steps, {tracker, title: options.title}), {
    stdout: stream,
    stderr: stream,
    exitOnCtrlC: false,
    patchConsole: false,
  })
  const unregister = onCleanup('steps view', () => app.unmount())
  let stopping: Promise<void> | undefined
  return {
    mode,
    stop() {
      stopping ??= (async () => {
        await new Promise((resolve) => setImmediate(resolve))
        app.unmount()
        await app.waitUntilExit()
        unregister()
      })()
      return stopping
    },
  }
}
