import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import {createRequire} from 'node:module'
import type * as NetModule from 'node:net'

import {liteRun} from '../netns/lite-exec.js'
import {startTime} from './ipam/lock.js'
import {refPlugin} from './plugin-ref.js'
import {runPlugin, writeAllSync} from './skel.js'

/**
 * The plugin server: cnidbg-ref's "thick" mode, as Multus's thick plugin and Cilium's agent do it. A
 * Node process costs ~65 ms of CPU to start on a 2-core node, more than a Go plugin's whole ADD; when
 * a node starts many pods at once that start-up, not the kernel work, bounds how fast pods come up.
 * `cnidbg-ref --serve` starts Node once per node; the shell front of every ADD and DEL then hands its
 * request over and waits, forking nothing but `mkfifo`. Without a server (or when it cannot serve a
 * request) the front does the work itself, so serving is only ever faster, never required.
 *
 * The protocol, all in a root-only directory (default /run/cni/cnidbg-ref, private in a cnidbg sandbox):
 * - `pid` holds "<pid> <start time>" of the server, written last when it is ready and removed first
 *   when it stops: the front checks it against /proc, so a dead server is never waited for.
 * - `req` is a FIFO. A client copies its stdin (the config) to `c.<its pid>.in` with shell builtins,
 *   creates the FIFO `c.<its pid>`, and writes "<its pid>\n" to `req`.
 * - The server opens `c.<pid>` for writing (which wakes the client, blocked opening it to read) and
 *   takes the environment from /proc/<pid>/environ, exactly as the runtime exec'd the client. It runs
 *   the request as `node cnidbg-ref` would (same runPlugin, same one-process ADD) and writes
 *   "<exit code> <n>\n", then n lines for the client's stderr (a delegate's, P105), then the stdout.
 * - "-" instead means "not served; do it yourself": the client is in another network namespace, or
 *   asks for a test hook. It is said before the config is read, so the client takes it back as stdin.
 * - If the server dies mid-request the client reads end-of-file: with its config still there it does
 *   the request itself, else it fails with "try again" (11). A restarted server wakes clients left
 *   waiting on a dead one the same way.
 */

export const DEFAULT_SERVER_DIR = '/run/cni/cnidbg-ref'

// node:net only for the server: a plugin run (this file is part of its bundle) never loads it.
let netModule: typeof NetModule | undefined
const net = (): typeof NetModule => (netModule ??= createRequire('/')('node:net') as typeof NetModule)

export interface ServeOptions {
  dir?: string
  /** One line per request and lifecycle event (default: stderr). */
  log?: (line: string) => void
  /** Log only starting and stopping, not every request. */
  quiet?: boolean
}

export interface Server {
  dir: string
  /** Stops taking requests, finishes those in flight, removes its files. */
  stop(): Promise<void>
  /** Resolves when the server has stopped. */
  stopped: Promise<void>
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Env from /proc/<pid>/environ: NUL-separated NAME=value pairs, as the runtime exec'd the client. */
export function parseEnviron(raw: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const pair of raw.split('\0')) {
    const eq = pair.indexOf('=')
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return env
}

function tryUnlink(path: string): void {
  try {
    unlinkSync(path)
  } catch {
    // Gone already.
  }
}

/** The FIFO's read end is open (the client waits in open(2)), or it never will be. */
async function openReply(path: string, pid: number): Promise<number | undefined> {
  for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
    try {
      return openSync(path, constants.O_WRONLY | constants.O_NONBLOCK)
    } catch (error) {
      // ENXIO: the client has not reached its open yet.
      if ((error as NodeJS.ErrnoException).code !== 'ENXIO') return undefined
    }
    if (startTime(pid) === undefined) return undefined
    await sleep(delay)
  }
}

/** The reply is small (an exit code, a result): it fits the FIFO, so a sync write hardly ever waits. */
function writeReply(fd: number, text: string): void {
  try {
    writeAllSync(fd, text)
  } catch {
    // The client is gone: nobody is left to tell.
  }
}

function sameNs(pid: number, kind: 'net' | 'mnt'): boolean {
  try {
    return statSync(`/proc/${pid}/ns/${kind}`).ino === statSync(`/proc/self/ns/${kind}`).ino
  } catch {
    return false
  }
}

/** Handles one client: see the protocol above. Never throws. */
async function handle(dir: string, pid: number, log: (l: string) => void): Promise<void> {
  const base = `${dir}/c.${pid}`
  let env: NodeJS.ProcessEnv | undefined
  try {
    env = parseEnviron(readFileSync(`/proc/${pid}/environ`, 'utf8'))
  } catch {
    env = undefined
  }
  const reply = await openReply(base, pid)
  tryUnlink(base)
  if (reply === undefined) {
    // The client is gone: nobody will use its config.
    tryUnlink(`${base}.in`)
    return
  }
  const t0 = performance.now()
  try {
    if (!env || env.CNIDBG_TEST_HOLD || !sameNs(pid, 'net')) {
      writeReply(reply, '-\n')
      log(`client ${pid}: not served (${!env ? 'gone' : 'another network namespace, or a test hook'})`)
      return
    }
    let stdin: string | Error
    try {
      stdin = readFileSync(`${base}.in`, 'utf8')
    } catch (error) {
      stdin = error as Error
    }
    tryUnlink(`${base}.in`)
    let stderr = ''
    const onStderr = (text: string) => (stderr += text.endsWith('\n') ? text : `${text}\n`)
    // CNI_NETNS is a path in the runtime's mounts, which may have changed since we started (a netns
    // mounted after our mount namespace was made, without propagation): open it through the client's.
    const netnsRoot = sameNs(pid, 'mnt') ? undefined : `/proc/${pid}/root`
    const out = await runPlugin(refPlugin, env, stdin, {onStderr, netnsRoot})
    const lines = stderr ? stderr.split('\n').length - 1 : 0
    writeReply(reply, `${out.exitCode} ${lines}\n${stderr}${out.stdout}`)
    const ms = (performance.now() - t0).toFixed(1)
    log(`${env.CNI_COMMAND} ${env.CNI_CONTAINERID ?? '?'}/${env.CNI_IFNAME ?? '?'}: exit ${out.exitCode} in ${ms} ms`)
  } finally {
    closeSync(reply)
  }
}

function liveServer(dir: string): number | undefined {
  try {
    const [pid, start] = readFileSync(`${dir}/pid`, 'utf8').trim().split(' ')
    const n = Number(pid)
    return n > 0 && n !== process.pid && startTime(n) === start ? n : undefined
  } catch {
    return undefined
  }
}

/**
 * Wakes clients left waiting on a dead server: they read end-of-file and do the request themselves,
 * from their config copy (so that stays while its client lives).
 */
function reapClients(dir: string): void {
  for (const name of readdirSync(dir)) {
    const m = /^c\.(\d+)(\.in)?$/.exec(name)
    if (!m) continue
    if (m[2]) {
      if (startTime(Number(m[1])) === undefined) tryUnlink(`${dir}/${name}`)
      continue
    }
    try {
      closeSync(openSync(`${dir}/${name}`, constants.O_WRONLY | constants.O_NONBLOCK))
    } catch {
      // Nobody waits on it.
    }
    tryUnlink(`${dir}/${name}`)
  }
}

/** Starts serving in `dir` (see the protocol above); resolves once clients can use it. */
export async function startServer(opts: ServeOptions = {}): Promise<Server> {
  const dir = opts.dir ?? DEFAULT_SERVER_DIR
  const log = opts.log ?? ((l: string) => process.stderr.write(`cnidbg-ref server: ${l}\n`))
  mkdirSync(dir, {recursive: true, mode: 0o700})
  const other = liveServer(dir)
  if (other) throw new Error(`${dir} is already served by pid ${other}`)
  tryUnlink(`${dir}/pid`)
  tryUnlink(`${dir}/req`)
  reapClients(dir)
  const mk = await liteRun('mkfifo', ['-m', '600', `${dir}/req`], {timeoutMs: 10_000})
  if (mk.exitCode !== 0) throw new Error(`cannot make the request FIFO in ${dir}: ${mk.stderr || mk.spawnError}`)
  // Read-write, so the FIFO never reports end-of-file between clients; as a socket, so reads never block.
  const reqFd = openSync(`${dir}/req`, constants.O_RDWR | constants.O_NONBLOCK)
  if (!fstatSync(reqFd).isFIFO()) throw new Error(`${dir}/req is not a FIFO`)
  const req = new (net().Socket)({fd: reqFd, readable: true, writable: false})
  const inFlight = new Set<Promise<void>>()
  let pending = ''
  req.on('data', (b: Buffer) => {
    pending += b.toString('latin1')
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const l of lines) {
      const pid = Number(l.trim())
      if (!Number.isInteger(pid) || pid <= 0) continue
      const p = handle(dir, pid, opts.quiet ? () => {} : log).finally(() => inFlight.delete(p))
      inFlight.add(p)
    }
  })
  // Ready: the pid file is written last, atomically, and the front trusts nothing else.
  const pidTmp = `${dir}/.pid.${process.pid}`
  writeFileSync(pidTmp, `${process.pid} ${startTime(process.pid) ?? ''}\n`)
  renameSync(pidTmp, `${dir}/pid`)
  log(`serving in ${dir} (pid ${process.pid})`)
  let stopping: Promise<void> | undefined
  let resolveStopped!: () => void
  const stopped = new Promise<void>((r) => (resolveStopped = r))
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      // New clients stop trusting us at once; one that checked a moment ago still gets served.
      tryUnlink(`${dir}/pid`)
      await sleep(200)
      req.destroy()
      tryUnlink(`${dir}/req`)
      while (inFlight.size > 0) await Promise.all([...inFlight])
      reapClients(dir)
      try {
        rmdirSync(dir)
      } catch {
        // Not empty (someone else's files) or gone: leave it.
      }
      log('stopped')
      resolveStopped()
    })())
  return {dir, stop, stopped}
}

/** `cnidbg-ref --serve [DIR] [--quiet]`: serve until SIGTERM or SIGINT. */
export async function serveMain(args: readonly string[]): Promise<void> {
  const dir = args.find((a) => !a.startsWith('--'))
  let server: Server
  try {
    server = await startServer({dir, quiet: args.includes('--quiet')})
  } catch (error) {
    process.stderr.write(`cnidbg-ref --serve: ${(error as Error).message}\n`)
    process.exit(1)
  }
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void server.stop())
  await server.stopped
  process.exit(0)
}
