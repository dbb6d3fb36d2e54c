import {readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {killNamespaceProcesses, onCleanup, type RunResult, type Sandbox} from '../netns/index.js'

/**
 * The protocol directory of cnidbg-ref's plugin server, where its front looks (reference-plugin/serve.ts,
 * DEFAULT_SERVER_DIR). In a case's sandbox /run/cni is the sandbox's own, so each case's server and
 * clients meet in a directory no other case sees.
 */
const SERVER_DIR = '/run/cni/cnidbg-ref'

/** How long a server may take to say it serves: Node's start-up on a loaded 2-core machine, with room. */
const START_MS = 60_000
/** How long a server may take to stop on SIGTERM: it waits 200 ms, then for the requests in flight. */
const STOP_MS = 10_000

/** What a case's plugin server did, for its check result. */
export interface ServerReport {
  pid: number
  /** ADD and DEL requests it ran for the case's plugin calls (one log line each). */
  served: number
  /** Why the case was not tested served, when it was not: the server died or would not stop. */
  problem?: string
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function inode(path: string): number | undefined {
  try {
    return statSync(path).ino
  } catch {
    return undefined
  }
}

/** The last lines of a log, on one line. */
const tail = (text: string) => text.trim().split('\n').slice(-3).join(' | ')

/**
 * cnidbg-ref's served mode in one case's sandbox host (docs/reference-plugin.md, served mode): the
 * plugin under test started as `PLUGIN --serve`, as a node runs it beside its daemon, in the sandbox's
 * network namespace and in the mount namespace its plugin calls run in (Sandbox.run), so the front of
 * every ADD and DEL of the case hands its request to this server and to no other. It is stopped with
 * the case. On SIGINT its process group is killed with the run's (process/exec.ts), and then whatever
 * else still runs in the sandbox host: the programs a request in flight started lead groups of their
 * own (process/lite-exec.ts). A run killed outright leaves it in the sandbox's namespaces, where the
 * next run's reaper stops it (netns/markers.ts).
 */
export class CaseServer {
  private stopping = false

  private constructor(
    readonly pid: number,
    private readonly done: Promise<RunResult>,
    private readonly exited: () => boolean,
    private readonly unregister: () => void,
  ) {}

  /** Starts the server and resolves once it serves (its pid file, written last, names it), or throws. */
  static async start(sb: Sandbox, plugin: string): Promise<CaseServer> {
    // A sandbox refuses to start it once a signal started the cleanups: that is an exit, not a crash.
    const done = sb.run(plugin, ['--serve', SERVER_DIR]).catch((error: unknown): RunResult => ({
      command: plugin,
      args: ['--serve', SERVER_DIR],
      exitCode: null,
      signal: null,
      stdout: '',
      stderr: (error as Error).message,
      timedOut: false,
      outputLimitExceeded: false,
      spawnError: (error as Error).message,
      durationMs: 0,
    }))
    // Registered after the sandbox's own cleanup, so it runs before the sandbox goes (newest first).
    const unregister = onCleanup(`plugin server of sandbox ${sb.id}`, async () => {
      await killNamespaceProcesses([sb.host.name])
    })
    let exited = false
    void done.then(() => (exited = true))
    const pidFile = join(sb.hostPath('/run/cni'), 'cnidbg-ref', 'pid')
    const hostNet = inode(sb.host.path)
    // Ours: named by the pid file in this sandbox's private /run/cni, and inside this sandbox's netns.
    const serving = (): number | undefined => {
      try {
        const pid = Number(readFileSync(pidFile, 'utf8').split(' ')[0])
        return pid > 0 && inode(`/proc/${pid}/ns/net`) === hostNet ? pid : undefined
      } catch {
        return undefined
      }
    }
    const deadline = performance.now() + START_MS
    for (let delay = 5; !exited && !serving() && performance.now() < deadline; delay = Math.min(delay * 2, 50))
      await sleep(delay)
    const pid = exited ? undefined : serving()
    if (pid === undefined) {
      const r = exited ? await done : undefined
      const why = r
        ? `it exited (${r.exitCode ?? r.signal}): ${tail(r.stderr || r.stdout) || 'no output'}`
        : `no pid file in ${SERVER_DIR} after ${START_MS / 1000} s`
      // It runs on without serving: it goes with whatever else runs in the sandbox host, as the case fails.
      if (!exited) await killNamespaceProcesses([sb.host.name])
      await done
      unregister()
      throw new Error(`the plugin server did not start (${plugin} --serve): ${why}`)
    }
    return new CaseServer(pid, done, () => exited, unregister)
  }

  /** Stops the server (SIGTERM, then SIGKILL for its process group) and reports what it did. */
  async stop(): Promise<ServerReport> {
    const diedEarly = !this.stopping && this.exited()
    this.stopping = true
    let killed = false
    if (!diedEarly) {
      signal(this.pid, 'SIGTERM')
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), STOP_MS)))
      // The timer goes with the stop: a run's last case must not hold the process for it.
      const stopped = await Promise.race([this.done.then(() => true), late]).finally(() => clearTimeout(timer))
      if (!stopped) {
        killed = true
        signal(-this.pid, 'SIGKILL')
      }
    }
    const r = await this.done
    this.unregister()
    const log = r.stderr
    const served = log
      .split('\n')
      .filter((l) => /^cnidbg-ref server: (ADD|DEL) .*: exit -?\d+ in [\d.]+ ms/.test(l)).length
    const problem = diedEarly
      ? `the plugin server (pid ${this.pid}) exited during the case (${r.exitCode ?? r.signal}), so the plugin calls after that ran standalone: ${tail(log) || 'no output'}`
      : killed
        ? `the plugin server (pid ${this.pid}) did not stop within ${STOP_MS / 1000} s of SIGTERM`
        : r.exitCode === 0
          ? undefined
          : `the plugin server (pid ${this.pid}) stopped with ${r.exitCode ?? r.signal}: ${tail(log) || 'no output'}`
    return {pid: this.pid, served, ...(problem ? {problem} : {})}
  }
}

function signal(target: number, sig: NodeJS.Signals): void {
  try {
    process.kill(target, sig)
  } catch {
    // Gone already.
  }
}
