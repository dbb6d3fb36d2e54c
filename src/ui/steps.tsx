import {Box, Text} from 'ink'

import {formatDuration} from './reporters/format-helpers.js'
import {useSteps} from './hooks/use-steps.js'
import {useTicker} from './hooks/use-ticker.js'
import type {Step, StepStatus, StepTracker} from '../core/step-tracker.js'

export const STEP_SYMBOL: Record<StepStatus, string> = {pending: '○', running: '▸', done: '✓', failed: '✗'}
const COLOR: Record<StepStatus, string | undefined> = {pending: 'gray', running: 'cyan', done: 'green', failed: 'red'}

/** How long a step took (or has been running), when known. */
export function stepDuration(step: Step, now: number): string | undefined {
  if (step.startedAt === undefined || step.status === 'pending') return undefined
  return formatDuration((step.endedAt ?? now) - step.startedAt)
}

function StepLine({step, now}: {step: Step; now: number}) {
  const took = stepDuration(step, now)
  return (
    <Text>
      <Text color={COLOR[step.status]}>{STEP_SYMBOL[step.status]}</Text>{' '}
      <Text dimColor={step.status === 'pending'} color={step.status === 'failed' ? 'red' : undefined}>
        {step.title}
      </Text>
      {took === undefined ? '' : <Text dimColor>{` (${took})`}</Text>}
      {step.detail ? <Text dimColor={step.status !== 'failed'}>{`: ${step.detail}`}</Text> : ''}
    </Text>
  )
}

/**
 * A live list of steps, for long commands such as `lab up`.
 * @example
 * Starting the lab
 * ✓ Create node namespaces (1.2s): 3 nodes
 * ▸ Start the reference plugin daemon (0.4s)
 * ○ Wire the overlay
 */
export function Steps({tracker, title}: {tracker: StepTracker; title?: string}) {
  const steps = useSteps(tracker)
  const active = steps.some((s) => s.status === 'running')
  useTicker(active ? 1000 : null)
  const now = tracker.now()
  return (
    <Box flexDirection="column">
      {title ? <Text bold>{title}</Text> : null}
      {steps.map((s) => (
        <StepLine key={s.id} step={s} now={now} />
      ))}
    </Box>
  )
}
