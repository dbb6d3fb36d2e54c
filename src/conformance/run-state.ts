/**
 * The state of a running conformance suite, as plain TypeScript: it consumes the runner's
 * events and emits 'change'. The ink view (src/ui/conformance-progress.tsx) and the plain-line
 * fallback (src/ui/render-conformance-progress.ts) only read it; it knows nothing about React.
 */
import {EventEmitter} from 'node:events'

import type {CheckResult, ConformanceReport, ConformanceSummary, RunEvents} from '../checks/types.js'

export interface RunningCheck {
  id: string
  version: string | null
  title: string
  /** Clock time (RunState's `now`) when check:start arrived. */
  startedAt: number
}

/** An immutable picture of the run; a new object after every change (React compares by identity). */
export interface RunSnapshot {
  startedAt: number
  /** Set once `done` arrived. */
  endedAt?: number
  /** How many checks the runner plans to run, if it said so. */
  total?: number
  counts: ConformanceSummary
  /** In start order. */
  running: readonly RunningCheck[]
  /** In finish order. */
  finished: readonly CheckResult[]
  report?: ConformanceReport
}

/**
 * Anything the runner emits its events on: a plain EventEmitter, or one typed as
 * `EventEmitter<{[K in keyof RunEvents]: [RunEvents[K]]}>` (the runner's RunEmitter).
 */
export type RunEventSource = EventEmitter<{[K in keyof RunEvents]: [RunEvents[K]]}> | EventEmitter

const key = (id: string, version: string | null): string => `${version ?? '*'} ${id}`

const COUNTER: Record<CheckResult['status'], keyof ConformanceSummary> = {
  pass: 'passed',
  fail: 'failed',
  warn: 'warned',
  skip: 'skipped',
}

export class RunState extends EventEmitter<{change: [RunSnapshot]}> {
  readonly now: () => number
  #snapshot: RunSnapshot

  /**
   * @param options.now the clock (injectable so views can be tested without timing); Date.now by default
   * @param options.total the planned number of checks, shown as `12/40` when known
   */
  constructor(options: {now?: () => number; total?: number} = {}) {
    super()
    this.now = options.now ?? Date.now
    this.#snapshot = {
      startedAt: this.now(),
      total: options.total,
      counts: {passed: 0, failed: 0, warned: 0, skipped: 0},
      running: [],
      finished: [],
    }
  }

  get snapshot(): RunSnapshot {
    return this.#snapshot
  }

  get done(): boolean {
    return this.#snapshot.endedAt !== undefined
  }

  /** Milliseconds since the run started, frozen once it is done. */
  elapsedMs(): number {
    return (this.#snapshot.endedAt ?? this.now()) - this.#snapshot.startedAt
  }

  /** Feeds one runner event in; the runner can also call the typed methods below directly. */
  apply<K extends keyof RunEvents>(event: K, payload: RunEvents[K]): void {
    if (event === 'check:start') this.checkStarted(payload as RunEvents['check:start'])
    else if (event === 'check:end') this.checkEnded(payload as RunEvents['check:end'])
    else this.finish(payload as RunEvents['done'])
  }

  checkStarted(e: RunEvents['check:start']): void {
    const s = this.#snapshot
    const k = key(e.id, e.version)
    const running = [...s.running.filter((r) => key(r.id, r.version) !== k), {...e, startedAt: this.now()}]
    this.#update({running})
  }

  checkEnded(r: CheckResult): void {
    const s = this.#snapshot
    const k = key(r.id, r.version)
    const counter = COUNTER[r.status]
    this.#update({
      running: s.running.filter((x) => key(x.id, x.version) !== k),
      finished: [...s.finished, r],
      counts: {...s.counts, [counter]: s.counts[counter] + 1},
    })
  }

  /** The run is over: nothing is running any more and the report's summary is authoritative. */
  finish(report: ConformanceReport): void {
    this.#update({running: [], counts: {...report.summary}, report, endedAt: this.now()})
  }

  /**
   * Subscribes to a runner's events; returns the function that unsubscribes.
   * @example
   * const detach = state.attach(runner)
   * try { await runner.run() } finally { detach() }
   */
  attach(source: RunEventSource): () => void {
    const onStart = (e: RunEvents['check:start']) => this.checkStarted(e)
    const onEnd = (r: RunEvents['check:end']) => this.checkEnded(r)
    const onDone = (r: RunEvents['done']) => this.finish(r)
    // Both members of the union are EventEmitters; the untyped view keeps one code path.
    const emitter = source as EventEmitter
    emitter.on('check:start', onStart)
    emitter.on('check:end', onEnd)
    emitter.on('done', onDone)
    return () => {
      emitter.off('check:start', onStart)
      emitter.off('check:end', onEnd)
      emitter.off('done', onDone)
    }
  }

  #update(patch: Partial<RunSnapshot>): void {
    this.#snapshot = {...this.#snapshot, ...patch}
    this.emit('change', this.#snapshot)
  }
}
