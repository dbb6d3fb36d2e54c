/** Shared bits for ink and live-output tests. */
import {EventEmitter} from 'node:events'

// eslint-disable-next-line no-control-regex
const ANSI = /\u001B(?:\[[0-?]*[ -/]*[@-~]|\][^\u0007\u001B]*(?:\u0007|\u001B\\)|[@-Z\\-_])/g

export const stripAnsi = (s: string | undefined): string => (s ?? '').replace(ANSI, '')

/**
 * Lets React commit scheduled updates (they run on a later tick, not synchronously with the emit).
 * Waits for the event loop, never for wall-clock time.
 */
export async function settle(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve))
}

/**
 * Polls `predicate` once per event-loop turn until it holds; fails after `rounds` turns. For
 * interval-driven output (heartbeats) so tests wait for an event, not for a duration.
 */
export async function waitFor(predicate: () => boolean, rounds = 5000): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (predicate()) return
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  throw new Error('waitFor: condition never became true')
}

/** A writable stand-in for process.stderr that records what was written. */
export class FakeStream extends EventEmitter {
  chunks: string[] = []
  columns = 100
  rows = 40
  constructor(public isTTY: boolean) {
    super()
  }
  write = (chunk: string | Uint8Array): boolean => {
    this.chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString())
    return true
  }
  get text(): string {
    return this.chunks.join('')
  }
  /** The written text without escape codes, as lines. */
  get lines(): string[] {
    return stripAnsi(this.text)
      .split('\n')
      .filter((l) => l !== '')
  }
  asStream(): NodeJS.WriteStream {
    return this as unknown as NodeJS.WriteStream
  }
}

/** A clock the test moves by hand. */
export function fakeClock(start = 1_000_000): {now: () => number; advance: (ms: number) => void} {
  let t = start
  return {now: () => t, advance: (ms) => void (t += ms)}
}
