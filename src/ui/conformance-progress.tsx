import {Box, Static, Text} from 'ink'

import type {CheckResult} from '../checks/types.js'
import {checkLabel, formatDuration} from './reporters/format-helpers.js'
import type {RunSnapshot, RunState} from '../conformance/run-state.js'
import {CheckLine} from './check-line.js'
import {useRunState} from './hooks/use-run-state.js'
import {useTicker} from './hooks/use-ticker.js'

/** Running checks shown at once; more than that collapse into "+N more" so the live area stays short. */
export const MAX_RUNNING_SHOWN = 6

function Counts({snapshot, elapsedMs}: {snapshot: RunSnapshot; elapsedMs: number}) {
  const {counts, total, finished, running} = snapshot
  const done = total === undefined ? `${finished.length} done` : `${finished.length}/${total} done`
  return (
    <Text>
      <Text bold>{done}</Text>
      <Text dimColor>{' · '}</Text>
      <Text color="green">{`${counts.passed} passed`}</Text>
      {', '}
      <Text color={counts.failed > 0 ? 'red' : undefined}>{`${counts.failed} failed`}</Text>
      {', '}
      <Text color={counts.warned > 0 ? 'yellow' : undefined}>{`${counts.warned} warned`}</Text>
      {`, ${counts.skipped} skipped`}
      <Text dimColor>{` · ${running.length} running · ${(elapsedMs / 1000).toFixed(1)}s`}</Text>
    </Text>
  )
}

/**
 * The live view of `cnidbg conformance` (state in src/conformance/run-state.ts): finished checks
 * scroll up in <Static> (printed once, never redrawn), the running checks and the counts stay live
 * below them. When the run is done the live part disappears, leaving the log, and the command prints
 * the final report.
 * @example
 * ✓ [1.0.0] add.result-shape: ADD returns a valid result (40ms)
 * ✗ [1.0.0] del.idempotent: DEL twice succeeds (12ms): second DEL failed
 * ▸ [1.0.0] check.after-add: CHECK after ADD (3.1s)
 * 2/40 done · 1 passed, 1 failed, 0 warned, 0 skipped · 1 running · 4.2s
 */
export function ConformanceProgress({state, strict = false}: {state: RunState; strict?: boolean}) {
  const snapshot = useRunState(state)
  const done = snapshot.endedAt !== undefined
  useTicker(done ? null : 1000)
  const at = snapshot.endedAt ?? state.now()
  const shown = snapshot.running.slice(0, MAX_RUNNING_SHOWN)
  const hidden = snapshot.running.length - shown.length
  return (
    <>
      <Static items={snapshot.finished as CheckResult[]}>
        {(r, i) => <CheckLine key={`${i} ${r.version} ${r.id}`} result={r} strict={strict} />}
      </Static>
      {done ? null : (
        <Box flexDirection="column">
          {shown.map((r) => (
            <Text key={`${r.version} ${r.id}`} wrap="truncate-end">
              <Text color="cyan">▸</Text> {checkLabel(r)}
              <Text dimColor>{` (${formatDuration(Math.max(0, at - r.startedAt))})`}</Text>
            </Text>
          ))}
          {hidden > 0 ? <Text dimColor>{`  +${hidden} more running`}</Text> : null}
          <Counts snapshot={snapshot} elapsedMs={at - snapshot.startedAt} />
        </Box>
      )}
    </>
  )
}
