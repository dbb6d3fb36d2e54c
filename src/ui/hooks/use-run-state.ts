import {useCallback, useSyncExternalStore} from 'react'

import type {RunSnapshot, RunState} from '../../conformance/run-state.js'

/**
 * The current snapshot of a RunState; re-renders on every 'change' and unsubscribes on unmount
 * (React calls the function `subscribe` returns).
 */
export function useRunState(state: RunState): RunSnapshot {
  const subscribe = useCallback(
    (onChange: () => void) => {
      state.on('change', onChange)
      return () => {
        state.off('change', onChange)
      }
    },
    [state],
  )
  return useSyncExternalStore(subscribe, () => state.snapshot)
}
