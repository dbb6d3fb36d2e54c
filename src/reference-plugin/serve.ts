import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import {createRequire} from 'node:module'
import type * as NetModule from 'node:net'

import {liteRun} from '../process/lite-exec.js'
import {startTime} from './ipam/lock.js'
import {refPlugin} from './plugin-ref.js'
import {openOwnDir, readBounded, writeNew} from '../process/safe-fs.js'
import {runPlugin} from './skel.js'
import {holdPoint} from './test-hold.js'

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
 *   when it stops: the front checks it against /proc, so a server found dead (or a zombie) is never
 *   waited for.
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
 *   waiting on a dead one the same way. One window stays: a server that dies after a client checked
 *   it and before it took the request leaves that client waiting until a server starts again on
 *   that directory or the runtime's own timeout ends the call: a sh front has no timed open without
 *   forking a watcher on every request.
 *
 * Everything in the directory is input, as is every request line: the server never dies on it and
 * never blocks on it. A request line is at most MAX_LINE bytes and a decimal pid, else it is dropped
 * (and logged), and clients already waiting whose lines it may have swallowed are served anyway (see
 * rescue). Files are opened with O_NOFOLLOW and O_NONBLOCK and must be what the protocol says (the
 * reply a FIFO, the config a regular file, both owned by us); the environ and the config are read with
 * a bound; a reply waits for a slow reader only so long, and never past SIGTERM. Log fields are escaped.
 */

export const DEFAULT_SERVER_DIR = '/run/cni/cnidbg-ref'

/** A request line: a pid and a newline. Anything longer is not one. */
const MAX_LINE = 32
/** /proc/<pid>/environ: a runtime passes a few CNI_* variables and its own environment. */
const MAX_ENVIRON = 1 << 20
/** The client's config copy; a bigger one is left to the client ("-"). */
const MAX_CONFIG = 16 << 20
/** A delegate's stderr passed back to the client (P105). */
const MAX_STDERR = 1 << 20
/** How long a reply waits for its client to open the FIFO, or to read what does not fit it. */
const CLIENT_WAIT_MS = 30_000
/** After a dropped line: when to look again for waiting clients it may have swallowed. */
const RESCUE_AFTER_MS = [0, 200, 2000, 10_000]

// node:net only for the server: a plugin run (this file is part of its bundle) never loads it.
let netModule: typeof NetModule | undefined
const net = (): typeof NetModule => (netModule ??= createRequire('/')('node:net') as typeof NetModule)

export interface ServeOptions {
  dir?: string
  /** One line per request and lifecycle event (default: stderr). */
  log?: (line: string) => void
  /** Log only starting and stopping and what went wrong, not every request served. */
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

/**
 * A value for one log line: control characters (a newline would start a forged line), backslashes
 * and non-ASCII are escaped, and it is cut at 200 characters.
 */
export function logField(value: unknown): string {
  const full = String(value)
  const text = full.length > 200 ? `${full.slice(0, 200)}...` : full
  let out = ''
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === 0x5c) out += '\\\\'
    else if (code >= 0x20 && code < 0x7f) out += text[i]
    else if (code < 0x100) out += `\\x${code.toString(16).padStart(2, '0')}`
    else out += `\\u${code.toString(16).padStart(4, '0')}`
  }
  return out
}

function tryUnlink(path: string): void {
  try {
    unlinkSync(path)
  } catch {
    // Gone already.
  }
}

const errCode = (error: unknown): string | undefined => (error as NodeJS.ErrnoException).code

/** The client process as it was when it asked: the same pid and start time, or it is gone. */
const same = (pid: number, start: string) => startTime(pid) === start

interface ServerState {
  dir: string
  stopping: boolean
  info: (l: string) => void
  warn: (l: string) => void
}

/**
 * The reply FIFO `c.<pid>`, opened for writing once the client waits on it (it is blocked opening it
 * to read). Never through a symlink, never anything but a FIFO of ours, and not past CLIENT_WAIT_MS,
 * the client's exit or the server's stop: a planted FIFO nobody reads cannot hold the server.
 */
async function openReply(st: ServerState, pid: number, start: string): Promise<number | string> {
  const path = `${st.dir}/c.${pid}`
  const deadline = performance.now() + CLIENT_WAIT_MS
  for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
    let fd: number
    try {
      fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW)
    } catch (error) {
      // ENXIO: the client has not reached its open yet.
      if (errCode(error) !== 'ENXIO')
        return errCode(error) === 'ENOENT' ? 'no reply FIFO' : `reply FIFO: ${errCode(error)}`
      if (!same(pid, start)) return 'gone'
      if (st.stopping) return 'the server stops'
      if (performance.now() > deadline) return 'did not open its reply FIFO'
      await sleep(delay)
      continue
    }
    const s = fstatSync(fd)
    if (s.isFIFO() && s.uid === process.geteuid?.()) return fd
    closeSync(fd)
    return 'the reply FIFO is not a FIFO of ours'
  }
}

/**
 * Writes the reply. Most fit the FIFO at once; a bigger one waits for the client to read, but not for
 * a client that left, stalls past CLIENT_WAIT_MS, or a server that stops. True when all of it went.
 */
async function writeReply(st: ServerState, fd: number, text: string, pid: number, start: string): Promise<boolean> {
  const buf = Buffer.from(text)
  let deadline = performance.now() + CLIENT_WAIT_MS
  for (let off = 0, delay = 1; off < buf.length;) {
    try {
      off += writeSync(fd, buf, off)
      deadline = performance.now() + CLIENT_WAIT_MS
      delay = 1
    } catch (error) {
      if (errCode(error) !== 'EAGAIN') return false
      if (!same(pid, start) || st.stopping || performance.now() > deadline) return false
      await sleep(delay)
      delay = Math.min(delay * 2, 20)
    }
  }
  return true
}

function sameNs(pid: number, kind: 'net' | 'mnt'): boolean {
  const ns = nsOf(pid, kind)
  return ns !== undefined && ns === nsOf('self', kind)
}

/** The inode of a process's namespace; undefined once it is exiting (its namespaces are let go first). */
function nsOf(pid: number | 'self', kind: 'net' | 'mnt'): number | undefined {
  try {
    return statSync(`/proc/${pid}/ns/${kind}`).ino
  } catch {
    return undefined
  }
}

/** The client's config copy `c.<pid>.in`: a bounded regular file of ours, never a FIFO or a symlink. */
function readConfig(path: string): string | Error {
  try {
    return readBounded(path, MAX_CONFIG, process.geteuid?.())
  } catch (error) {
    return error as Error
  }
}

/** Handles one client: see the protocol above. `ready` is its reply FIFO when rescue opened it. */
async function handle(st: ServerState, pid: number, ready?: number): Promise<void> {
  const base = `${st.dir}/c.${pid}`
  const start = startTime(pid)
  if (start === undefined) {
    // No such process: nobody will use the files it may have left.
    st.warn(`client ${pid}: no such process: dropped`)
    if (ready !== undefined) closeSync(ready)
    tryUnlink(base)
    tryUnlink(`${base}.in`)
    return
  }
  let env: NodeJS.ProcessEnv | undefined
  try {
    env = parseEnviron(readBounded(`/proc/${pid}/environ`, MAX_ENVIRON))
  } catch {
    env = undefined
  }
  const reply = ready ?? (await openReply(st, pid, start))
  tryUnlink(base)
  if (typeof reply === 'string') {
    st.warn(`client ${pid}: ${reply}: dropped`)
    // Its config stays while the client lives: it does the request itself when it finds no FIFO.
    if (!same(pid, start)) tryUnlink(`${base}.in`)
    return
  }
  const t0 = performance.now()
  try {
    const verb = env?.CNI_COMMAND
    const notServed = !env
      ? 'gone'
      : verb !== 'ADD' && verb !== 'DEL'
        ? `${logField(verb)} is not served`
        : env.CNIDBG_TEST_HOLD || !sameNs(pid, 'net')
          ? nsOf(pid, 'net') !== undefined && same(pid, start)
            ? 'another network namespace, or a test hook'
            : 'gone'
          : undefined
    const stdin = notServed ? undefined : readConfig(`${base}.in`)
    if (notServed || (stdin instanceof Error && errCode(stdin) === 'EFBIG')) {
      // Said before the config is used: the client takes it back as its stdin and does the work.
      await writeReply(st, reply, '-\n', pid, start)
      st.info(`client ${pid}: not served (${notServed ?? 'a config bigger than the server takes'})`)
      return
    }
    tryUnlink(`${base}.in`)
    let stderr = ''
    const onStderr = (text: string) => {
      if (stderr.length < MAX_STDERR) stderr += text.endsWith('\n') ? text : `${text}\n`
    }
    // CNI_NETNS is a path in the runtime's mounts, which may have changed since we started (a netns
    // mounted after our mount namespace was made, without propagation): open it through the client's.
    const netnsRoot = sameNs(pid, 'mnt') ? undefined : `/proc/${pid}/root`
    const out = await runPlugin(refPlugin, env!, stdin!, {onStderr, netnsRoot})
    const lines = stderr ? stderr.split('\n').length - 1 : 0
    const sent = await writeReply(st, reply, `${out.exitCode} ${lines}\n${stderr}${out.stdout}`, pid, start)
    const ms = (performance.now() - t0).toFixed(1)
    const what = `${logField(verb)} ${logField(env!.CNI_CONTAINERID ?? '?')}/${logField(env!.CNI_IFNAME ?? '?')}`
    st.info(`${what}: exit ${out.exitCode} in ${ms} ms${sent ? '' : ' (the client left before the reply)'}`)
  } finally {
    closeSync(reply)
  }
}

function liveServer(dir: string): number | undefined {
  try {
    const [pid, start] = readBounded(`${dir}/pid`, 64).trim().split(' ')
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
      closeSync(openSync(`${dir}/${name}`, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW))
    } catch {
      // Nobody waits on it.
    }
    tryUnlink(`${dir}/${name}`)
  }
}

/** The server's directory, made root-only, or refused when it is not ours (a symlink, someone else's). */
function ownDir(dir: string): void {
  mkdirSync(dir, {recursive: true, mode: 0o700})
  let fd: number
  try {
    fd = openOwnDir(dir)
  } catch (error) {
    throw new Error(
      `refusing ${dir}: ${(error as Error).message}; it must be a directory of ours that no one else can write`,
    )
  }
  try {
    fchmodSync(fd, 0o700)
  } finally {
    closeSync(fd)
  }
}

/** Starts serving in `dir` (see the protocol above); resolves once clients can use it. */
export async function startServer(opts: ServeOptions = {}): Promise<Server> {
  const dir = opts.dir ?? DEFAULT_SERVER_DIR
  const log = opts.log ?? ((l: string) => process.stderr.write(`cnidbg-ref server: ${l}\n`))
  const st: ServerState = {dir, stopping: false, info: opts.quiet ? () => {} : log, warn: log}
  ownDir(dir)
  const other = liveServer(dir)
  if (other) throw new Error(`${dir} is already served by pid ${other}`)
  tryUnlink(`${dir}/pid`)
  tryUnlink(`${dir}/req`)
  reapClients(dir)
  const mk = await liteRun('mkfifo', ['-m', '600', `${dir}/req`], {timeoutMs: 10_000})
  if (mk.exitCode !== 0) throw new Error(`cannot make the request FIFO in ${dir}: ${mk.stderr || mk.spawnError}`)
  // Read-write, so the FIFO never reports end-of-file between clients; as a socket, so reads never block.
  const reqFd = openSync(`${dir}/req`, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOFOLLOW)
  if (!fstatSync(reqFd).isFIFO()) throw new Error(`${dir}/req is not a FIFO`)
  const req = new (net().Socket)({fd: reqFd, readable: true, writable: false})
  const inFlight = new Map<number, Promise<void>>()
  const serve = (pid: number, ready?: number) => {
    const p = handle(st, pid, ready)
      .catch((error: unknown) => st.warn(`client ${pid}: ${logField((error as Error)?.stack ?? error)}`))
      .finally(() => inFlight.delete(pid))
    inFlight.set(pid, p)
  }
  // A dropped line may have held other clients' requests: a client blocked opening its reply FIFO has
  // sent its request (and its config before that), so it is served as if its line had arrived.
  const timers = new Set<NodeJS.Timeout>()
  const rescue = () => {
    let names: string[]
    try {
      names = readdirSync(dir)
    } catch {
      return
    }
    for (const name of names) {
      const m = /^c\.(\d+)$/.exec(name)
      const pid = Number(m?.[1])
      if (!m || inFlight.has(pid) || st.stopping) continue
      let fd: number
      try {
        fd = openSync(`${dir}/${name}`, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW)
      } catch {
        continue // Not waiting yet (ENXIO), or gone.
      }
      const s = fstatSync(fd)
      if (!s.isFIFO() || s.uid !== process.geteuid?.()) {
        closeSync(fd)
        continue
      }
      st.warn(`client ${pid}: waiting without a request line: served`)
      serve(pid, fd)
    }
  }
  const rescueSoon = () => {
    for (const ms of RESCUE_AFTER_MS) {
      const timer = setTimeout(() => {
        timers.delete(timer)
        rescue()
      }, ms)
      timers.add(timer)
    }
  }
  let pending = ''
  // In an over-long line, dropped up to its newline (which also ends any request appended to it).
  let skipping = false
  req.on('data', (b: Buffer) => {
    const lines = (pending + b.toString('latin1')).split('\n')
    pending = lines.pop() ?? ''
    for (const [i, line] of lines.entries()) {
      if (i === 0 && skipping) {
        skipping = false
        rescueSoon()
        continue
      }
      const l = line.trim()
      if (!l) continue
      if (l.length > MAX_LINE || !/^[1-9]\d{0,9}$/.test(l)) {
        st.warn(`request ${logField(l)} is no pid: dropped`)
        rescueSoon()
        continue
      }
      const pid = Number(l)
      if (inFlight.has(pid)) {
        st.warn(`client ${pid}: asked again while being served: dropped`)
        continue
      }
      serve(pid)
    }
    if (skipping) pending = ''
    else if (pending.length > MAX_LINE) {
      st.warn(`request line longer than ${MAX_LINE} bytes (${logField(pending.slice(0, MAX_LINE))}...): dropped`)
      pending = ''
      skipping = true
    }
  })
  req.on('error', (error) => st.warn(`request FIFO: ${logField(error.message)}`))
  // Ready: the pid file is written last, atomically, and the front trusts nothing else.
  const pidTmp = `${dir}/.pid.${process.pid}`
  tryUnlink(pidTmp)
  writeNew(pidTmp, `${process.pid} ${startTime(process.pid) ?? ''}\n`)
  renameSync(pidTmp, `${dir}/pid`)
  log(`serving in ${dir} (pid ${process.pid})`)
  await holdPoint('serve-ready')
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
      // Requests in flight finish; only waits on clients (a FIFO nobody opens, a reader that stalls) end.
      st.stopping = true
      for (const timer of timers) clearTimeout(timer)
      while (inFlight.size > 0) await Promise.all([...inFlight.values()])
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
  // A log nobody reads any more (a closed stderr) must not end the server: it goes on, unlogged.
  let logOpen = true
  process.stderr.on('error', () => (logOpen = false))
  const log = (l: string) => {
    if (logOpen) process.stderr.write(`cnidbg-ref server: ${l}\n`)
  }
  // A long-running root service never dies on a request: whatever escaped is logged, and it serves on.
  process.on('uncaughtException', (error) => log(`unexpected: ${logField(error?.stack ?? error)}`))
  process.on('unhandledRejection', (error) => log(`unexpected: ${logField((error as Error)?.stack ?? error)}`))
  // The signals are taken before the server names itself in its pid file: whoever started it may stop
  // it the moment that file appears, and a SIGTERM that came before a handler would kill it outright,
  // leaving its FIFO and the clients waiting on it. One that comes during start-up stops it once started.
  let server: Server | undefined
  let stopAsked = false
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      stopAsked = true
      void server?.stop()
    })
  }
  try {
    server = await startServer({dir, log, quiet: args.includes('--quiet')})
  } catch (error) {
    process.stderr.write(`cnidbg-ref --serve: ${(error as Error).message}\n`)
    process.exit(1)
  }
  if (stopAsked) void server.stop()
  await server.stopped
  process.exit(0)
}
