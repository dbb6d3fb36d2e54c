/**
 * How a node's (or pod's) kernel state is read. Trace's engine only sees a KernelReader: the local
 * implementation here enters the namespace (one `sh` per snapshot, so ~8 reads cost one exec); the
 * node agent (src/agent) serves the same snapshots over HTTPS to a reader on another machine; the
 * daemon's /diag (src/trace/diag-reader.ts) maps onto the same shapes and says what it can't provide
 * (route lookups, sysctls, netfilter), which the engine then reports as `unknown`.
 */
import {readFileSync} from 'node:fs'

import {runInNetns} from '../netns/index.js'
import {tempDir} from './multi-exec.js'

export interface LinkInfo {
  ifindex: number
  ifname: string
  flags: string[]
  mtu: number
  operstate: string
  address?: string
  /** veth: the peer's ifindex (in the peer's namespace). */
  link_index?: number
  link_netnsid?: number
  master?: string
  linkinfo?: {info_kind?: string; info_data?: Record<string, unknown>}
  addr_info?: Array<{family: string; local: string; prefixlen: number; scope?: string}>
  stats64?: {
    rx?: {packets?: number; bytes?: number; dropped?: number; errors?: number}
    tx?: {packets?: number; bytes?: number; dropped?: number; errors?: number}
  }
}

export interface RouteEntry {
  type?: string
  dst: string
  gateway?: string
  dev?: string
  table?: string
  flags?: string[]
  scope?: string
  prefsrc?: string
  protocol?: string
  metric?: number
  /** Only in `ip route get` answers. */
  iif?: string
  from?: string
}

export interface NeighEntry {
  dst: string
  dev: string
  lladdr?: string
  state?: string[]
}

export interface FdbEntry {
  mac: string
  ifname?: string
  dst?: string
  flags?: string[]
  state?: string
  master?: string
}

export interface RouteQuery {
  dst: string
  from?: string
  iif?: string
  /**
   * Instead of naming iif: use the device the namespace routes this address through (the pod's host
   * veth, via its /32 route). Resolved inside the same exec, so no second round is needed; the
   * answer says which device it was (`iif`).
   */
  iifFor?: string
}

/**
 * `unavailable`: the reader can't do lookups (remote), as opposed to the kernel answering an error.
 * `iif`: the ingress device used (for `iifFor` queries, the one that was resolved).
 */
export type RouteGetAnswer =
  {ok: true; route: RouteEntry; iif?: string} | {ok: false; error: string; unavailable?: boolean; iif?: string}

export type SnapshotPart = 'links' | 'routes' | 'neigh' | 'fdb' | 'sysctls' | 'iptables' | 'nft'

export const ALL_PARTS: readonly SnapshotPart[] = ['links', 'routes', 'neigh', 'fdb', 'sysctls', 'iptables', 'nft']

export interface SnapshotRequest {
  parts?: readonly SnapshotPart[]
  /** `ip route get` lookups done in the same exec (so the kernel decides, with the same state). */
  routeGets?: readonly RouteQuery[]
}

export interface KernelSnapshot {
  /** Links with their addresses and counters (`ip -d -s -j addr show`). */
  links: LinkInfo[]
  /** IPv4 routes of every table (`ip -4 -j route show table all`). */
  routes: RouteEntry[]
  neigh: NeighEntry[]
  fdb: FdbEntry[]
  /** Keyed by the /proc/sys path below /proc/sys, e.g. `net/ipv4/conf/eth0/rp_filter`. */
  sysctls: Record<string, string>
  /** `iptables-save -c` text ('' when iptables is absent or has no tables). */
  iptables?: string
  /** Parsed `nft -j list ruleset`. */
  nft?: unknown
  /** One answer per requested route lookup, in order. */
  routeGets: RouteGetAnswer[]
  /** Parts the reader could not provide (the engine reports checks that need them as unknown). */
  missing: string[]
  readMs: number
}

export interface KernelReader {
  /** What this reader reads, for notes: `netns /run/netns/x` or `diag http://…`. */
  readonly describe: string
  /** Whether live probes and captures can run here (local namespace access). */
  readonly local: boolean
  /** The namespace path, for local readers. */
  readonly netnsPath?: string
  snapshot(req?: SnapshotRequest): Promise<KernelSnapshot>
}

const SECTION = '@@cnidbg-trace-section@@'

/** Parts read by `ip` go through ONE `ip -batch` process; the rest are one process each. */
const IP_BATCH_PART: Partial<Record<SnapshotPart, string>> = {
  links: 'addr show',
  routes: 'route show table all',
  neigh: 'neigh show',
}

/** Shell lines for the other parts. They run in the target namespace; stderr is dropped where absence is normal. */
const PART_CMD: Partial<Record<SnapshotPart, string>> = {
  fdb: 'bridge -j fdb show 2>/dev/null',
  sysctls:
    'grep -H . /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/*/rp_filter /proc/sys/net/ipv4/conf/*/forwarding 2>/dev/null',
  iptables: 'iptables-save -c 2>/dev/null',
  nft: 'nft -j list ruleset 2>/dev/null',
}

const SAFE_ARG = /^[A-Za-z0-9._:@/-]+$/

/** Whether a route query value may go into the read script (addresses and interface names only). */
export const isSafeArg = (v: string): boolean => SAFE_ARG.test(v)

function parseJsonArray<T>(text: string): T[] {
  const t = text.trim()
  if (!t) return []
  try {
    const v = JSON.parse(t) as unknown
    return Array.isArray(v) ? (v as T[]) : []
  } catch {
    return []
  }
}

export function parseSysctls(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const i = line.indexOf(':')
    if (i < 0) continue
    const path = line.slice(0, i).replace(/^\/proc\/sys\//, '')
    out[path] = line.slice(i + 1).trim()
  }
  return out
}

export function parseRouteGet(text: string): RouteGetAnswer {
  const t = text.trim()
  if (t.startsWith('[')) {
    const routes = parseJsonArray<RouteEntry>(t)
    if (routes[0]) return {ok: true, route: routes[0]}
  }
  const msg = t.replace(/^RTNETLINK answers:\s*/i, '').split('\n')[0] ?? ''
  return {ok: false, error: msg || 'no answer'}
}

/**
 * Splits `ip -force -batch` output: stdout has one line per successful command, stderr an error
 * message followed by `Command failed -:N` for each failed one. Returns per-command text (the JSON
 * line, or the error message).
 */
export function splitIpBatch(stdout: string, stderr: string, count: number): Array<{ok: boolean; text: string}> {
  const failed = new Map<number, string>()
  let pending: string[] = []
  for (const line of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)/.exec(line.trim())
    if (m) {
      failed.set(Number(m[1]), pending.join(' ').trim())
      pending = []
    } else if (line.trim()) {
      pending.push(line.trim())
    }
  }
  const lines = stdout.split('\n').filter((l) => l.trim())
  const out: Array<{ok: boolean; text: string}> = []
  let next = 0
  for (let i = 1; i <= count; i++) {
    if (failed.has(i)) out.push({ok: false, text: failed.get(i) || 'failed'})
    else out.push({ok: true, text: lines[next++] ?? ''})
  }
  return out
}

/** IPv6 entries come with `ip route/neigh show` in a batch (no per-command -4): drop them. */
function v4(e: {dst?: string; gateway?: string}): boolean {
  return !(e.dst ?? '').includes(':') && !(e.gateway ?? '').includes(':')
}

export interface SnapshotJob {
  nsPath: string
  script: string
  args: string[]
  /** Where the script leaves `ip -batch`'s stderr (read by parse()). */
  errFile: string
}

/** Reads a namespace on this machine (by path, entered with nsenter). */
export class LocalKernelReader implements KernelReader {
  readonly local = true
  readonly describe: string

  constructor(readonly netnsPath: string) {
    this.describe = `netns ${netnsPath}`
  }

  async snapshot(req: SnapshotRequest = {}): Promise<KernelSnapshot> {
    const started = performance.now()
    const dir = tempDir('cnidbg-read-')
    try {
      const job = this.job(req, dir.path)
      const r = await runInNetns(this.netnsPath, 'sh', ['-c', job.script, 'cnidbg-trace', ...job.args], {
        timeoutMs: 10_000,
      })
      const snap = this.parse(req, r, job.errFile)
      snap.readMs = performance.now() - started
      return snap
    } finally {
      dir.remove()
    }
  }

  /**
   * The script (and its positional arguments) that reads `req`, for batching with other jobs.
   * `scratchDir` holds the file `ip -batch` writes its errors to.
   */
  job(req: SnapshotRequest, scratchDir: string): SnapshotJob {
    const parts = req.parts ?? ALL_PARTS
    const queries = req.routeGets ?? []
    const errFile = `${scratchDir}/ip-${Math.random().toString(36).slice(2, 10)}.err`
    const args: string[] = [errFile]
    const param = (v: string) => {
      if (!SAFE_ARG.test(v)) throw new Error(`unsafe route query argument: ${v}`)
      args.push(v)
      return `\${${args.length}}`
    }
    // devof: the device this namespace routes $1 through, into $DEV (builtins only, one ip exec).
    const head: string[] = [
      'E=$1',
      'devof() { set -- $(ip -o route get "$1" 2>/dev/null); DEV=; while [ $# -gt 1 ]; do [ "$1" = dev ] && { DEV=$2; return; }; shift; done; }',
    ]
    const batch: string[] = []
    for (const p of parts) {
      const cmd = IP_BATCH_PART[p]
      if (cmd) batch.push(cmd)
    }
    queries.forEach((q, i) => {
      let line = `route get ${param(q.dst)}`
      if (q.from) line += ` from ${param(q.from)}`
      if (q.iifFor) {
        // The device this namespace routes iifFor through (the pod's host veth), resolved here.
        head.push(`devof ${param(q.iifFor)}; d${i}=$DEV; echo "iif${i}=$DEV"`)
        line += ` iif \${d${i}:-none}`
      } else if (q.iif) {
        line += ` iif ${param(q.iif)}`
      }
      batch.push(line)
    })
    const lines = [...head, `echo ${SECTION}`]
    // A here-document, not a pipeline: no extra fork. The lines expand $N/$dN; all values are checked.
    if (batch.length) lines.push(`ip -j -d -s -force -batch - 2> "$E" <<CNIDBG_EOF\n${batch.join('\n')}\nCNIDBG_EOF`)
    lines.push(`echo ${SECTION}`)
    for (const p of parts) {
      const cmd = PART_CMD[p]
      if (cmd) lines.push(cmd, `echo ${SECTION}`)
    }
    return {nsPath: this.netnsPath, script: lines.join('\n'), args, errFile}
  }

  /** Turns the job's output into a snapshot. */
  parse(
    req: SnapshotRequest,
    r: {stdout: string; stderr: string; exitCode: number | null},
    errFile: string,
  ): KernelSnapshot {
    const parts = req.parts ?? ALL_PARTS
    const queries = req.routeGets ?? []
    const sections = r.stdout.split(`${SECTION}\n`)
    const snap: KernelSnapshot = {
      links: [],
      routes: [],
      neigh: [],
      fdb: [],
      sysctls: {},
      routeGets: [],
      missing: [],
      readMs: 0,
    }
    const others = parts.filter((p) => PART_CMD[p])
    if (sections.length < 2 + others.length) {
      snap.missing.push(
        ...parts,
        ...(queries.length ? ['routeGet'] : []),
        `exec: ${r.stderr.trim() || `exit ${r.exitCode}`}`,
      )
      snap.routeGets = queries.map(() => ({ok: false, error: 'namespace not readable', unavailable: true}))
      return snap
    }
    const resolved = new Map<number, string>()
    for (const line of (sections[0] ?? '').split('\n')) {
      const m = /^iif(\d+)=(.*)$/.exec(line)
      if (m && m[2]) resolved.set(Number(m[1]), m[2])
    }
    let err = ''
    try {
      err = readFileSync(errFile, 'utf8')
    } catch {
      // no errors written
    }
    const ipParts = parts.filter((p) => IP_BATCH_PART[p])
    const answers = splitIpBatch(sections[1] ?? '', err, ipParts.length + queries.length)
    ipParts.forEach((p, i) => {
      const a = answers[i]!
      if (!a.ok) {
        snap.missing.push(p)
        return
      }
      if (p === 'links') snap.links = parseJsonArray<LinkInfo>(a.text)
      if (p === 'routes') snap.routes = parseJsonArray<RouteEntry>(a.text).filter(v4)
      if (p === 'neigh') snap.neigh = parseJsonArray<NeighEntry>(a.text).filter(v4)
    })
    snap.routeGets = queries.map((q, i) => {
      const a = answers[ipParts.length + i]!
      const ans = a.ok ? parseRouteGet(a.text) : parseRouteGet(a.text || 'failed')
      const iif = q.iifFor ? resolved.get(i) : q.iif
      if (iif) ans.iif = iif
      return ans
    })
    others.forEach((p, i) => {
      const text = sections[2 + i] ?? ''
      switch (p) {
        case 'fdb':
          snap.fdb = parseJsonArray<FdbEntry>(text)
          break
        case 'sysctls':
          snap.sysctls = parseSysctls(text)
          break
        case 'iptables':
          snap.iptables = text
          break
        case 'nft':
          try {
            snap.nft = text.trim() ? JSON.parse(text) : undefined
          } catch {
            snap.nft = undefined
          }
          break
      }
    })
    return snap
  }
}
