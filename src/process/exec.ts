import {spawn} from 'node:child_process'
import {closeSync, mkdirSync, openSync} from 'node:fs'
import {dirname} from 'node:path'

import {onCleanup} from './cleanup.js'
import {killGroup, releaseAfterExit} from './kill-group.js'

/** What a subprocess did. Never thrown: callers decide what a non-zero exit means. */
export interface RunResult {
  command: string
  args: string[]
  exitCode: number | null
  signal: string | null
  stdout: string
  stderr: string
  /** Killed because it ran past `timeoutMs`. */
  timedOut: boolean
  /** Killed because stdout or stderr went past `maxOutputBytes`. */
  outputLimitExceeded: boolean
  /**
   * It exited, but a process outside its group (one that called setsid) kept stdout or stderr open,
   * so the output was read only until then (releaseAfterExit, kill-group.ts).
   */
  outputHeldOpen?: boolean
  /** Could not be started at all (ENOENT, EACCES…). */
  spawnError?: string
  durationMs: number
}

export interface RunOptions {
  input?: string
  /** Variables to set. With `extendEnv: false` they are the whole environment. */
  env?: Record<string, string | undefined>
  extendEnv?: boolean
  /** Kill the whole process group after this long. Default: none. */
  timeoutMs?: number
  /** Cap per stream; the process group is killed when exceeded. Default 16 MiB. */
  maxOutputBytes?: number
  cwd?: string
  /**
   * A short step of a removal that the signal cleanups wait for (`ip netns del`): they leave it running
   * instead of killing it, so the removal under way can finish. For our own trusted programs only.
   */
  finishOnSignal?: boolean
}

export const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024

/** A stream's bytes, kept up to `max`; `over` once more arrived. */
function capture(stream: NodeJS.ReadableStream, max: number, onOver: () => void): () => string {
  const chunks: Buffer[] = []
  let bytes = 0
  stream.on('data', (chunk: Buffer) => {
    if (bytes < max) chunks.push(bytes + chunk.length > max ? chunk.subarray(0, max - bytes) : chunk)
    bytes += chunk.length
    if (bytes > max) onOver()
  })
  return () => Buffer.concat(chunks).toString('utf8')
}

/**
 * Runs a program and captures its output, bounded in time and memory. This and lite-exec.ts are the
 * only places cnidbg starts subprocesses, so every one is bounded and cleaned up. The child leads its
 * own process group, so a timeout kills what it started too (a plugin's delegated IPAM, a shell's
 * children). Built on node:child_process directly: every plugin call, `ip` and `nsenter` goes through
 * here, and a wrapper's bookkeeping cost more CPU per call than starting the program.
 */
export async function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = performance.now()
  const maxBuffer = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT
  if (process.env.CNIDBG_DEBUG) process.stderr.write(`[cnidbg] $ ${[file, ...args].join(' ')}\n`)
  const env = opts.extendEnv === false ? (opts.env ?? {}) : {...process.env, ...opts.env}
  const child = spawn(file, args, {cwd: opts.cwd, detached: true, env, stdio: ['pipe', 'pipe', 'pipe']})
  const pid = child.pid
  let timedOut = false
  let limitHit = false
  let spawnError: string | undefined
  const timer =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true
          killGroup(pid)
        }, opts.timeoutMs)
  const unregister = opts.finishOnSignal ? () => {} : onCleanup(`kill ${file}`, () => killGroup(pid))
  // A plugin that keeps flooding, or whose child holds the pipe, would hold us until the timeout:
  // past the cap, kill it at once.
  const overLimit = () => {
    if (limitHit) return
    limitHit = true
    killGroup(pid)
  }
  const stdout = capture(child.stdout, maxBuffer, overLimit)
  const stderr = capture(child.stderr, maxBuffer, overLimit)
  // The program may exit without reading its stdin: a write error on the pipe is not ours to report.
  child.stdin.on('error', () => {})
  child.stdin.end(opts.input ?? '')
  // A plugin that exits while a child of its still holds stdout would keep us waiting: the result
  // says so when that child had to be let go.
  let heldOpen = false
  const cancelRelease = releaseAfterExit(child, () => (heldOpen = true))
  try {
    const [exitCode, signal] = await new Promise<[number | null, string | null]>((resolve) => {
      child.on('close', (code, sig) => resolve([code, sig]))
      child.on('error', (error) => {
        spawnError = error.message
        // Not started at all (ENOENT, EACCES…): no exit or close is owed.
        if (pid === undefined) resolve([null, null])
      })
    })
    return {
      command: file,
      args: [...args],
      exitCode: pid === undefined ? null : exitCode,
      signal,
      stdout: stdout(),
      stderr: stderr(),
      timedOut,
      outputLimitExceeded: limitHit,
      ...(heldOpen ? {outputHeldOpen: true} : {}),
      spawnError: pid === undefined ? (spawnError ?? `cannot start ${file}`) : undefined,
      durationMs: performance.now() - started,
    }
  } finally {
    if (timer) clearTimeout(timer)
    cancelRelease()
    unregister()
  }
}

/** `run`, but a non-zero exit becomes an Error with the command and its stderr. For tools we trust (ip, mount). */
export async function runOk(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(file, args, opts)
  if (r.exitCode !== 0) throw new CommandFailed(`${[file, ...args].join(' ')}: ${failureText(r)}`, r)
  return r
}

/** What a failed run says of itself: its spawn error, else its stderr (or stdout), else how it ended. */
export function failureText(r: RunResult): string {
  return r.spawnError ?? (r.stderr.trim() || r.stdout.trim() || `exit ${r.exitCode ?? r.signal}`)
}

export class CommandFailed extends Error {
  constructor(
    message: string,
    readonly result: RunResult,
  ) {
    super(message)
  }
}

export interface DetachedOptions {
  /** stdout and stderr are appended here (the directory is created). stdin is /dev/null. */
  logFile: string
  /** Variables to set. With `extendEnv: false` they are the whole environment. */
  env?: Record<string, string | undefined>
  extendEnv?: boolean
  cwd?: string
  /**
   * Called when it exits, for a caller that supervises it (the lab's node processes): it still
   * leads its own group and outlives us, but while we live we hear of its end.
   */
  onExit?: (code: number | null, signal: string | null) => void
}

/**
 * Starts a long-lived background process (the lab's API server and node supervisor) and returns its
 * pid at once. It leads its own session and process group, so it outlives us and our Ctrl-C, and the
 * group can be signalled as a whole. Whoever starts one records the pid and stops it later: nothing
 * here registers a cleanup.
 */
export function spawnDetached(file: string, args: readonly string[], opts: DetachedOptions): number {
  if (process.env.CNIDBG_DEBUG) process.stderr.write(`[cnidbg] $ ${[file, ...args].join(' ')} &> ${opts.logFile}\n`)
  mkdirSync(dirname(opts.logFile), {recursive: true})
  const fd = openSync(opts.logFile, 'a', 0o600)
  try {
    const env = opts.extendEnv === false ? opts.env : {...process.env, ...opts.env}
    const child = spawn(file, args, {cwd: opts.cwd, detached: true, env, stdio: ['ignore', fd, fd]})
    // A spawn failure (ENOENT…) is reported asynchronously; without a listener it would crash us.
    child.on('error', () => {})
    if (child.pid === undefined) throw new Error(`cannot start ${file}`)
    if (opts.onExit) child.on('exit', opts.onExit)
    child.unref()
    return child.pid
  } finally {
    closeSync(fd)
  }
}

/**
 * Runs a program that prints a line once it is ready and then waits for its stdin to close (sandbox.ts
 * makes a mount namespace this way and keeps it by a file descriptor). `onReady(pid)` is called when
 * that line arrives, while the program is still running, so its pid names it and no recycled process;
 * then stdin is closed and its exit awaited. Resolves with what `onReady` returned. Rejects, with the
 * program's stderr, when it exits or fails to start before it is ready, is not ready within
 * `timeoutMs` (its process group is killed) or `onReady` throws.
 */
export async function runUntilReady<T>(
  file: string,
  args: readonly string[],
  onReady: (pid: number) => T,
  opts: {timeoutMs?: number} = {},
): Promise<T> {
  if (process.env.CNIDBG_DEBUG) process.stderr.write(`[cnidbg] $ ${[file, ...args].join(' ')}\n`)
  const child = spawn(file, args, {detached: true, stdio: ['pipe', 'pipe', 'pipe']})
  const pid = child.pid
  const unregister = onCleanup(`kill ${file}`, () => killGroup(pid))
  const exited = new Promise<void>((resolve) => {
    child.on('close', () => resolve())
    child.on('error', () => resolve())
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 8192) stderr += chunk.toString('utf8')
  })
  // The program may exit without reading its stdin: a write error on the pipe is not ours to report.
  child.stdin.on('error', () => {})
  let timer: NodeJS.Timeout | undefined
  try {
    const value = await new Promise<T>((resolve, reject) => {
      const fail = (why: string) => reject(new Error(`${[file, ...args].join(' ')}: ${stderr.trim() || why}`))
      let out = ''
      child.stdout.on('data', (chunk: Buffer) => {
        if (out.includes('\n')) return
        out += chunk.toString('utf8')
        if (!out.includes('\n')) return
        // Node reaps a child only between callbacks: unreaped here, the pid is still the program's.
        if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return fail('exited')
        try {
          resolve(onReady(pid))
        } catch (error) {
          reject(error as Error)
        }
      })
      child.on('error', (error) => fail(error.message))
      void exited.then(() => fail(`exited (${child.exitCode ?? child.signalCode}) before it was ready`))
      if (opts.timeoutMs !== undefined)
        timer = setTimeout(() => {
          killGroup(pid)
          fail(`not ready after ${opts.timeoutMs}ms`)
        }, opts.timeoutMs)
    })
    return value
  } catch (error) {
    killGroup(pid)
    throw error
  } finally {
    if (timer) clearTimeout(timer)
    child.stdin.end()
    await exited
    unregister()
  }
}
