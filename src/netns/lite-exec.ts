import {spawn} from 'node:child_process'
import {accessSync, constants} from 'node:fs'

/**
 * A tiny subprocess runner for the reference CNI plugins' hot path. exec.ts pulls in execa (and with
 * it tens of modules); a plugin is started once per pod and every millisecond of start-up counts, so
 * this one uses node:child_process directly. Same contract as exec.ts `run`: never throws for a
 * non-zero exit, output is bounded, a timeout kills the child's whole process group.
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

function killGroup(pid: number | undefined): void {
  if (!pid) return
  try {
    process.kill(-pid, 'SIGKILL')
  } catch {
    // Already gone.
  }
}

export function liteRun(file: string, args: readonly string[], opts: LiteOptions = {}): Promise<LiteResult> {
  return liteStart(file, args, opts).finish(opts.input ?? '')
}

/** A started child waiting for its stdin. */
export interface Started {
  /** Writes `input`, closes stdin and resolves when the child is done. Call exactly once. */
  finish(input: string): Promise<LiteResult>
}

/**
 * Starts a child now and gives it its stdin later: the fork/exec and dynamic loading of e.g.
 * `nsenter … ip -batch -` overlap with work the caller still has to do before it knows the commands.
 */
export function liteStart(file: string, args: readonly string[], opts: Omit<LiteOptions, 'input'> = {}): Started {
  let feed: (input: string) => void = () => {}
  const fed = new Promise<string>((r) => (feed = r))
  const done = spawnWith(file, args, opts, fed)
  return {
    finish(input: string) {
      feed(input)
      return done
    },
  }
}

function spawnWith(
  file: string,
  args: readonly string[],
  opts: Omit<LiteOptions, 'input'>,
  input: Promise<string>,
): Promise<LiteResult> {
  const max = opts.maxOutputBytes ?? 4 * 1024 * 1024
  return new Promise((resolve) => {
    let child
    try {
      child = spawn(which(file), args, {
        env: opts.env ?? process.env,
        stdio: ['pipe', 'pipe', opts.stderr ?? 'pipe'],
        detached: true,
      })
    } catch (error) {
      resolve({exitCode: null, signal: null, stdout: '', stderr: '', timedOut: false, spawnError: String(error)})
      return
    }
    const out: Buffer[] = []
    const err: Buffer[] = []
    let outLen = 0
    let errLen = 0
    let timedOut = false
    let spawnError: string | undefined
    // The clock starts once the child has its input: a pre-started child may wait a while for it.
    let timer: NodeJS.Timeout | undefined
    child.stdout!.on('data', (b: Buffer) => {
      outLen += b.length
      if (outLen > max) killGroup(child.pid)
      else out.push(b)
    })
    child.stderr?.on('data', (b: Buffer) => {
      errLen += b.length
      if (errLen > max) killGroup(child.pid)
      else err.push(b)
    })
    child.on('error', (e) => {
      spawnError = e.message
    })
    // A child that exits without reading stdin makes our write fail with EPIPE: that's its business.
    child.stdin!.on('error', () => {})
    void input.then((text) => {
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          timedOut = true
          killGroup(child.pid)
        }, opts.timeoutMs)
      }
      child.stdin!.end(text)
    })
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer)
      resolve({
        exitCode: code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        spawnError,
      })
    })
  })
}
