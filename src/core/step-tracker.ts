/**
 * The state of a multi-step task (lab up, demo) as plain TypeScript, so no service needs React. Services drive it;
 * src/ui/render-steps.ts shows it. It knows nothing about React or terminals.
 */
import {EventEmitter} from 'node:events'

export type StepStatus = 'pending' | 'running' | 'done' | 'failed'

export interface Step {
  id: string
  title: string
  status: StepStatus
  /** A short note: "3 nodes", "pulling image", or the error for a failed step. */
  detail?: string
  startedAt?: number
  endedAt?: number
}

export type StepInput = string | {id: string; title: string}

export class StepTracker extends EventEmitter<{change: [steps: readonly Step[], changed: Step]}> {
  readonly now: () => number
  #steps: readonly Step[]

  /**
   * @param steps titles (the title is the id) or {id, title}, in display order
   * @param options.now the clock, injectable for tests
   */
  constructor(steps: readonly StepInput[], options: {now?: () => number} = {}) {
    super()
    this.now = options.now ?? Date.now
    this.#steps = steps.map((s) =>
      typeof s === 'string' ? {id: s, title: s, status: 'pending'} : {...s, status: 'pending'},
    )
    const ids = this.#steps.map((s) => s.id)
    const dup = ids.find((id, i) => ids.indexOf(id) !== i)
    if (dup !== undefined) throw new Error(`StepTracker: duplicate step id "${dup}"`)
  }

  /** A new array after every change (React compares by identity). */
  get steps(): readonly Step[] {
    return this.#steps
  }

  start(id: string, detail?: string): void {
    this.#set(id, {status: 'running', detail, startedAt: this.now(), endedAt: undefined})
  }

  /** Changes the detail of a step without changing its status. */
  update(id: string, detail: string): void {
    this.#set(id, {detail})
  }

  done(id: string, detail?: string): void {
    this.#set(id, {status: 'done', detail, endedAt: this.now()})
  }

  fail(id: string, detail?: string): void {
    this.#set(id, {status: 'failed', detail, endedAt: this.now()})
  }

  /**
   * Runs `fn` as step `id`: running, then done (with the string fn returns, if any) or failed
   * (with the error message, rethrown).
   * @example
   * await steps.run('netns', async () => { await createNodes(); return '3 nodes' })
   */
  async run<T>(id: string, fn: () => Promise<T>): Promise<T> {
    this.start(id)
    try {
      const value = await fn()
      this.done(id, typeof value === 'string' ? value : undefined)
      return value
    } catch (error) {
      this.fail(id, error instanceof Error ? error.message : String(error))
      throw error
    }
  }

  #set(id: string, patch: Partial<Step>): void {
    const i = this.#steps.findIndex((s) => s.id === id)
    if (i < 0) throw new Error(`StepTracker: unknown step "${id}"`)
    const changed: Step = {...this.#steps[i], ...patch}
    if (changed.detail === undefined) delete changed.detail
    this.#steps = this.#steps.map((s, j) => (j === i ? changed : s))
    this.emit('change', this.#steps, changed)
  }
}
