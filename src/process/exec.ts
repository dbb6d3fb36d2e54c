import {execa} from 'execa'
import {spawn} from 'node:child_process'
import {closeSync, mkdirSync, openSync} from 'node:fs'
import {dirname} from 'node:path'

import {onCleanup} from './cleanup.js'

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
}

export const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024

function killGroup(pid: number | undefined): void {
  if (!pid) return
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // Already gone.
  }
}

/**
 * Runs a program and captures its output, bounded in time and memory. This and lite-exec.ts are the
 * only places cnidbg starts subprocesses, so every one is bounded and cleaned up. The child leads its
 * own process group, so a timeout kills what it started too (a plugin's delegated IPAM, a shell's
 * children).
 */
export async function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = performance.now()
  const maxBuffer = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT
  if (process.env.CNIDBG_DEBUG) process.stderr.write(`[cnidbg] $ ${[file, ...args].join(' ')}\n`)
  const child = execa(file, args, {
    input: opts.input ?? '',
    env: opts.env,
    extendEnv: opts.extendEnv ?? true,
    cwd: opts.cwd,
    detached: true,
    reject: false,
    stripFinalNewline: false,
    maxBuffer,
    encoding: 'utf8',
    cleanup: false,
  })
  const pid = child.pid
  let timedOut = false
  const timer =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true
          killGroup(pid)
        }, opts.timeoutMs)
  const unregister = onCleanup(`kill ${file}`, () => killGroup(pid))
  // execa stops buffering at maxBuffer but then waits for the child to exit: a plugin that keeps
  // flooding, or whose child holds the pipe, would hold us until the timeout. Kill it at once.
  let limitHit = false
  const watch = (stream: NodeJS.ReadableStream | null | undefined) => {
    let bytes = 0
    stream?.on('data', (chunk: Buffer | string) => {
      bytes += chunk.length
      if (bytes > maxBuffer && !limitHit) {
        limitHit = true
        killGroup(pid)
      }
    })
  }
  watch(child.stdout)
  watch(child.stderr)
  // A plugin that exits while a forked child still holds its stdout would otherwise keep us waiting.
  let straggler: NodeJS.Timeout | undefined
  child.on('exit', () => {
    straggler = setTimeout(() => killGroup(pid), 1000)
  })
  try {
    const r = await child
    const isMaxBuffer = Boolean((r as {isMaxBuffer?: boolean}).isMaxBuffer) || limitHit
    if (isMaxBuffer) killGroup(pid)
    const spawnFailed = r.exitCode === undefined && !r.signal && !timedOut && !isMaxBuffer
    return {
      command: file,
      args: [...args],
      exitCode: r.exitCode ?? null,
      signal: r.signal ?? null,
      stdout: typeof r.stdout === 'string' ? r.stdout : '',
      stderr: typeof r.stderr === 'string' ? r.stderr : '',
      timedOut,
      outputLimitExceeded: isMaxBuffer,
      spawnError: spawnFailed ? (r as {shortMessage?: string}).shortMessage : undefined,
      durationMs: performance.now() - started,
    }
  } finally {
    if (timer) clearTimeout(timer)
    if (straggler) clearTimeout(straggler)
    unregister()
  }
}

/** `run`, but a non-zero exit becomes an Error with the command and its stderr. For tools we trust (ip, mount). */
export async function runOk(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(file, args, opts)
  if (r.exitCode !== 0) {
    const why = r.spawnError ?? (r.stderr.trim() || r.stdout.trim() || `exit ${r.exitCode ?? r.signal}`)
    throw new CommandFailed(`${[file, ...args].join(' ')}: ${why}`, r)
  }
  return r
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
    child.unref()
    return child.pid
  } finally {
    closeSync(fd)
  }
}
