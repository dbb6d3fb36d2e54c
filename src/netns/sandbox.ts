import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {onCleanup} from '../process/cleanup.js'
import {run, type RunOptions, type RunResult} from '../process/exec.js'
import {newRunId, ownMarker, readMarker, releaseMarker, writeMarker, type Marker} from './markers.js'
import {createNetns, deleteNetns, NETNS_PREFIX, netnsPath, type Netns} from './netns.js'

/** The host paths a sandbox hides behind per-run directories (plugin state: IPAM, caches, locks). */
export const SANDBOXED_PATHS = ['/var/lib/cni', '/run/cni'] as const

// Runs in a fresh private mount namespace: bind the per-run dirs over the host paths, then enter the
// host netns with `ip netns exec` (which also remounts /sys, so sysfs shows the sandbox's links).
const ENTER_SCRIPT =
  'lib=$1 run=$2 ns=$3; shift 3; mount --bind "$lib" /var/lib/cni && mount --bind "$run" /run/cni && exec ip netns exec "$ns" "$@"'

/** A "host" for plugins: a network namespace plus the dirs standing in for its /var/lib/cni and /run/cni. */
export interface HostView {
  /** Name under /run/netns. */
  netns: string
  varLibCni: string
  runCni: string
}

/**
 * The argv that runs a program as if on the host `view` describes: in a private mount namespace with
 * its dirs bind-mounted over /var/lib/cni and /run/cni, inside its network namespace. Plugins keep
 * their state (IPAM, caches, locks) at the usual paths, and each host gets its own. Every value is its
 * own argv element (the script reads them as "$@"). The mount points are made if missing.
 */
export function hostViewArgv(view: HostView, file: string, args: readonly string[]): string[] {
  for (const p of SANDBOXED_PATHS) mkdirSync(p, {recursive: true})
  return [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    '--',
    'sh',
    '-c',
    ENTER_SCRIPT,
    'cnidbg-sandbox',
    view.varLibCni,
    view.runCni,
    view.netns,
    file,
    ...args,
  ]
}

/** Runs a program on the host `view` describes (hostViewArgv). Used by Sandbox and by the lab's nodes. */
export function runInHostView(
  view: HostView,
  file: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const [cmd, ...rest] = hostViewArgv(view, file, args)
  return run(cmd!, rest, opts)
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
    const id = newRunId()
    const root = mkdtempSync(join(tmpdir(), `cnidbg-${id}-`))
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
      await createNetns(sb.host.name)
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
    const name = `${NETNS_PREFIX}${this.id}-${role}`
    this.marker.netns.push(name)
    writeMarker(this.marker)
    return createNetns(name)
  }

  async removeNetns(name: string): Promise<void> {
    await deleteNetns(name)
    this.marker.netns = this.marker.netns.filter((n) => n !== name)
    writeMarker(this.marker)
  }

  /** Runs a program in the sandboxed host: its netns, with the private /var/lib/cni and /run/cni. */
  run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return runInHostView(
      {netns: this.host.name, varLibCni: this.hostPath('/var/lib/cni'), runCni: this.hostPath('/run/cni')},
      file,
      args,
      opts,
    )
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
   * Removes the namespaces, the dirs and the marker. Safe to call twice. `stopProcesses` for a kept
   * sandbox, which an earlier, killed run may have left a plugin running in (markers.ts).
   */
  async dispose(opts: {stopProcesses?: boolean} = {}): Promise<void> {
    this.unregister()
    await releaseMarker(this.marker, opts)
    rmSync(this.root, {recursive: true, force: true})
  }
}
