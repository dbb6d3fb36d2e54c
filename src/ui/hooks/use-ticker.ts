import {useEffect, useState} from 'react'

/**
 * Re-renders the component every `intervalMs` (for elapsed-time displays); null stops it. Returns
 * the tick count. The timer is unref'd so a forgotten view never keeps the process alive.
 */
export function useTicker(intervalMs: number | null): number {
  const [ticks, setTicks] = useState(0)
  useEffect(() => {
    if (intervalMs === null) return
    const timer = setInterval(() => setTicks((n) => n + 1), intervalMs)
    timer.unref()
    return () => clearInterval(timer)
  }, [intervalMs])
  return ticks
}
