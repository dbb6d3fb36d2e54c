import type * as ChildProcessModule from 'node:child_process'
import {accessSync, constants} from 'node:fs'
import {createRequire} from 'node:module'

import {killGroup, releaseAfterExit} from './kill-group.js'

// node:child_process pulls in net, stream and more: ~5 ms of a plugin's start-up, and the reference
// plugin's Node half under its shell front never spawns. So it is loaded on first use (a builtin
// needs no resolving, so any base path does for createRequire).
let childProcess: typeof ChildProcessModule | undefined
function spawn(...args: Parameters<typeof ChildProcessModule.spawn>): ReturnType<typeof ChildProcessModule.spawn> {
  childProcess ??= createRequire('/')('node:child_process') as typeof ChildProcessModule
  return childProcess.spawn(...args)
}

/**
 * A tiny subprocess runner for the reference CNI plugins' hot path. exec.ts loads node:child_process
 * and the cleanup registry as soon as it is imported; a plugin is started once per pod and every
 * millisecond of start-up counts, so this one loads node:child_process on first use. Same contract as
 * exec.ts `run`: never throws for a non-zero exit, output is bounded, a timeout kills the child's
 * whole process group.
 */
export interface LiteResult {
  exitCode: number | null
  signal: string | null
  stdout: string
  stderr: string
  timedOut: boolean
  /** Could not be started (ENOENT, EACCES…). */
  spawnError?: string
}

export interface LiteOptions {
  input?: string
  /** The child's whole environment (default: ours). */
  env?: NodeJS.ProcessEnv
  timeoutMs?: number
  /** Per stream; the child is killed past it. Default 4 MiB. */
  maxOutputBytes?: number
  /** 'inherit' passes the child's stderr straight to ours (a delegated plugin's logs, SPEC §4). */
  stderr?: 'pipe' | 'inherit'
}

const FALLBACK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
const resolved = new Map<string, string>()

/**
 * Finds a system tool on PATH, then in the usual sbin/bin dirs: a runtime may start the plugin with an
 * environment that has no PATH at all (SPEC §2 only promises the CNI_* variables).
 */
export function which(name: string, path = process.env.PATH ?? ''): string {
  if (name.includes('/')) return name
  const hit = resolved.get(name)
  if (hit) return hit
  for (const dir of `${path}:${FALLBACK_PATH}`.split(':')) {
    if (!dir) continue
    const candidate = `${dir}/${name}`
    try {
      accessSync(candidate, constants.X_OK)
      resolved.set(name, candidate)
      return candidate
    } catch {
      // keep looking
    }
  }
  return name
}

export async function liteRun(file: string, args: readonly string[], opts: LiteOptions = {}): Promise<LiteResult> {
  const p = litePiped(file, args, {...opts, inputs: [0], outputs: opts.stderr === 'inherit' ? [1] : [1, 2]})
  p.end(0, opts.input ?? '')
  const r = await p.done
  return {
    exitCode: r.exitCode,
    signal: r.signal,
    stdout: r.outputs[1] ?? '',
    stderr: r.outputs[2] ?? '',
    timedOut: r.timedOut,
    spawnError: r.spawnError,
  }
}

export interface PipedOptions {
  env?: NodeJS.ProcessEnv
  /** Counted from the moment the first input is closed: a pre-started child may wait a while for it. */
  timeoutMs?: number
  /** Per output; the child is killed past it. Default 4 MiB. */
  maxOutputBytes?: number
  /** The child's fds we write to (0 and/or 3+). */
  inputs: readonly number[]
  /** The child's fds we read (1, 2 and/or 3+). fds in neither list: stdout goes to /dev/null, stderr is ours. */
  outputs: readonly number[]
}

export interface PipedResult {
  exitCode: number | null
  signal: string | null
  /** What the child wrote to each of `outputs`, by fd. */
  outputs: Record<number, string>
  timedOut: boolean
  spawnError?: string
}

/** A child with several pipes, written in steps (see litePiped). */
export interface Piped {
  /** Writes to one of the child's input fds; it stays open. */
  write(fd: number, text: string): void
  /** Writes the rest (if any) and closes the input. Every input must be ended once. */
  end(fd: number, text?: string): void
  /** Resolves true when the child first writes to output `fd`, false if that output closes first. */
  signalled(fd: number): Promise<boolean>
  done: Promise<PipedResult>
}

/**
 * Starts a child with input pipes that the caller can feed line by line while it works out the rest,
 * and any number of output pipes (a shell can send two programs' stderr to two fds). Extra fds are
 * socketpairs (libuv's stdio pipes), so the child should dup them (`<&3`), not open /dev/fd/3.
 * Never throws; a child that exits early just makes our later writes go nowhere.
 */
export function litePiped(file: string, args: readonly string[], opts: PipedOptions): Piped {
  const max = opts.maxOutputBytes ?? 4 * 1024 * 1024
  const top = Math.max(2, ...opts.inputs, ...opts.outputs)
  const stdio = Array.from({length: top + 1}, (_, fd) =>
    opts.inputs.includes(fd) || opts.outputs.includes(fd) ? 'pipe' : fd === 2 ? 'inherit' : 'ignore',
  ) as Array<'pipe' | 'inherit' | 'ignore'>
  let child: ReturnType<typeof spawn> | undefined
  let spawnError: string | undefined
  try {
    child = spawn(which(file), args, {env: opts.env ?? process.env, stdio, detached: true})
  } catch (error) {
    spawnError = String(error)
  }
  const open = new Set(opts.inputs)
  let timedOut = false
  let timer: NodeJS.Timeout | undefined
  const chunks: Record<number, Buffer[]> = {}
  const firstData = new Map<number, (v: boolean) => void>()
  const signals = new Map<number, Promise<boolean>>()
  let closed = false
  const signalled = (fd: number): Promise<boolean> => {
    if (closed || !child) return Promise.resolve(Boolean(chunks[fd]?.length))
    let p = signals.get(fd)
    if (!p) signals.set(fd, (p = new Promise<boolean>((r) => firstData.set(fd, r))))
    return p
  }
  const done = new Promise<PipedResult>((resolve) => {
    if (!child) {
      resolve({exitCode: null, signal: null, outputs: {}, timedOut: false, spawnError})
      return
    }
    const c = child
    for (const fd of opts.outputs) {
      const bufs: Buffer[] = (chunks[fd] = [])
      let len = 0
      // A signal that will never come: the writer closed its end (it may have exited).
      c.stdio[fd]!.on('end', () => firstData.get(fd)?.(false))
      c.stdio[fd]!.on('data', (b: Buffer) => {
        firstData.get(fd)?.(true)
        len += b.length
        if (len > max) killGroup(c.pid)
        else bufs.push(b)
      })
    }
    // A child that exits without reading its input makes our writes fail with EPIPE: its business.
    for (const fd of opts.inputs) c.stdio[fd]!.on('error', () => {})
    c.on('error', (e) => {
      spawnError = e.message
    })
    // A delegate that exits while a process it left holds an output would keep us waiting past any timeout.
    const cancelRelease = releaseAfterExit(c)
    c.on('close', (code, signal) => {
      if (timer) clearTimeout(timer)
      cancelRelease()
      const outputs: Record<number, string> = {}
      for (const fd of opts.outputs) outputs[fd] = Buffer.concat(chunks[fd] ?? []).toString('utf8')
      closed = true
      for (const r of firstData.values()) r(false)
      resolve({exitCode: code, signal, outputs, timedOut, spawnError})
    })
  })
  const stream = (fd: number): NodeJS.WritableStream | undefined =>
    open.has(fd) ? (child?.stdio[fd] as NodeJS.WritableStream | undefined) : undefined
  return {
    write(fd, text) {
      if (text) stream(fd)?.write(text)
    },
    end(fd, text = '') {
      const s = stream(fd)
      if (!open.delete(fd)) return
      s?.end(text)
      if (!timer && opts.timeoutMs !== undefined && child) {
        const c = child
        timer = setTimeout(() => {
          timedOut = true
          killGroup(c.pid)
        }, opts.timeoutMs)
      }
    },
    signalled,
    done,
  }
}
