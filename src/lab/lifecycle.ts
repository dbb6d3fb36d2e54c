/**
 * Finding labs, telling a running lab from a crashed one, and tearing labs down. Teardown works from
 * the state file and from the namespace prefix alone, so it succeeds whatever point a lab got to.
 */
import {existsSync, readdirSync, rmSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {UsageError} from '../core/errors.js'
import {listNetns, netnsPath} from '../netns/netns.js'
import {DEFAULT_LAB_NAME, LAB_ROOT, labDir, SYSTEM_LAB_ROOT} from './names.js'
import {deleteLabNamespaces, labNamespaces} from './network.js'
import {nodePodProcesses} from './node-pods.js'
import {stopNodePluginServer} from './plugin-server.js'
import {
  type LabState,
  listLabDirs,
  pidFileProc,
  procAlive,
  procRef,
  readLabState,
  stopProc,
  writeLabState,
} from './state.js'

export type LabHealth = 'starting' | 'running' | 'stopping' | 'crashed'

/**
 * running: its processes live; crashed: what should run is dead, a lab up/down died half-way, or the
 * process it was held for (a test) is gone.
 */
export function labHealth(state: LabState): LabHealth {
  if (state.phase === 'starting' || state.phase === 'stopping') return procAlive(state.owner) ? state.phase : 'crashed'
  if (state.heldBy && !procAlive(state.heldBy)) return 'crashed'
  return procAlive(state.supervisor) && procAlive(state.apiserver) ? 'running' : 'crashed'
}

export interface PickLabOptions {
  /** The flag that names a lab in this command, for the suggestions. */
  flag?: string
  /** Returned when there is no lab at all, instead of a LAB_NOT_FOUND error. */
  none?: string
  root?: string
}

/**
 * The lab a command acts on when none is named: the only running one; failing that the only one
 * there is (a crashed or half-started lab, so `lab status` can show it and `lab down` remove it).
 * Several candidates are a usage error that lists them; no lab at all is LAB_NOT_FOUND.
 */
export function pickLab(name: string | undefined, opts: PickLabOptions = {}): string {
  if (name !== undefined) return name
  const flag = opts.flag ?? '--name'
  const labs = listLabDirs(opts.root).map((n) => {
    const state = readLabState(n, opts.root)
    return {health: state ? labHealth(state) : 'crashed', name: n}
  })
  const running = labs.filter((l) => l.health === 'running')
  const candidates = running.length > 0 ? running : labs
  if (candidates.length === 1) return candidates[0]!.name
  if (candidates.length > 1) {
    const list = candidates.map((l) => (l.health === 'running' ? l.name : `${l.name} (${l.health})`)).join(', ')
    throw new UsageError(
      running.length > 0
        ? `${running.length} labs are running (${list}): name one with ${flag}.`
        : `No lab is running, and there are ${labs.length} labs (${list}): name one with ${flag}.`,
      {code: 'LAB_AMBIGUOUS', suggestions: candidates.map((l) => `${flag} ${l.name}`)},
    )
  }
  if (opts.none !== undefined) return opts.none
  throw new UsageError('No lab is running.', {
    code: 'LAB_NOT_FOUND',
    suggestions: ['Start one: cnidbg lab up'],
  })
}

/** The lab's state, or a LAB_NOT_FOUND usage error that names the labs that do exist. */
export function requireLab(given?: string): LabState {
  const name = pickLab(given)
  const state = readLabState(name)
  if (state) return state
  throw labNotFound(name)
}

/** LAB_NOT_FOUND for lab `name`, naming the labs that do exist and the flag (`flag`) that picks one. */
export function labNotFound(name: string, flag = '--name'): UsageError {
  const others = listLabDirs().filter((n) => n !== name)
  return new UsageError(`No lab named ${JSON.stringify(name)}.`, {
    code: 'LAB_NOT_FOUND',
    suggestions: [
      `Start it: cnidbg lab up${name === DEFAULT_LAB_NAME ? '' : ` --name ${name}`}`,
      ...(others.length > 0 ? [`Existing labs: ${others.join(', ')} (pass ${flag})`] : []),
    ],
  })
}

/** Stops the lab's processes, deletes its namespaces and its directory. Returns what it removed. */
export async function teardownLab(name: string, root = LAB_ROOT): Promise<string[]> {
  const removed: string[] = []
  const state = readLabState(name, root)
  if (state) {
    try {
      writeLabState({...state, phase: 'stopping', owner: procRef(process.pid)})
    } catch {
      // A read-only or vanished dir must not stop the teardown.
    }
    // The supervisor first: it must not start new pods while their namespaces are being removed.
    if (await stopProc(state.supervisor)) removed.push(`supervisor (pid ${state.supervisor!.pid})`)
    if (await stopProc(state.apiserver)) removed.push(`API server (pid ${state.apiserver!.pid})`)
    // A supervisor that crashed leaves its nodes' plugin servers, node processes and forwarder
    // running (they lead their own groups).
    for (const n of state.nodes) {
      const server = await stopNodePluginServer(n)
      if (server) removed.push(`${n.name} plugin server (pid ${server.pid})`)
      for (const p of nodePodProcesses(n)) if (await stopProc(p)) removed.push(`${n.name} node process (pid ${p.pid})`)
    }
    const fwd = pidFileProc(join(state.dir, 'forwarder.pid'))
    if (fwd && (await stopProc(fwd))) removed.push(`forwarder (pid ${fwd.pid})`)
  }
  // Whatever still runs inside the lab's namespaces (a pid file lost with a crash): found by the
  // namespace itself, never by name, as a deleted namespace would keep its processes alive.
  for (const pid of processesInNetns(labNamespaces(name).map((n) => netnsPath(n)))) {
    try {
      process.kill(pid, 'SIGKILL')
      removed.push(`process ${pid} in a lab namespace`)
    } catch {
      // Gone meanwhile.
    }
  }
  for (const n of await deleteLabNamespaces(name)) removed.push(`netns ${n}`)
  const dir = labDir(name, root)
  if (existsSync(dir)) {
    rmSync(dir, {recursive: true, force: true})
    removed.push(`dir ${dir}`)
  }
  return removed
}

/** Pids of the processes whose network namespace is one of `paths` (by inode and device). */
export function processesInNetns(paths: readonly string[]): number[] {
  const wanted = new Set<string>()
  for (const p of paths) {
    try {
      const st = statSync(p)
      wanted.add(`${st.dev}:${st.ino}`)
    } catch {
      // Not there.
    }
  }
  if (wanted.size === 0) return []
  const pids: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue
    try {
      const st = statSync(`/proc/${d}/ns/net`)
      if (wanted.has(`${st.dev}:${st.ino}`)) pids.push(Number(d))
    } catch {
      // Exited, or a kernel thread.
    }
  }
  return pids
}

/**
 * Lab names that own namespaces on this machine but have no directory (their state was lost).
 * Namespaces are machine-wide while lab roots are not (CNIDBG_LAB_ROOT, a test's private root): a lab
 * whose directory is in the system root or in the caller's is never an orphan, so a run with a private
 * root cannot tear down the labs everyone else uses.
 */
export function orphanLabNames(root = LAB_ROOT): string[] {
  const names = new Set<string>()
  for (const n of listNetns()) {
    const m = /^cnidbg-lab-([a-z][a-z0-9]{0,15})-/.exec(n)
    if (m && !existsSync(labDir(m[1]!, root)) && !existsSync(labDir(m[1]!, SYSTEM_LAB_ROOT))) names.add(m[1]!)
  }
  return [...names].sort()
}

function dirAgeMs(dir: string): number {
  try {
    return Date.now() - statSync(dir).mtimeMs
  } catch {
    return 0
  }
}

export interface ReapedLab {
  name: string
  removed: string[]
}

/**
 * Tears down every lab that crashed (its supervisor or API server died, or a `lab up` died half-way)
 * and the namespaces of labs whose state is gone. Running labs, labs another process is starting or
 * stopping, and crashed labs held for a process that still runs (`lab up --held-by`) are left alone.
 */
export async function reapCrashedLabs(root = LAB_ROOT): Promise<ReapedLab[]> {
  const reaped: ReapedLab[] = []
  for (const name of listLabDirs(root)) {
    const state = readLabState(name, root)
    if (state && labHealth(state) !== 'crashed') continue
    // A lab held for a live process is that process's to take down, crashed or not: a test that kills
    // its own lab's supervisor then removes the lab itself, and a reaper in another process (any lab up
    // or lab down) that got there first made its lab down fail with LAB_BUSY.
    if (state?.heldBy && procAlive(state.heldBy)) continue
    // A dir without a state file is a lab up that died before its first write, or one being born
    // right now (the state is written a moment after the dir): leave young ones alone.
    if (!state && dirAgeMs(labDir(name, root)) < 30_000) continue
    reaped.push({name, removed: await teardownLab(name, root)})
  }
  for (const name of orphanLabNames(root)) reaped.push({name, removed: await teardownLab(name, root)})
  return reaped
}
