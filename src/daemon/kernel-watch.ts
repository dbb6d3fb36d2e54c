/**
 * The daemon's subscription to the node's kernel: one long-lived `ip -o monitor` in the node's
 * namespace, so a route, neighbour or FDB entry deleted or changed by hand is repaired as soon as the
 * kernel reports it, and an idle node costs no process at all between changes. Without it, finding
 * drift within seconds meant reading the whole node (two processes) every few seconds.
 *
 * Events only say that something changed: the reconcile that follows still reads everything and
 * diffs (daemon.ts is level-triggered), so a lost or misread event costs a delay, never a wrong
 * state. The daemon's slow full check catches what no event shows (a deleted subnet file).
 */
import {watchLines, type LineWatch} from '../process/watch.js'

/** `ip -o monitor label`: one line per event, each starting with its kind ([LINK], [ROUTE] …). */
export const MONITOR_ARGS = ['-o', 'monitor', 'label', 'link', 'address', 'route', 'neigh'] as const

/** What the daemon reads of the node, for telling its events from the rest. */
export interface WatchScope {
  /** Links whose state or addresses the daemon reads: its own devices (the VTEP) and the underlay. */
  devices: readonly string[]
  /** Devices whose neighbour and FDB tables the daemon owns. */
  neighDevs: readonly string[]
  fdbDevs: readonly string[]
  /** The protocol number of the daemon's routes. */
  routeProto: number
}

const ROUTE_TYPES = new Set([
  'unicast',
  'local',
  'broadcast',
  'multicast',
  'anycast',
  'unreachable',
  'blackhole',
  'prohibit',
  'throw',
  'nat',
])

/**
 * Whether an `ip -o monitor label` line can change what a reconcile reads or decides. Pods come and
 * go on a busy node, each with a veth, an address, a host route and neighbour entries that change
 * with traffic; none of that is the daemon's, so it must not wake a reconcile, which reads the whole
 * node. What is kept:
 *  - a link or address event on a device the daemon reads (its VTEP, the underlay);
 *  - a route event for one of its routes (its proto), or for an IPv4 prefix that is not a single host
 *    (a peer's pod CIDR held by a foreign route it must report, a default route), in any table but
 *    `local`;
 *  - a neighbour or FDB event (`ip monitor neigh` reports both) on a device whose tables it owns.
 * A line in a form not known here is kept: a reconcile too many costs a read, one too few a repair.
 */
export function relevantEvent(line: string, scope: WatchScope): boolean {
  const m = /^\[([A-Z]+)\](?:Deleted )?(.*)$/.exec(line)
  if (!m) return true
  const [, kind, body = ''] = m
  switch (kind) {
    case 'LINK':
    case 'ADDR': {
      // "4: cnidbg.1: <…>", "3: v0@v1: <…>", "2: eth0    inet …"
      const name = /^\d+: ([^\s:@]+)/.exec(body)?.[1]
      return name === undefined || scope.devices.includes(name)
    }
    case 'ROUTE': {
      const words = body.split(/\s+/)
      const after = (key: string) => words[words.indexOf(key) + 1]
      if (words.includes('proto') && after('proto') === String(scope.routeProto)) return true
      if (words.includes('table') && after('table') === 'local') return false
      const dst = ROUTE_TYPES.has(words[0]!) ? words[1] : words[0]
      if (dst === undefined) return true
      if (dst === 'default') return true
      // IPv6 (the daemon keeps IPv4 only) and single hosts (a pod's route) are not the daemon's.
      return !dst.includes(':') && dst.includes('/') && !dst.endsWith('/32')
    }
    case 'NEIGH': {
      const dev = /(?:^|\s)dev (\S+)/.exec(body)?.[1]
      return dev === undefined || scope.neighDevs.includes(dev) || scope.fdbDevs.includes(dev)
    }
    default:
      return true
  }
}

export interface KernelWatchStatus {
  /** `watching`: events arrive as they happen; otherwise the daemon checks on its --interval timer. */
  state: 'off' | 'watching' | 'restarting'
  /** Events that started a reconcile (or joined one about to start). */
  events: number
  /** Times the monitor had to be started again. */
  restarts: number
  /** Why it last stopped, or what it last reported on stderr (lost events). */
  lastError?: string
}

export interface KernelWatchOptions {
  /** The node's namespace (`ip -n`); undefined = the daemon's own. */
  netns?: string
  scope: WatchScope
  /** A change the daemon should look at, or a moment when events may have been missed. */
  onChange: (why: string) => void
  log: (msg: string) => void
  backoffInitialMs: number
  backoffMaxMs: number
  /** The program to run (tests); `ip` with MONITOR_ARGS by default. */
  command?: {file: string; args: readonly string[]}
}

export class KernelWatch {
  private proc: LineWatch | undefined
  private retry: NodeJS.Timeout | undefined
  private backoffMs: number
  private state: KernelWatchStatus['state'] = 'off'
  private events = 0
  private restarts = 0
  private lastError: string | undefined

  constructor(private readonly opts: KernelWatchOptions) {
    this.backoffMs = opts.backoffInitialMs
  }

  /** Whether events arrive now; while not, the daemon has to look for itself. */
  get live(): boolean {
    return this.state === 'watching'
  }

  status(): KernelWatchStatus {
    return {
      state: this.state,
      events: this.events,
      restarts: this.restarts,
      ...(this.lastError ? {lastError: this.lastError} : {}),
    }
  }

  start(): void {
    if (this.state !== 'off') return
    this.spawn()
  }

  async stop(): Promise<void> {
    this.state = 'off'
    if (this.retry) clearTimeout(this.retry)
    this.retry = undefined
    const proc = this.proc
    this.proc = undefined
    await proc?.stop()
  }

  private spawn(): void {
    const {file, args} = this.opts.command ?? {
      file: 'ip',
      args: [...(this.opts.netns ? ['-n', this.opts.netns] : []), ...MONITOR_ARGS],
    }
    this.state = 'watching'
    const proc = watchLines(file, args, {
      onLine: (line) => {
        if (!relevantEvent(line, this.opts.scope)) return
        this.events++
        // A healthy stream resets the backoff: the next failure starts again from the shortest wait.
        this.backoffMs = this.opts.backoffInitialMs
        this.opts.onChange('kernel event')
      },
      onStderr: (text) => {
        // iproute2 reports a full socket buffer (ENOBUFS) and goes on: events were dropped.
        this.lastError = text.trim().slice(0, 300)
        this.opts.onChange('kernel events lost')
      },
      onExit: (why) => {
        if (this.proc !== proc) return
        this.proc = undefined
        this.state = 'restarting'
        this.lastError = why.slice(0, 300)
        this.opts.log(
          `kernel watch stopped (${this.lastError}); checking on the timer, restarting in ${this.backoffMs / 1000} s`,
        )
        // What happened while nothing watched is found by the reconcile the timer now runs.
        this.opts.onChange('kernel watch lost')
        this.retry = setTimeout(() => {
          this.retry = undefined
          if (this.state !== 'restarting') return
          this.restarts++
          this.spawn()
          // Changes between the loss and now were not reported.
          this.opts.onChange('kernel watch restarted')
        }, this.backoffMs)
        this.retry.unref()
        this.backoffMs = Math.min(this.backoffMs * 2, this.opts.backoffMaxMs)
      },
    })
    this.proc = proc
  }
}
