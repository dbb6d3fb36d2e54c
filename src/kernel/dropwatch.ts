/**
 * Kernel drop reasons from the `skb:kfree_skb` tracepoint (Linux ≥ 5.17 carries `reason:`).
 * We use a private tracefs *instance* (instances/cnidbg-…): its own ring buffer and event switches,
 * so the global trace state and anyone else's tracing stay untouched. tracefs is mounted at
 * /sys/kernel/tracing when nothing is mounted (source name `cnidbg-tracefs`, so it is recognisable),
 * and unmounted again by the last cnidbg user. The tracepoint is machine-wide and has no addresses,
 * so drops are correlated by time window, protocol (IPv4) and the task that was running.
 */
import {existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'

import {onCleanup, run} from '../netns/index.js'

const TRACEFS_DEFAULT = '/sys/kernel/tracing'
const OUR_SOURCE = 'cnidbg-tracefs'
const INSTANCE_PREFIX = 'cnidbg-'

export interface DropEvent {
  comm: string
  pid: number
  location: string
  reason: string
  timestamp: number
}

export interface DropSummary {
  reason: string
  location: string
  comm: string
  count: number
}

interface TracefsMount {
  path: string
  ours: boolean
}

function findTracefs(): TracefsMount | undefined {
  try {
    for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const [source, target, type] = line.split(' ')
      if (type === 'tracefs' && target) return {path: target, ours: source === OUR_SOURCE}
    }
  } catch {
    // no /proc: no tracing
  }
  return undefined
}

/**
 * One lock per mount namespace: a tracefs mount is seen only in the namespace that made it, so only
 * processes sharing one can unmount under each other. Keyed by the namespace, a process with its own
 * (a lab node pod, whose /run is an overlay on the host's) never meets the host's lock through a
 * lower layer that changes underneath it.
 */
const LOCK_DIR = join(
  process.env.CNIDBG_RUN_DIR ? join(process.env.CNIDBG_RUN_DIR, '..') : '/run/cnidbg',
  `tracefs.lock.${mountNamespace()}`,
)

function mountNamespace(): string {
  try {
    return String(statSync('/proc/self/ns/mnt').ino)
  } catch {
    return 'unknown'
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** How long a lock may be without its owner's pid: its maker writes the pid right after the mkdir. */
const LOCK_NO_PID_MS = 2000

/** Whether the lock at `dir` has had no readable pid for LOCK_NO_PID_MS (its maker died in between). */
function pidlessTooLong(dir: string): boolean {
  try {
    return Date.now() - statSync(dir).mtimeMs > LOCK_NO_PID_MS
  } catch {
    return false
  }
}

/**
 * Serializes mount / instance creation / unmount across cnidbg processes (two traces at once must
 * not unmount tracefs under each other, which would orphan an instance). mkdir is atomic; a lock
 * whose owner died is taken over, and so is one left without a pid by an owner that died between
 * its mkdir and its write (every later trace was refused as busy until /run was cleared).
 */
async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  mkdirSync(dirname(LOCK_DIR), {recursive: true, mode: 0o700})
  const deadline = Date.now() + 3000
  for (;;) {
    try {
      mkdirSync(LOCK_DIR)
      writeFileSync(join(LOCK_DIR, 'pid'), String(process.pid))
      break
    } catch {
      let owner = 0
      try {
        owner = Number(readFileSync(join(LOCK_DIR, 'pid'), 'utf8'))
      } catch {
        // being written or removed
      }
      // A dead owner's lock is taken over. Every way round the loop waits and meets the deadline: on a
      // view of /run where the removal does not show (a lab pod's /run is an overlay on the host's,
      // which changes underneath it) the same lock is back at once, and retrying without a pause spun
      // the agent's event loop for good.
      const stale = owner > 0 ? !alive(owner) : pidlessTooLong(LOCK_DIR)
      if (stale) rmSync(LOCK_DIR, {recursive: true, force: true})
      if (Date.now() > deadline) throw new Error('tracefs lock busy')
      await new Promise((r) => setTimeout(r, 10))
    }
  }
  try {
    return await fn()
  } finally {
    rmSync(LOCK_DIR, {recursive: true, force: true})
  }
}

/** Instances left by cnidbg processes that died (SIGKILL): disable their event and remove them. */
function reapStaleInstances(mount: string): void {
  let names: string[] = []
  try {
    names = readdirSync(join(mount, 'instances')).filter((n) => n.startsWith(INSTANCE_PREFIX))
  } catch {
    return
  }
  for (const n of names) {
    const pid = Number(/^cnidbg-(\d+)-/.exec(n)?.[1] ?? 0)
    if (!pid || alive(pid)) continue
    try {
      writeFileSync(join(mount, 'instances', n, 'events/skb/kfree_skb/enable'), '0')
    } catch {
      // not enabled there
    }
    try {
      rmdirSync(join(mount, 'instances', n))
    } catch {
      // busy: leave it
    }
  }
}

/** Parses lines of an instance's `trace` file. */
export function parseKfreeSkb(text: string): DropEvent[] {
  const out: DropEvent[] = []
  const re = /^\s*(.+?)-(\d+)\s+\[\d+\]\s+\S+\s+([\d.]+):\s+kfree_skb:.*?location=(\S+)\s+reason:\s+(\S+)/
  for (const line of text.split('\n')) {
    const m = re.exec(line)
    if (!m) continue
    out.push({comm: m[1]!.trim(), pid: Number(m[2]), timestamp: Number(m[3]), location: m[4]!, reason: m[5]!})
  }
  return out
}

export function summarizeDrops(events: DropEvent[]): DropSummary[] {
  const map = new Map<string, DropSummary>()
  for (const e of events) {
    if (e.reason === 'NOT_SPECIFIED') continue
    const location = e.location.replace(/\+0x[0-9a-f]+\/0x[0-9a-f]+$/, '')
    const key = `${e.reason}|${location}|${e.comm}`
    const s = map.get(key) ?? {reason: e.reason, location, comm: e.comm, count: 0}
    s.count++
    map.set(key, s)
  }
  return [...map.values()].sort((a, b) => b.count - a.count)
}

/**
 * The kfree_skb filter: IPv4 only, and not the catch-all NOT_SPECIFIED, the bulk of all drops. Its
 * number is the kernel's enum's (2 from Linux 6.2, 1 before, where 2 is NO_SOCKET), so it is read from
 * the event's `format`, whose print fmt maps each number to its name (`{ 2, "NOT_SPECIFIED" }`).
 * Without that mapping, IPv4 only: summarizeDrops leaves NOT_SPECIFIED out by name anyway.
 */
export function kfreeSkbFilter(format: string): string {
  const m = /\{\s*(\d+)\s*,\s*"NOT_SPECIFIED"\s*\}/.exec(format)
  return m ? `protocol == 2048 && reason != ${m[1]}` : 'protocol == 2048'
}

/** A running kfree_skb capture. */
export class DropWatch {
  private constructor(
    private readonly mount: TracefsMount,
    private readonly instance: string,
    private readonly unregister: () => void,
  ) {}

  /** Starts watching, or returns a note saying why it can't. */
  static async start(): Promise<DropWatch | string> {
    let setup: {mount: TracefsMount; instance: string} | string
    try {
      setup = await withLock(async () => {
        let mount = findTracefs()
        if (!mount) {
          if (!existsSync(TRACEFS_DEFAULT)) return 'tracefs: /sys/kernel/tracing does not exist'
          const r = await run('mount', ['-t', 'tracefs', OUR_SOURCE, TRACEFS_DEFAULT], {timeoutMs: 5000})
          if (r.exitCode !== 0) return `tracefs: mount failed: ${r.stderr.trim()}`
          mount = {path: TRACEFS_DEFAULT, ours: true}
        }
        reapStaleInstances(mount.path)
        if (!existsSync(join(mount.path, 'events', 'skb', 'kfree_skb'))) {
          await DropWatch.releaseLocked(mount)
          return 'tracefs: no skb:kfree_skb event in this kernel'
        }
        const instance = join(
          mount.path,
          'instances',
          `${INSTANCE_PREFIX}${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
        )
        try {
          mkdirSync(instance)
        } catch (err) {
          await DropWatch.releaseLocked(mount)
          return `tracefs: cannot create an instance: ${(err as Error).message}`
        }
        return {mount, instance}
      })
    } catch (err) {
      return `tracefs: ${(err as Error).message}`
    }
    if (typeof setup === 'string') return setup
    const {mount, instance} = setup
    const unregister = onCleanup('remove tracefs instance', () => {
      try {
        writeFileSync(join(instance, 'events/skb/kfree_skb/enable'), '0')
        rmdirSync(instance)
      } catch {
        // already gone
      }
      return DropWatch.release(mount)
    })
    const dir = join(instance, 'events', 'skb', 'kfree_skb')
    try {
      let format = ''
      try {
        format = readFileSync(join(dir, 'format'), 'utf8')
      } catch {
        // no format: IPv4 only
      }
      try {
        writeFileSync(join(dir, 'filter'), kfreeSkbFilter(format))
      } catch {
        writeFileSync(join(dir, 'filter'), 'protocol == 2048')
      }
      writeFileSync(join(dir, 'enable'), '1')
    } catch (err) {
      const w = new DropWatch(mount, instance, unregister)
      await w.stop()
      return `tracefs: cannot enable skb:kfree_skb: ${(err as Error).message}`
    }
    return new DropWatch(mount, instance, unregister)
  }

  /** Stops, removes the instance (and our mount when nobody else uses it), returns the events. */
  async stop(): Promise<DropEvent[]> {
    let text = ''
    try {
      writeFileSync(join(this.instance, 'events/skb/kfree_skb/enable'), '0')
      text = readFileSync(join(this.instance, 'trace'), 'utf8')
    } catch {
      // best effort
    }
    try {
      rmdirSync(this.instance)
    } catch {
      // best effort
    }
    this.unregister()
    await DropWatch.release(this.mount)
    return parseKfreeSkb(text)
  }

  /** Unmounts tracefs if cnidbg mounted it and no cnidbg instance is left in it. */
  private static async release(mount: TracefsMount): Promise<void> {
    if (!mount.ours) return
    try {
      await withLock(() => DropWatch.releaseLocked(mount))
    } catch {
      // lock busy: the other user will release it
    }
  }

  private static async releaseLocked(mount: TracefsMount): Promise<void> {
    if (!mount.ours) return
    let others: string[] = []
    try {
      others = readdirSync(join(mount.path, 'instances')).filter((n) => n.startsWith(INSTANCE_PREFIX))
    } catch {
      // gone already
    }
    if (others.length) return
    const now = findTracefs()
    if (now?.ours && now.path === mount.path) await run('umount', [mount.path], {timeoutMs: 5000})
  }
}
