import {useCallback, useSyncExternalStore} from 'react'

import type {Step, StepTracker} from '../../core/step-tracker.js'

/** The tracker's current steps; re-renders on every change and unsubscribes on unmount. */
export function useSteps(tracker: StepTracker): readonly Step[] {
  const subscribe = useCallback(
    (onChange: () => void) => {
      tracker.on('change', onChange)
      return () => {
        tracker.off('change', onChange)
      }
    },
    [tracker],
  )
  return useSyncExternalStore(subscribe, () => tracker.steps)
}
