/**
 * Reads a node through its daemon's read-only GET /diag (src/daemon/http.ts), for a node whose
 * namespace this machine can't enter: the answer mapped onto a KernelSnapshot, with what /diag can't
 * provide (route lookups, veths, netfilter, sometimes sysctls) listed as missing, so the engine
 * reports the checks that need them as `unknown`.
 */
import type {
  FdbEntry,
  KernelReader,
  KernelSnapshot,
  LinkInfo,
  NeighEntry,
  RouteEntry,
  SnapshotRequest,
} from '../kernel/reader.js'

/**
 * What the node daemon's GET /diag returns (cnidbg's own daemon, src/daemon). Every field is
 * optional here: the reader takes what it finds and reports the rest as missing.
 */
export interface DiagDocument {
  node?: string
  mode?: string
  nodeIP?: string | null
  podCIDR?: string | null
  iface?: string
  vtep?: {name?: string; mac?: string; mtu?: number; state?: string; present?: boolean; addresses?: string[]} | null
  underlay?: {iface?: string; ip?: string; prefix?: number; mtu?: number; up?: boolean; error?: string}
  peers?: Array<{
    node?: string
    expected?: {route?: unknown; neigh?: unknown; fdb?: unknown}
    actual?: {route?: unknown; neigh?: unknown; fdb?: unknown}
  }>
  kernel?: {ownedRoutes?: unknown[]; neighs?: unknown[]; fdbs?: unknown[]}
  /** Dotted names: net.ipv4.ip_forward, net.ipv4.conf.<dev>.rp_filter. */
  sysctls?: Record<string, string>
}

function words(s: string): string[] {
  return s.trim().split(/\s+/).filter(Boolean)
}

function after(ws: string[], key: string): string | undefined {
  const i = ws.indexOf(key)
  return i >= 0 ? ws[i + 1] : undefined
}

/** Accepts `ip route` text or an object with dst/gateway(via)/dev. */
export function toRoute(v: unknown): RouteEntry | undefined {
  if (!v) return undefined
  if (typeof v === 'string') {
    const ws = words(v)
    if (!ws[0]) return undefined
    return {
      dst: ws[0],
      gateway: after(ws, 'via'),
      dev: after(ws, 'dev'),
      flags: ws.includes('onlink') ? ['onlink'] : [],
    }
  }
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>
    const dst = o.dst ?? o.destination
    if (typeof dst !== 'string') return undefined
    const gw = o.gateway ?? o.via ?? o.gw
    return {
      dst,
      gateway: typeof gw === 'string' ? gw : undefined,
      dev: typeof o.dev === 'string' ? o.dev : undefined,
      flags: Array.isArray(o.flags) ? (o.flags as string[]) : o.onlink ? ['onlink'] : [],
    }
  }
  return undefined
}

export function toNeigh(v: unknown, defaultDev: string): NeighEntry | undefined {
  if (!v) return undefined
  if (typeof v === 'string') {
    const ws = words(v)
    if (!ws[0]) return undefined
    const state = ws.filter((w) => /^[A-Z]+$/.test(w))
    return {dst: ws[0], dev: after(ws, 'dev') ?? defaultDev, lladdr: after(ws, 'lladdr'), state}
  }
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>
    const dst = o.dst ?? o.ip
    if (typeof dst !== 'string') return undefined
    const mac = o.lladdr ?? o.mac
    const state = o.state
    return {
      dst,
      dev: typeof o.dev === 'string' ? o.dev : defaultDev,
      lladdr: typeof mac === 'string' ? mac : undefined,
      state: Array.isArray(state) ? (state as string[]) : typeof state === 'string' ? [state.toUpperCase()] : [],
    }
  }
  return undefined
}

export function toFdb(v: unknown, defaultDev: string): FdbEntry | undefined {
  if (!v) return undefined
  if (typeof v === 'string') {
    const ws = words(v)
    if (!ws[0]) return undefined
    return {mac: ws[0], dst: after(ws, 'dst'), ifname: after(ws, 'dev') ?? defaultDev, flags: ['self']}
  }
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>
    const mac = o.mac ?? o.lladdr
    if (typeof mac !== 'string') return undefined
    const dst = o.dst ?? o.ip ?? o.nodeIP
    return {
      mac,
      dst: typeof dst === 'string' ? dst : undefined,
      ifname: typeof o.dev === 'string' ? o.dev : typeof o.ifname === 'string' ? o.ifname : defaultDev,
      flags: ['self'],
    }
  }
  return undefined
}

function list(v: unknown): unknown[] {
  if (v === undefined || v === null) return []
  return Array.isArray(v) ? v : [v]
}

function addrInfo(addresses: string[] | undefined): LinkInfo['addr_info'] {
  return (addresses ?? []).map((a) => {
    const [local, len] = a.split('/')
    return {family: 'inet', local: local ?? a, prefixlen: Number(len ?? 32)}
  })
}

/** Maps a /diag document onto a (partial) snapshot. Exported for tests. */
export function snapshotFromDiag(doc: DiagDocument, vtepDevice: string): KernelSnapshot {
  const vtepName = doc.vtep?.name ?? vtepDevice
  const links: LinkInfo[] = []
  // No veths, no route lookups, no netfilter over /diag.
  const missingParts = ['routeGet', 'iptables', 'nft', 'veths']
  if (doc.vtep && doc.vtep.present !== false) {
    const state = String(doc.vtep.state ?? 'UNKNOWN').toUpperCase()
    links.push({
      ifindex: 0,
      ifname: vtepName,
      flags: state === 'DOWN' ? [] : ['UP', 'LOWER_UP'],
      mtu: Number(doc.vtep.mtu ?? 0),
      operstate: state,
      address: doc.vtep.mac,
      linkinfo: {info_kind: 'vxlan'},
      addr_info: addrInfo(doc.vtep.addresses),
    })
  }
  const ul = doc.underlay
  if (ul && !ul.error && ul.iface) {
    links.push({
      ifindex: 0,
      ifname: ul.iface,
      flags: ul.up === false ? [] : ['UP', 'LOWER_UP'],
      mtu: Number(ul.mtu ?? 0),
      operstate: ul.up === false ? 'DOWN' : 'UP',
      addr_info: ul.ip ? [{family: 'inet', local: ul.ip, prefixlen: ul.prefix ?? 32}] : [],
    })
  } else {
    missingParts.push('addresses')
  }
  const routes: RouteEntry[] = []
  const neigh: NeighEntry[] = []
  const fdb: FdbEntry[] = []
  const kernel = doc.kernel
  // The daemon's full kernel view when it has one, else what each peer's check saw.
  const routeSrc = kernel?.ownedRoutes ?? (doc.peers ?? []).flatMap((p) => list(p.actual?.route))
  const neighSrc = kernel?.neighs ?? (doc.peers ?? []).flatMap((p) => list(p.actual?.neigh))
  const fdbSrc = kernel?.fdbs ?? (doc.peers ?? []).flatMap((p) => list(p.actual?.fdb))
  for (const r of routeSrc) {
    const e = toRoute(r)
    if (e) routes.push(e)
  }
  for (const n of neighSrc) {
    const e = toNeigh(n, vtepName)
    if (e) neigh.push(e)
  }
  for (const f of fdbSrc) {
    const e = toFdb(f, vtepName)
    if (e) fdb.push(e)
  }
  const sysctls: Record<string, string> = {}
  for (const [k, v] of Object.entries(doc.sysctls ?? {})) {
    const conf = /^net\.ipv4\.conf\.(.+)\.(rp_filter|forwarding)$/.exec(k)
    if (conf) sysctls[`net/ipv4/conf/${conf[1]}/${conf[2]}`] = String(v)
    else if (k === 'net.ipv4.ip_forward') sysctls['net/ipv4/ip_forward'] = String(v)
  }
  if (!Object.keys(sysctls).length) missingParts.push('sysctls')
  return {links, routes, neigh, fdb, sysctls, routeGets: [], missing: missingParts, readMs: 0}
}

/**
 * What a snapshot read over /diag leaves unknown, in words, for the note on how a node was read: a
 * /diag that serves the sysctls has them checked, and is not said to lack them.
 */
export function diagUnknowns(snap: KernelSnapshot): string[] {
  const m = new Set(snap.missing)
  if (m.has('all')) return []
  return [
    ...(m.has('routeGet') ? ['route lookups'] : []),
    ...(m.has('sysctls') ? ['sysctls'] : []),
    ...(m.has('iptables') || m.has('nft') ? ['netfilter'] : []),
  ]
}

/** Reads a node through its daemon's read-only GET /diag, with the caller's bearer token. */
export interface RemoteDiagReaderOptions {
  /** The node's VXLAN device, when /diag names none. Default cnidbg.1. */
  vtepDevice?: string
  /** For the whole request. Default 1500 ms. */
  timeoutMs?: number
  /** The bearer token /diag's gate checks (the kubeconfig user's); never logged. */
  token?: string
}

export class RemoteDiagReader implements KernelReader {
  readonly local = false
  readonly describe: string

  readonly vtepDevice: string
  readonly timeoutMs: number
  /** The bearer token /diag's gate checks (the kubeconfig user's); never logged. */
  private readonly token?: string

  constructor(
    readonly url: string,
    opts: RemoteDiagReaderOptions = {},
  ) {
    this.describe = `diag ${url}`
    this.vtepDevice = opts.vtepDevice ?? 'cnidbg.1'
    this.timeoutMs = opts.timeoutMs ?? 1500
    this.token = opts.token
  }

  async snapshot(req: SnapshotRequest = {}): Promise<KernelSnapshot> {
    const started = performance.now()
    const base = this.url.replace(/\/+$/, '')
    const target = base.endsWith('/diag') ? base : `${base}/diag`
    try {
      const res = await fetch(target, {
        signal: AbortSignal.timeout(this.timeoutMs),
        headers: this.token ? {authorization: `Bearer ${this.token}`} : {},
      })
      if (!res.ok) throw new Error(`HTTP ${res.status}`)
      const doc = (await res.json()) as DiagDocument
      const snap = snapshotFromDiag(doc, this.vtepDevice)
      snap.routeGets = (req.routeGets ?? []).map(() => ({
        ok: false,
        error: 'not available over /diag',
        unavailable: true,
      }))
      snap.readMs = performance.now() - started
      return snap
    } catch (err) {
      return {
        links: [],
        routes: [],
        neigh: [],
        fdb: [],
        sysctls: {},
        routeGets: (req.routeGets ?? []).map(() => ({ok: false, error: 'not available over /diag', unavailable: true})),
        missing: ['all', `diag: ${(err as Error).message}`],
        readMs: performance.now() - started,
      }
    }
  }
}
