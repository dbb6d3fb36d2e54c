/**
 * One bird2 process for one node: its own directory (bird.conf, control socket, pid file, log), run
 * inside the node's network namespace (`nsenter --net`, enter.ts), so it peers from the node's
 * underlay address and installs routes in the node's kernel. The default /run/bird/bird.ctl would be
 * shared by every node of a lab, hence the per-node socket.
 *
 * Supervision is level-triggered like the rest of the daemon: every `ensure` (each reconcile) checks
 * that the process named by the pid file is a bird in this namespace, and starts one when not. A bird
 * outlives a daemon stop (the node's routes and sessions stay, as its kernel routes do); the next
 * daemon adopts it through the pid file.
 */
import {existsSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {inNetnsArgv} from '../netns/enter.js'
import {netnsPath} from '../netns/netns.js'
import {run, spawnDetached} from '../process/exec.js'
import {type BirdProtocol, parseProtocols} from './bird.js'

export interface SpeakerPaths {
  dir: string
  config: string
  socket: string
  pidFile: string
  log: string
}

export function speakerPaths(dir: string): SpeakerPaths {
  return {
    dir,
    config: join(dir, 'bird.conf'),
    socket: join(dir, 'bird.ctl'),
    pidFile: join(dir, 'bird.pid'),
    log: join(dir, 'bird.log'),
  }
}

export interface SpeakerStatus {
  running: boolean
  pid: number | null
  /** Times this speaker object started bird (the first start included). */
  starts: number
  lastStartAt: string | null
  socket: string
  config: string
  /** Why the last start or reconfigure failed. */
  lastError: string | null
}

function inode(path: string): number | undefined {
  try {
    return statSync(path).ino
  } catch {
    return undefined
  }
}

/** The pid in the pid file when that process is a live bird in the namespace at `nsPath`. */
export function livePid(pidFile: string, nsPath: string | undefined): number | undefined {
  let pid: number
  try {
    pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10)
  } catch {
    return undefined
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined
  try {
    if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'bird') return undefined
    // Field 3 of stat: a zombie is dead.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    if (/^\d+ \(.*\) Z/.test(stat)) return undefined
    const want = nsPath ? inode(nsPath) : inode('/proc/self/ns/net')
    const have = /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/net`))?.[1]
    if (want === undefined || String(want) !== have) return undefined
  } catch {
    return undefined
  }
  return pid
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class BirdSpeaker {
  readonly paths: SpeakerPaths
  private starts = 0
  private lastStartAt: string | null = null
  private lastError: string | null = null
  private nextStartAt = 0

  constructor(
    dir: string,
    /** The node's namespace name; undefined = the namespace this process runs in (a real node). */
    readonly netns: string | undefined,
    private readonly log: (msg: string) => void = () => {},
  ) {
    this.paths = speakerPaths(dir)
  }

  private get nsPath(): string | undefined {
    return this.netns ? netnsPath(this.netns) : undefined
  }

  pid(): number | undefined {
    return livePid(this.paths.pidFile, this.nsPath)
  }

  private argv(args: string[]): string[] {
    return this.netns ? inNetnsArgv({name: this.netns}, args) : args
  }

  private async birdc(args: string[], timeoutMs = 10_000): Promise<{ok: boolean; out: string}> {
    // The control socket is a file: birdc needs no namespace to reach it.
    const r = await run('birdc', ['-s', this.paths.socket, ...args], {timeoutMs})
    const out = `${r.stdout}${r.stderr}`.trim()
    return {ok: r.exitCode === 0 && !/^\d{4}[- ]|error|unable to connect/i.test(out.split('\n').at(-1) ?? ''), out}
  }

  /**
   * Makes bird run with `config`: writes it when it changed (checked first with `bird -p`, so a bad
   * file never replaces a good one), starts bird when none runs, else `birdc configure` after a
   * change. Returns what it did, for the daemon's log. Throws when the config does not parse.
   */
  async ensure(config: string): Promise<string[]> {
    const changes: string[] = []
    mkdirSync(this.paths.dir, {recursive: true, mode: 0o700})
    let current: string | undefined
    try {
      current = readFileSync(this.paths.config, 'utf8')
    } catch {
      // first run
    }
    const changed = current !== config
    if (changed) {
      const tmp = `${this.paths.config}.${process.pid}.new`
      writeFileSync(tmp, config, {mode: 0o600})
      const check = await run('bird', ['-p', '-c', tmp], {timeoutMs: 10_000})
      if (check.exitCode !== 0) {
        rmSync(tmp, {force: true})
        this.lastError = `bird -p: ${(check.stderr || check.stdout).trim() || `exit ${check.exitCode}`}`
        throw new Error(this.lastError)
      }
      renameSync(tmp, this.paths.config)
      changes.push('wrote bird.conf')
    }
    let pid = this.pid()
    if (pid === undefined) {
      if (Date.now() < this.nextStartAt) return changes
      pid = await this.start()
      changes.push(this.starts > 1 ? `bird was not running: restarted (pid ${pid})` : `started bird (pid ${pid})`)
    } else if (changed) {
      const r = await this.birdc(['configure'])
      if (!r.ok) {
        this.lastError = `birdc configure: ${r.out.split('\n').at(-1)}`
        throw new Error(this.lastError)
      }
      changes.push('birdc configure')
    }
    return changes
  }

  private async start(): Promise<number> {
    rmSync(this.paths.pidFile, {force: true})
    rmSync(this.paths.socket, {force: true})
    this.starts++
    this.lastStartAt = new Date().toISOString()
    // Backoff between failed starts: 1, 2, 4 … 30 s.
    this.nextStartAt = Date.now() + Math.min(30_000, 1000 * 2 ** Math.min(5, this.starts - 1))
    const [file, ...args] = this.argv([
      'bird',
      '-f',
      '-c',
      this.paths.config,
      '-s',
      this.paths.socket,
      '-P',
      this.paths.pidFile,
    ])
    spawnDetached(file!, args, {logFile: this.paths.log})
    // Ready once the pid file names a live bird and the control socket exists.
    for (let i = 0; i < 100; i++) {
      const pid = this.pid()
      if (pid !== undefined && existsSync(this.paths.socket)) {
        this.lastError = null
        this.nextStartAt = 0
        this.log(`bird running (pid ${pid}, socket ${this.paths.socket})`)
        return pid
      }
      await sleep(50)
    }
    this.lastError = `bird did not start: ${tail(this.paths.log)}`
    throw new Error(this.lastError)
  }

  /** `show protocols all`, parsed; an error string when bird does not answer. */
  async protocols(): Promise<BirdProtocol[] | {error: string}> {
    if (this.pid() === undefined) return {error: 'bird is not running'}
    const r = await this.birdc(['show', 'protocols', 'all'])
    if (!r.ok) return {error: r.out.split('\n').at(-1) || 'birdc failed'}
    return parseProtocols(r.out)
  }

  /** Stops bird (SIGTERM, then SIGKILL); the routes it installed stay (`persist`). */
  async stop(): Promise<boolean> {
    const pid = this.pid()
    if (pid === undefined) return false
    for (const [sig, waitMs] of [
      ['SIGTERM', 3000],
      ['SIGKILL', 2000],
    ] as const) {
      try {
        process.kill(pid, sig)
      } catch {
        return true
      }
      for (let t = 0; t < waitMs; t += 50) {
        if (this.pid() === undefined) return true
        await sleep(50)
      }
    }
    return this.pid() === undefined
  }

  status(): SpeakerStatus {
    const pid = this.pid()
    return {
      running: pid !== undefined,
      pid: pid ?? null,
      starts: this.starts,
      lastStartAt: this.lastStartAt,
      socket: this.paths.socket,
      config: this.paths.config,
      lastError: this.lastError,
    }
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ') || '(empty log)'
  } catch {
    return '(no log)'
  }
}
