import {randomBytes} from 'node:crypto'
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, join, resolve} from 'node:path'

import {deleteNetnsAll, listNetns, NETNS_PREFIX, netnsPath} from './netns.js'

/** Where each live run records what it created, so a SIGKILLed run can be reaped by the next one. */
export const MARKER_DIR = process.env.CNIDBG_RUN_DIR ?? '/run/cnidbg/runs'

export interface Marker {
  id: string
  /** The process that owns the resources; when it is gone they are stale. Null for kept sandboxes. */
  pid: number | null
  /** /proc/<pid>/stat start time, so a recycled pid is not mistaken for the owner. */
  pidStart: string | null
  command: string
  createdAt: string
  /** Kept on purpose (e.g. `exec add --sandbox` lives until the matching `del`). */
  persistent: boolean
  netns: string[]
  dirs: string[]
  label?: string
}

export function newRunId(): string {
  return randomBytes(3).toString('hex')
}

function procStart(pid: number): string | null {
  try {
    // Field 22 (starttime) follows the command name, which may contain spaces: split after ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null
  } catch {
    return null
  }
}

export function ownMarker(id: string, label: string, persistent = false): Marker {
  return {
    id,
    pid: persistent ? null : process.pid,
    pidStart: persistent ? null : procStart(process.pid),
    command: process.argv.slice(2).join(' ') || process.argv[1] || 'cnidbg',
    createdAt: new Date().toISOString(),
    persistent,
    netns: [],
    dirs: [],
    label,
  }
}

export function writeMarker(m: Marker): void {
  mkdirSync(MARKER_DIR, {recursive: true, mode: 0o700})
  // Atomically: a reaper in another process that read a half-written marker would take this run's
  // namespaces for orphans and delete them.
  const file = join(MARKER_DIR, `${m.id}.json`)
  const tmp = `${file}.tmp-${process.pid}`
  writeFileSync(tmp, JSON.stringify(m, null, 2) + '\n', {mode: 0o600})
  renameSync(tmp, file)
}

/** Run ids are short lower-case words (newRunId, or a test's prefix): nothing that leaves MARKER_DIR. */
const MARKER_ID_RE = /^[a-z0-9-]{1,32}$/

export function readMarker(id: string): Marker | undefined {
  if (!MARKER_ID_RE.test(id)) return undefined
  try {
    const m = JSON.parse(readFileSync(join(MARKER_DIR, `${id}.json`), 'utf8')) as Marker
    // The id inside names the namespaces and the file removeMarker deletes: it must be the file's own.
    return m?.id === id && Array.isArray(m.netns) && Array.isArray(m.dirs) ? m : undefined
  } catch {
    return undefined
  }
}

export function removeMarker(id: string): void {
  rmSync(join(MARKER_DIR, `${id}.json`), {force: true})
}

export function readMarkers(): Marker[] {
  let files: string[] = []
  try {
    files = readdirSync(MARKER_DIR).filter((f) => f.endsWith('.json'))
  } catch {
    return []
  }
  return files.map((f) => readMarker(f.slice(0, -5))).filter((m): m is Marker => m !== undefined)
}

export type MarkerState = 'live' | 'kept' | 'stale'

export function markerState(m: Marker): MarkerState {
  if (m.persistent) return 'kept'
  if (m.pid !== null && procStart(m.pid) === m.pidStart && m.pidStart !== null) return 'live'
  return 'stale'
}

/** Run namespaces are `cnidbg-<6 hex run id>-<role>`; labs and test topologies use other shapes and reap their own. */
const RUN_NETNS_RE = /^cnidbg-[0-9a-f]{6}-/

/** The run namespaces of `names` that none of `markers` claims (by its list or by its id). */
function unclaimedRunNetns(names: readonly string[], markers: readonly Marker[]): string[] {
  const claimed = new Set(markers.flatMap((m) => m.netns))
  const ids = markers.map((m) => `${NETNS_PREFIX}${m.id}-`)
  return names.filter((n) => RUN_NETNS_RE.test(n) && !claimed.has(n) && !ids.some((p) => n.startsWith(p)))
}

/**
 * Run namespaces that no marker claims: left by a crash (or a marker removed by hand). A live run
 * writes its marker before it makes a namespace and removes it after the namespace is gone, but
 * the markers and the namespaces cannot be read at one instant: a namespace made just after the
 * markers were read would have no marker in what was read, and one removed just before the
 * namespaces were listed would be listed with a marker already gone. So the namespaces are listed
 * before and after the markers are read, and only one in both listings counts: it existed the
 * whole time, and so did its marker if it has one.
 */
export function orphanNetns(read: () => Marker[] = readMarkers): string[] {
  const first = listNetns()
  const markers = read()
  const still = new Set(listNetns())
  return unclaimedRunNetns(
    first.filter((n) => still.has(n)),
    markers,
  )
}

/** A namespace's identity: nsfs device and inode (the same through /run/netns/x and /proc/<pid>/ns/net). */
function nsIdentity(path: string): string | undefined {
  try {
    const s = statSync(path)
    return `${s.dev}:${s.ino}`
  } catch {
    return undefined
  }
}

function procPids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number)
      .filter((pid) => pid !== process.pid)
  } catch {
    return []
  }
}

/** Field `n` of /proc/<pid>/stat, counted from 1 (the pid), as a number: 4 is the parent, 5 the group. */
function statField(pid: number, n: 4 | 5): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may contain spaces and parentheses: fields restart after the last ')'.
    const value = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[n - 3])
    return Number.isInteger(value) ? value : undefined
  } catch {
    return undefined
  }
}

const procParent = (pid: number) => statField(pid, 4)
const procGroup = (pid: number) => statField(pid, 5)

/**
 * Whether `pid`, inside the networks, only visits them: an ancestor in its mount namespace `mnt`
 * (held by the caller) runs outside them, so the mount namespace is that ancestor's home and came
 * with it (a node agent that looks for pods in every namespace of the machine runs `nsenter --net`
 * from its pod's own mount namespace). A process that made its mount namespace inside the networks
 * (a sandbox's plugin) has no such ancestor: the chain leaves the mount namespace first.
 */
function visitor(pid: number, mnt: string, inside: ReadonlySet<number>): boolean {
  let p = procParent(pid)
  for (let hops = 0; p !== undefined && p > 1 && hops < 64; hops++) {
    if (nsIdentity(`/proc/${p}/ns/mnt`) !== mnt) return false
    if (!inside.has(p)) return true
    p = procParent(p)
  }
  return false
}

/**
 * Every process inside these network namespaces, found by namespace inode (never by name), plus
 * every process sharing a private mount namespace with one of them (a sandbox's plugin runs in its
 * own mount namespace, which a child may keep after leaving the netns). The mount namespaces of
 * this process and of pid 1 are the host's and never widen the set, and neither does the mount
 * namespace of a process that only visits (`visitor`): the process it came from, outside, is not
 * ours to stop. Zombies have no namespaces any more and are not listed. A name bound to this process's
 * or pid 1's network namespace, the host's, is left out and added to `refused`: every process of the
 * machine is in it, and a `cnidbg-<id>-…` name mounted there by mistake would have them all stopped.
 */
export function processesInNamespaces(netnsNames: readonly string[], refused: string[] = []): number[] {
  // Every namespace is held open while the others are matched against it. A namespace's inode goes to
  // the next namespace made anywhere once the last holder lets go of it: a plugin server that exits
  // mid-scan frees its sandbox's mount namespace, and an identity read from it before would then name
  // another sandbox's (a scan of a sandbox with no process in it once returned 72 unrelated pids).
  const held: number[] = []
  const hold = (path: string): string | undefined => {
    try {
      const fd = openSync(path, 'r')
      held.push(fd)
      const s = fstatSync(fd)
      return `${s.dev}:${s.ino}`
    } catch {
      return undefined
    }
  }
  try {
    const hostNet = new Set([nsIdentity('/proc/self/ns/net'), nsIdentity('/proc/1/ns/net')])
    hostNet.delete(undefined)
    const nets = new Set<string>()
    for (const n of netnsNames) {
      const net = hold(netnsPath(n))
      if (net !== undefined && hostNet.has(net)) refused.push(n)
      else if (net !== undefined) nets.add(net)
    }
    if (nets.size === 0) return []
    const pids = procPids()
    const inNet = pids.filter((pid) => nets.has(nsIdentity(`/proc/${pid}/ns/net`) ?? ''))
    const inside = new Set(inNet)
    const hostMnt = new Set([nsIdentity('/proc/self/ns/mnt'), nsIdentity('/proc/1/ns/mnt')])
    const mnts = new Set<string>()
    for (const pid of inNet) {
      const mnt = hold(`/proc/${pid}/ns/mnt`)
      // Still in one of the networks once its mount namespace is held: the pid was not passed on to a
      // process of another network meanwhile, so the namespace held is this process's.
      if (!mnt || hostMnt.has(mnt) || !nets.has(nsIdentity(`/proc/${pid}/ns/net`) ?? '')) continue
      if (!visitor(pid, mnt, inside)) mnts.add(mnt)
    }
    const inMnt = mnts.size === 0 ? [] : pids.filter((pid) => mnts.has(nsIdentity(`/proc/${pid}/ns/mnt`) ?? ''))
    return [...new Set([...inNet, ...inMnt])].sort((a, b) => a - b)
  } finally {
    for (const fd of held) closeSync(fd)
  }
}

const signal = (target: number, sig: NodeJS.Signals): void => {
  try {
    process.kill(target, sig)
  } catch {
    // Already gone.
  }
}

async function until(pred: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 50))
  }
  return true
}

/**
 * Stops every process still inside these namespaces (a plugin left running by a SIGKILLed run keeps
 * the sandbox's network and mount namespaces alive after `ip netns del`): SIGTERM, then after
 * `graceMs` SIGKILL. A process group is signalled as a whole only when its leader is one of the
 * processes found, so a group led from outside (a script that started `ip netns exec … &`) is never
 * hit; the others get their own signal. Our own group is never signalled, and neither is anything in
 * the host's network namespace (processesInNamespaces), which is named on stderr. Returns the pids it found.
 */
export async function killNamespaceProcesses(netnsNames: readonly string[], graceMs = 2000): Promise<number[]> {
  const refused: string[] = []
  const found = processesInNamespaces(netnsNames, refused)
  for (const n of refused)
    process.stderr.write(`cnidbg: not stopping the processes in netns ${n}: it is the host's network namespace\n`)
  if (found.length === 0) return []
  const set = new Set(found)
  const ownGroup = procGroup(process.pid)
  const leaders = new Set(
    found.map(procGroup).filter((g): g is number => g !== undefined && set.has(g) && g !== ownGroup),
  )
  const send = (sig: NodeJS.Signals) => {
    for (const g of leaders) signal(-g, sig)
    for (const pid of found) if (!leaders.has(procGroup(pid) ?? -1)) signal(pid, sig)
  }
  // Polling only the processes found: the whole of /proc is scanned once, not every 50 ms.
  const alive = () => found.filter((pid) => existsSync(`/proc/${pid}`))
  send('SIGTERM')
  if (!(await until(() => alive().length === 0, graceMs))) {
    send('SIGKILL')
    await until(() => alive().length === 0, 5000)
  }
  return found
}

/**
 * The temp dirs a marker may name: directly under the temp dir and called cnidbg-…, as Sandbox and the
 * test topologies make them. A marker file is only as trustworthy as its directory, so nothing else
 * is removed recursively on its word.
 */
function ownedDir(d: string): boolean {
  const base = basename(d)
  return base.startsWith(NETNS_PREFIX) && resolve(d) === join(resolve(tmpdir()), base)
}

/**
 * Removes one marker's resources, then the marker. Best effort; returns what it removed. With
 * `stopProcesses` (reaping a crashed run, removing a kept sandbox) it first stops whatever still runs
 * inside its namespaces; a live run's own children die with its process groups, so its removal skips
 * the scan of /proc.
 */
export async function releaseMarker(m: Marker, opts: {stopProcesses?: boolean} = {}): Promise<string[]> {
  const removed: string[] = []
  const own = listNetns().filter((n) => m.netns.includes(n) || n.startsWith(`${NETNS_PREFIX}${m.id}-`))
  // Before the namespaces go: their files are how the processes inside are found.
  if (opts.stopProcesses) for (const pid of await killNamespaceProcesses(own)) removed.push(`process ${pid}`)
  await deleteNetnsAll(own).catch(() => {})
  for (const n of own) removed.push(`netns ${n}`)
  for (const d of m.dirs) {
    if (!ownedDir(d)) continue
    rmSync(d, {recursive: true, force: true})
    removed.push(`dir ${d}`)
  }
  removeMarker(m.id)
  return removed
}

export interface ReapReport {
  removed: string[]
  kept: string[]
}

/**
 * Reaps what crashed runs left: stale markers' namespaces and dirs, and unclaimed cnidbg- namespaces.
 * Live runs (their owner is still running) are never touched; kept sandboxes only with `includeKept`.
 * `read` lists the markers to consider (a test hands it copies as an earlier read saw them).
 */
export async function reapStale(
  opts: {includeKept?: boolean} = {},
  read: () => Marker[] = readMarkers,
): Promise<ReapReport> {
  const report: ReapReport = {kept: [], removed: []}
  for (const first of read()) {
    if (markerState(first) === 'live') continue
    // Read again, now that its owner is known to be gone: what the owner wrote last is on disk, and
    // nothing writes the marker any more. The copy read above may be older than that: `exec add
    // --sandbox` keeps its sandbox (persistent, no owner) just before it exits, and a reaper that
    // released the older copy, whose owner had by then exited, took a sandbox its user had just
    // been handed. The loop awaits each release, so that window was as long as the reaping before.
    const m = readMarker(first.id)
    if (!m) continue
    const state = markerState(m)
    if (state === 'live') continue
    if (state === 'kept' && !opts.includeKept) {
      report.kept.push(m.id)
      continue
    }
    report.removed.push(...(await releaseMarker(m, {stopProcesses: true})))
  }
  const orphans = orphanNetns()
  for (const pid of await killNamespaceProcesses(orphans)) report.removed.push(`process ${pid}`)
  await deleteNetnsAll(orphans).catch(() => {})
  for (const n of orphans) report.removed.push(`netns ${n}`)
  return report
}
