import {Text} from 'ink'

import type {CheckResult, CheckStatus} from '../checks/types.js'
import {checkLabel, effectiveStatus, findingMessage, formatDuration} from './reporters/format-helpers.js'
import {STATUS_SYMBOL} from './reporters/pretty.js'

const COLOR: Record<CheckStatus, string> = {pass: 'green', fail: 'red', warn: 'yellow', skip: 'gray'}

/**
 * One finished check, the same words as the plain progress line (formatCheckLine).
 * @example
 * ✗ [1.0.0] del.idempotent: DEL twice succeeds (12ms): bridge: second DEL failed
 */
export function CheckLine({result, strict = false}: {result: CheckResult; strict?: boolean}) {
  const status = effectiveStatus(result.status, strict)
  return (
    <Text>
      <Text color={COLOR[status]}>{STATUS_SYMBOL[status]}</Text>{' '}
      {status === 'fail' ? <Text color="red">{checkLabel(result)}</Text> : checkLabel(result)}
      {result.status === 'skip' ? '' : <Text dimColor>{` (${formatDuration(result.durationMs)})`}</Text>}
      {result.status === 'pass' || result.message === '' ? '' : <Text dimColor>{`: ${findingMessage(result)}`}</Text>}
    </Text>
  )
}
