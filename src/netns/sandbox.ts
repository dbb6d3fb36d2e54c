import {closeSync, mkdirSync, openSync, rmSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {cleaningUp, onCleanup} from '../process/cleanup.js'
import {run, runUntilReady, type RunOptions, type RunResult} from '../process/exec.js'
import {makeTempDir} from '../process/temp-dir.js'
import {inNetnsArgv} from './enter.js'
import {newRunId, ownMarker, readMarker, releaseMarker, writeMarker, type Marker} from './markers.js'
import {createNetns, deleteNetnsSettled, NETNS_PREFIX, netnsPath, type Netns} from './netns.js'

/** The host paths a sandbox hides behind per-run directories (plugin state: IPAM, caches, locks). */
export const SANDBOXED_PATHS = ['/var/lib/cni', '/run/cni'] as const

// Runs where `ip netns exec` puts it: in the host netns, in a fresh mount namespace with that netns's
// own /sys. Binds the per-run dirs over the host paths, then goes on. Every value is a positional
// parameter; none is part of the script.
const MOUNTS = 'mount --bind "$1" /var/lib/cni && mount --bind "$2" /run/cni'
// The one-shot form: then exec the rest of its argv.
const MOUNT_SCRIPT = `${MOUNTS} && shift 2 && exec "$@"`
// The maker of a kept mount namespace (HostViewMounts): says it is ready, then waits for its stdin to close.
const MAKER_SCRIPT = `${MOUNTS} && echo ready && read -r _`

/** A "host" for plugins: a network namespace plus the dirs standing in for its /var/lib/cni and /run/cni. */
export interface HostView {
  /** Name under /run/netns. */
  netns: string
  varLibCni: string
  runCni: string
}

/**
 * A shell running `script` (MOUNT_SCRIPT or MAKER_SCRIPT, then `argv`) in a new mount namespace with
 * the view's dirs over /var/lib/cni and /run/cni, inside its network namespace with that namespace's
 * /sys. `ip netns exec` makes the mount namespace with / a recursive slave of ours: a namespace
 * mounted under /run/netns later is seen there, and one deleted is not kept alive by it (both checked
 * in test/netns/sandbox.ts). Its own mounts never propagate back. Four programs (ip, sh, two mounts),
 * where an `unshare --mount` of its own in front made six. The mount points are made if missing.
 */
function hostViewMountArgv(view: HostView, script: string, argv: readonly string[] = []): string[] {
  for (const p of SANDBOXED_PATHS) mkdirSync(p, {recursive: true})
  return inNetnsArgv({name: view.netns}, ['sh', '-c', script, 'cnidbg-sandbox', view.varLibCni, view.runCni, ...argv], {
    sysfs: true,
  })
}

/**
 * The argv that runs a program as if on the host `view` describes: in a mount namespace of its own
 * with its dirs bind-mounted over /var/lib/cni and /run/cni, inside its network namespace. Plugins keep
 * their state (IPAM, caches, locks) at the usual paths, and each host gets its own. One mount
 * namespace per program; `HostViewMounts` makes one for many.
 */
export function hostViewArgv(view: HostView, file: string, args: readonly string[]): string[] {
  return hostViewMountArgv(view, MOUNT_SCRIPT, [file, ...args])
}

/** Runs a program on the host `view` describes (hostViewArgv). Used by the lab's nodes. */
export function runInHostView(
  view: HostView,
  file: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const [cmd, ...rest] = hostViewArgv(view, file, args)
  return run(cmd!, rest, opts)
}

/**
 * A host view whose mount namespace is made once and then entered by every program run there, with a
 * single `nsenter` (enter.ts) instead of the `ip netns exec`, shell and two mounts of hostViewArgv. A
 * short-lived maker process sets the namespace up (hostViewMountArgv); this process keeps it by an open
 * file descriptor, entered through /proc/<our pid>/fd/<fd>, and the maker exits at once. So nothing
 * runs to hold it: it goes when `close` closes the descriptor, or with this process, however that ends
 * (a SIGKILL too), and there is nothing to reap.
 */
export class HostViewMounts {
  private fd: number | undefined
  private making: Promise<number> | undefined
  private closed = false
  private running = 0

  constructor(readonly view: HostView) {}

  /** Runs a program on the host view, making its mount namespace on first use. */
  async run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const fd = await this.open()
    if (this.closed) throw this.closedError()
    // After a signal the cleanups have taken their list: a program started now (a case's plugin
    // server, a plugin call) would register its own too late and outlive the run. From here to the
    // spawn in run() nothing awaits, so a signal cannot slip in between.
    if (cleaningUp()) throw new Error(`not starting ${file}: cnidbg is cleaning up after a signal`)
    // Until the program is done, the descriptor stays open: nsenter opens it by number after we spawn
    // it, and a number closed meanwhile could already name another file of ours.
    this.running++
    try {
      const [cmd, ...rest] = inNetnsArgv({name: this.view.netns}, [file, ...args], {
        mount: `/proc/${process.pid}/fd/${fd}`,
        wd: opts.cwd ?? process.cwd(),
      })
      return await run(cmd!, rest, opts)
    } finally {
      this.running--
      this.release()
    }
  }

  /**
   * Lets the mount namespace go: no program starts there any more, and the descriptor is closed once
   * those running are done (they keep the namespace until they exit). Safe to call twice.
   */
  close(): void {
    this.closed = true
    this.release()
  }

  private release(): void {
    if (!this.closed || this.running > 0 || this.fd === undefined) return
    closeSync(this.fd)
    this.fd = undefined
  }

  private closedError(): Error {
    return new Error(`the host view of ${this.view.netns} is closed`)
  }

  private open(): Promise<number> {
    if (this.closed) return Promise.reject(this.closedError())
    if (this.fd !== undefined) return Promise.resolve(this.fd)
    this.making ??= this.make().finally(() => {
      this.making = undefined
    })
    return this.making
  }

  private async make(): Promise<number> {
    const own = nsInode('/proc/self/ns/mnt')
    const net = nsInode(netnsPath(this.view.netns))
    const [cmd, ...rest] = hostViewMountArgv(this.view, MAKER_SCRIPT)
    const fd = await runUntilReady(
      cmd!,
      rest,
      (pid) => {
        const fd = openSync(`/proc/${pid}/ns/mnt`, 'r')
        // The maker is past its mounts and inside the view's netns; never hand out our own mounts.
        if (nsInode(`/proc/self/fd/${fd}`) === own || nsInode(`/proc/${pid}/ns/net`) !== net) {
          closeSync(fd)
          throw new Error(`the mount namespace made for ${this.view.netns} is not the view's`)
        }
        return fd
      },
      {timeoutMs: 30_000},
    )
    if (this.closed) {
      closeSync(fd)
      throw this.closedError()
    }
    this.fd = fd
    return fd
  }
}

function nsInode(path: string): string {
  const s = statSync(path)
  return `${s.dev}:${s.ino}`
}

export interface SandboxOptions {
  /** Survives this process (for `exec add --sandbox`); removed by the matching `del` or `sandbox gc --all`. */
  persistent?: boolean
  label?: string
}

/**
 * A throwaway "host": its own network namespace plus a private view of /var/lib/cni and /run/cni.
 * Plugins run "on the host" here can make bridges, iptables rules and IPAM files without touching
 * the machine, and every later call (DEL, delegated IPAM) sees the same state.
 */
export class Sandbox {
  private unregister: () => void = () => {}
  private mounts: HostViewMounts | undefined
  /** Namespaces being made: dispose waits for them, so none is made after it listed what to remove. */
  private readonly making = new Set<Promise<unknown>>()
  private disposed = false
  private disposing: Promise<void> | undefined

  private constructor(
    readonly marker: Marker,
    readonly root: string,
  ) {}

  get id(): string {
    return this.marker.id
  }

  get host(): Netns {
    const name = `${NETNS_PREFIX}${this.id}-host`
    return {name, path: netnsPath(name)}
  }

  /** The per-run directory standing in for a host path (e.g. '/var/lib/cni'). */
  hostPath(path: (typeof SANDBOXED_PATHS)[number]): string {
    return join(this.root, path === '/var/lib/cni' ? 'var-lib-cni' : 'run-cni')
  }

  static async create(opts: SandboxOptions = {}): Promise<Sandbox> {
    // Ctrl-C's cleanups have taken their list already: this one would be left behind.
    if (cleaningUp()) throw new Error('not making a sandbox: cnidbg is cleaning up after a signal')
    const id = newRunId()
    const root = makeTempDir(`cnidbg-${id}-`)
    const marker = ownMarker(id, opts.label ?? 'sandbox', opts.persistent ?? false)
    marker.dirs.push(root)
    marker.netns.push(`${NETNS_PREFIX}${id}-host`)
    // The marker goes down before anything else, so a crash at any later point is reapable.
    writeMarker(marker)
    const sb = new Sandbox(marker, root)
    if (!opts.persistent) sb.unregister = onCleanup(`sandbox ${id}`, () => sb.dispose())
    try {
      for (const p of SANDBOXED_PATHS) {
        mkdirSync(p, {recursive: true})
        mkdirSync(sb.hostPath(p), {recursive: true, mode: 0o700})
      }
      await sb.make(sb.host.name)
    } catch (error) {
      await sb.dispose()
      throw error
    }
    return sb
  }

  /** Re-opens a kept sandbox by id (the `del` that matches an `add --sandbox`). */
  static open(id: string): Sandbox | undefined {
    const marker = readMarker(id)
    // Other markers share the id space (e.g. `exec add --netns auto` without --sandbox keeps only a
    // netns); they have no host namespace or private dirs and must not be run in.
    if (!marker || !marker.dirs[0] || !marker.netns.includes(`${NETNS_PREFIX}${id}-host`)) return undefined
    return new Sandbox(marker, marker.dirs[0] ?? '')
  }

  /** A container namespace owned by this sandbox (removed with it). */
  async addNetns(role: string): Promise<Netns> {
    // Once removed (by Ctrl-C's cleanup while a caller still works), a namespace or marker made now would stay.
    if (this.disposed) throw new Error(`sandbox ${this.id} is removed`)
    const name = `${NETNS_PREFIX}${this.id}-${role}`
    this.marker.netns.push(name)
    writeMarker(this.marker)
    return this.make(name)
  }

  private make(name: string): Promise<Netns> {
    const made = createNetns(name)
    const settled = made.then(
      () => undefined,
      () => undefined,
    )
    this.making.add(settled)
    void settled.then(() => this.making.delete(settled))
    return made
  }

  /**
   * Removes a container namespace of this sandbox, once the kernel has also taken away the links in
   * `peersIn` (by default the sandboxed host) whose other end was in it (deleteNetnsSettled).
   */
  async removeNetns(name: string, peersIn: string | undefined = this.host.name): Promise<void> {
    await deleteNetnsSettled(name, peersIn)
    this.marker.netns = this.marker.netns.filter((n) => n !== name)
    // A removed sandbox's marker is gone, and stays gone.
    if (!this.disposed) writeMarker(this.marker)
  }

  /** The sandboxed host as a HostView: its netns and its private /var/lib/cni and /run/cni. */
  get view(): HostView {
    return {netns: this.host.name, varLibCni: this.hostPath('/var/lib/cni'), runCni: this.hostPath('/run/cni')}
  }

  /**
   * Runs a program in the sandboxed host: its netns with its own /sys, and the private /var/lib/cni
   * and /run/cni. Every program of this process enters one mount namespace (HostViewMounts).
   */
  run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.mounts ??= new HostViewMounts(this.view)
    return this.mounts.run(file, args, opts)
  }

  /**
   * Lets a sandbox outlive this process (an `exec add --sandbox` that worked): the marker loses its
   * owner pid, so reapers leave it for the matching `del`, and Ctrl-C no longer removes it. Until
   * then it is an ordinary run sandbox, removed by Ctrl-C and reaped after a SIGKILL.
   */
  keep(): void {
    this.unregister()
    this.unregister = () => {}
    Object.assign(this.marker, {persistent: true, pid: null, pidStart: null})
    writeMarker(this.marker)
  }

  /**
   * Removes the namespaces, the dirs and the marker, and stops what still runs inside. A second call,
   * and the signal cleanup, get the removal under way. Its cleanup stays registered until the removal is
   * done: a Ctrl-C in the middle (the stop of a process that ignores SIGTERM takes seconds) then waits
   * for it, where it used to find nothing to do and exit halfway, leaving all of it.
   */
  dispose(): Promise<void> {
    this.disposing ??= this.remove().finally(() => this.unregister())
    return this.disposing
  }

  private async remove(): Promise<void> {
    this.disposed = true
    await Promise.all(this.making)
    // First: the mount namespace holds the host netns's /sys, and so the namespace itself.
    this.mounts?.close()
    // The namespaces are searched for what still runs in them before they go (markers.ts): a process a
    // plugin left outside its process group (one that called setsid, a daemon it started), which the
    // group kill of its call missed; a plugin an earlier, killed run left in a kept sandbox; after a
    // signal, a program started while the cleanups ran, which registered its own stop too late (a
    // case's plugin server once outlived a Ctrl-C this way). About a millisecond per 100 processes.
    await releaseMarker(this.marker, {stopProcesses: true})
    rmSync(this.root, {recursive: true, force: true})
  }
}
