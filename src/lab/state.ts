/**
 * A lab's record on disk: `<lab dir>/state.json`. It is written before anything is created and
 * updated after each thing that must be undone (a namespace, a process), so a lab that crashed at any
 * point can be torn down from it. Writes are atomic (temp file + rename).
 */
import {randomBytes} from 'node:crypto'
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import {join} from 'node:path'

import {LAB_NAME_RE, LAB_ROOT, labDir, type LabMode, type LabTopologyKind} from './names.js'

/** A process we started: its pid and start time, so a recycled pid is never mistaken for it. */
export interface ProcRef {
  pid: number
  /** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot). */
  start: string | null
}

export interface LabNodeState {
  name: string
  index: number
  nodeIP: string
  podCIDR: string
  netns: string
  /** The node's own dir: subnet file, CNI bin and conf dirs, its /var/lib/cni and /run/cni. */
  dir: string
  subnetFile: string
  binDir: string
  confDir: string
  confFile: string
  /** Stands in for the node's /var/lib/cni (IPAM store, libcni result cache). */
  varLibCni: string
  /** Stands in for the node's /run/cni. */
  runCni: string
  /** CNI_PATH for this node's plugins. */
  cniPath: string[]
  /** eth0's other end, a port of the underlay bridge. */
  underlayPort: string
  /** Routed underlay: the bridge of the node's subnet and its route to the other one. */
  bridge?: string
  gateway?: string
}

export interface FaultRecord {
  /** Short id, unique in the lab. */
  id: string
  fault: string
  node?: string
  pod?: string
  /** The Kubernetes namespace of `pod`. */
  podNamespace?: string
  /**
   * The UID of `pod` when the fault was applied: a pod re-created under the same name since is
   * another pod, which heal leaves alone. Absent in records written before it was kept.
   */
  podUid?: string
  peer?: string
  appliedAt: string
  /** The node's daemon was stopped for this fault (it would repair it); heal restarts it. */
  stopsDaemon: boolean
  /** What heal needs to undo it (the state before, names of things made). */
  undo: Record<string, unknown>
  /** One line: what was done. */
  summary: string
  /**
   * Written before the fault is applied, so an interrupted `lab break` leaves a record `lab heal` can
   * undo. starting: nothing of the fault's own was changed yet (the daemon may have been stopped);
   * applying: the fault may have changed part of what `undo` describes. Absent once applied whole.
   */
  pending?: 'starting' | 'applying'
}

/** Where the lab's credentials are (credentials.ts); absent in a lab made before they existed. */
export interface LabAuthState {
  /** 0700: the token file and the components' kubeconfigs. */
  dir: string
  /** The API server's --token-file. */
  tokenFile: string
  /** The API server's serving certificate (PEM) and its key. */
  tlsCert: string
  tlsKey: string
  /**
   * The cluster CA (PEM) the kubeconfigs trust, which signed tlsCert and signs the node agents'
   * certificates, and its key (0600). Absent in a lab made before it: tlsCert was then self-signed.
   */
  caCert?: string
  caKey?: string
  supervisorKubeconfig: string
  /** The tracer's kubeconfig for programs inside a node namespace (server: the control plane's underlay address). */
  nodeKubeconfig?: string
}

export type LabPhase = 'starting' | 'running' | 'stopping'

export interface LabState {
  schemaVersion: 1
  name: string
  mode: LabMode
  dir: string
  createdAt: string
  phase: LabPhase
  /** The `lab up`/`lab down` process working on the lab; while it lives, nobody else touches it. */
  owner: ProcRef | null
  /**
   * The process the lab exists for, when it was made for one (a test file): once that process is gone,
   * however it ended, the lab counts as crashed, and the next `lab up` or `lab down` removes it.
   */
  heldBy?: ProcRef
  /** The admin's kubeconfig (kubectl, lab commands, trace). */
  kubeconfig: string
  auth?: LabAuthState
  clusterCIDR: string
  underlay: {netns: string; bridge: string; cidr: string}
  /**
   * `--mode vpc`: the VPC router namespace, its address on the underlay, and the route-table API
   * (served by the supervisor on `apiSocket`, relayed to `apiUrl` on the underlay).
   */
  router?: {netns: string; ip: string; iface: string; apiUrl: string; apiSocket: string}
  /** flat when absent (labs made before routed underlays existed). */
  topology?: LabTopologyKind
  /** Routed underlay (bgp): the router namespace and its address on each subnet. */
  underlayRouter?: {netns: string; addresses: string[]}
  apiserver?: ProcRef & {url?: string; log: string; stateFile: string}
  supervisor?: ProcRef & {log: string; socket: string}
  /**
   * What the supervisor runs for deploy/'s pods: the argv of the image's `cnidbg` on this machine
   * (Node and the CLI) and the forwarder's script. Absent in a lab made before deploy/ was applied.
   */
  programs?: {cnidbg: string[]; forwarder: string}
  nodes: LabNodeState[]
  /** How many pods per node `lab up` created (later pods come from `lab pod add`). */
  podsPerNode: number
  faults: FaultRecord[]
}

export function statePath(dir: string): string {
  return join(dir, 'state.json')
}

export function readLabState(name: string, root = LAB_ROOT): LabState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(labDir(name, root)), 'utf8')) as LabState
  } catch {
    return undefined
  }
}

/** Writes a file whole or not at all (temp file + rename), 0600. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.${randomBytes(3).toString('hex')}.tmp`
  writeFileSync(tmp, text, {mode: 0o600})
  renameSync(tmp, path)
}

/** The process a pid file ("<pid> <start time>") names, while it runs. */
export function pidFileProc(path: string): ProcRef | undefined {
  try {
    const [pid, start] = readFileSync(path, 'utf8').trim().split(' ')
    const ref = {pid: Number(pid), start: start || null}
    return ref.pid > 0 && procAlive(ref) ? ref : undefined
  } catch {
    return undefined
  }
}

export function writeLabState(state: LabState): void {
  mkdirSync(state.dir, {recursive: true, mode: 0o700})
  const path = statePath(state.dir)
  const tmp = `${path}.${process.pid}.${randomBytes(3).toString('hex')}.tmp`
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', {mode: 0o600})
  renameSync(tmp, path)
}

/** Names of labs that have a directory under the lab root (with or without a readable state). */
export function listLabDirs(root = LAB_ROOT): string[] {
  try {
    return readdirSync(root)
      .filter((n) => LAB_NAME_RE.test(n))
      .sort()
  } catch {
    return []
  }
}

export function procStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name may contain spaces and parentheses: fields restart after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (fields[0] === 'Z') return null
    return fields[19] ?? null
  } catch {
    return null
  }
}

export function procRef(pid: number): ProcRef {
  return {pid, start: procStart(pid)}
}

/**
 * True while the process still runs (not a zombie, and the same process as when recorded). A ref
 * without a start time was recorded after its process had ended (procRef of a zombie): whatever has
 * its pid now is another process, and never one to signal.
 */
export function procAlive(ref: ProcRef | null | undefined): boolean {
  if (!ref || ref.start === null) return false
  const start = procStart(ref.pid)
  return start !== null && ref.start === start
}

/** Stops a process (and its process group) with SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProc(ref: ProcRef | null | undefined, graceMs = 5000): Promise<boolean> {
  if (!procAlive(ref)) return false
  const signal = (sig: NodeJS.Signals) => {
    for (const target of [-ref!.pid, ref!.pid]) {
      try {
        process.kill(target, sig)
      } catch {
        // Not a group leader, or already gone.
      }
    }
  }
  signal('SIGTERM')
  const deadline = Date.now() + graceMs
  while (procAlive(ref) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  if (procAlive(ref)) {
    signal('SIGKILL')
    const hard = Date.now() + 5000
    while (procAlive(ref) && Date.now() < hard) await new Promise((r) => setTimeout(r, 50))
  }
  return true
}

export function newFaultId(state: LabState): string {
  for (;;) {
    const id = randomBytes(2).toString('hex')
    if (!state.faults.some((f) => f.id === id)) return id
  }
}

/**
 * Serializes changes to one lab's state (break, heal, pod add) across processes: an exclusive lock
 * file holding the owner's pid. A lock whose owner died is taken over.
 */
export async function withLabLock<T>(dir: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const path = join(dir, 'lock')
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o600)
      writeSync(fd, JSON.stringify(procRef(process.pid)))
      closeSync(fd)
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      let holder: ProcRef | undefined
      try {
        holder = JSON.parse(readFileSync(path, 'utf8')) as ProcRef
      } catch {
        // Being written right now, or garbage: retry (a garbage one is taken over below).
      }
      if (holder && !procAlive(holder)) rmSync(path, {force: true})
      else if (!holder && existsSync(path) && Date.now() > deadline - timeoutMs / 2) rmSync(path, {force: true})
      else if (Date.now() > deadline) throw new Error(`lab state is locked by pid ${holder?.pid ?? '?'} (${path})`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  try {
    return await fn()
  } finally {
    rmSync(path, {force: true})
  }
}
