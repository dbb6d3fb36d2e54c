/**
 * The pure heart of the daemon: desired kernel state vs actual kernel state → an ordered list of
 * operations. No I/O here, so every drift case (missing, stale, foreign, duplicate) is unit-tested
 * without a kernel (test/daemon/reconcile.test.ts).
 *
 * Ordering follows flannel's vxlan backend (pkg/backend/vxlan/vxlan_network.go): per remote node the
 * neighbour entry, then the FDB entry, then the route, "because the kernel would ARP for the Gw IP
 * address if it hadn't already been set"; removal in the reverse order. Removals come before
 * additions so a replaced peer never has two competing entries.
 */
import {
  type ActualFdb,
  type ActualNeigh,
  type ActualRoute,
  type ActualState,
  type DesiredState,
  describeRoute,
  type Fdb,
  fdbKey,
  type Neigh,
  neighKey,
  type Ownership,
  type Route,
  routeKey,
} from './model.js'

export type Op =
  | {kind: 'route'; action: 'replace' | 'del'; route: Route; reason: string}
  | {kind: 'neigh'; action: 'replace' | 'del'; neigh: Neigh; reason: string}
  | {kind: 'fdb'; action: 'replace' | 'del'; fdb: Fdb; reason: string}

/** A route we want whose destination another program already routes: we do not overwrite it. */
export interface RouteConflict {
  dst: string
  wanted: string
  foreign: string[]
  /** True when the foreign route has our exact key (dst+metric): installing ours would replace it. */
  blocking: boolean
}

export interface Plan {
  ops: Op[]
  conflicts: RouteConflict[]
  /** Desired objects already present and correct. */
  inSync: number
}

/** Groups, in execution order. */
const PHASES: ReadonlyArray<[Op['kind'], Op['action']]> = [
  ['route', 'del'],
  ['fdb', 'del'],
  ['neigh', 'del'],
  ['neigh', 'replace'],
  ['fdb', 'replace'],
  ['route', 'replace'],
]

function opKey(op: Op): string {
  switch (op.kind) {
    case 'route':
      return routeKey(op.route)
    case 'neigh':
      return neighKey(op.neigh)
    case 'fdb':
      return fdbKey(op.fdb)
  }
}

/** Sorts ops into the fixed phase order, and by key within a phase (deterministic output). */
export function orderOps(ops: Op[]): Op[] {
  const phase = (op: Op) => PHASES.findIndex(([k, a]) => k === op.kind && a === op.action)
  return [...ops].sort((a, b) => phase(a) - phase(b) || opKey(a).localeCompare(opKey(b), 'en'))
}

function dedupe<T>(items: T[], key: (t: T) => string): Map<string, T> {
  const m = new Map<string, T>()
  for (const it of items) if (!m.has(key(it))) m.set(key(it), it)
  return m
}

export function isOwnedRoute(r: ActualRoute, own: Ownership): boolean {
  return r.proto === String(own.routeProto)
}

/** Why an owned route differs from the wanted one, or undefined when it matches. */
export function routeDrift(want: Route, have: ActualRoute): string | undefined {
  const why: string[] = []
  if (have.type !== 'unicast') why.push(`type ${have.type}`)
  if (have.multipath) why.push('multipath')
  if (!want.anyVia && (have.via ?? '') !== (want.via ?? ''))
    why.push(`via ${have.via ?? '(none)'} ≠ ${want.via ?? '(none)'}`)
  if (have.dev !== want.dev) why.push(`dev ${have.dev} ≠ ${want.dev}`)
  if (have.onlink !== want.onlink) why.push(want.onlink ? 'onlink missing' : 'unexpected onlink')
  return why.length > 0 ? why.join(', ') : undefined
}

export function neighDrift(want: Neigh, have: ActualNeigh): string | undefined {
  const why: string[] = []
  if (have.mac !== want.mac) why.push(`lladdr ${have.mac || '(none)'} ≠ ${want.mac}`)
  if (have.state !== 'PERMANENT') why.push(`state ${have.state || '(none)'}`)
  return why.length > 0 ? why.join(', ') : undefined
}

export function diff(desired: DesiredState, actual: ActualState, own: Ownership): Plan {
  const ops: Op[] = []
  const conflicts: RouteConflict[] = []
  let inSync = 0

  // Routes: ours are recognised by proto; foreign ones are never changed, only reported.
  const wantRoutes = dedupe(desired.routes, routeKey)
  const ownedRoutes = actual.routes.filter((r) => isOwnedRoute(r, own))
  const foreignRoutes = actual.routes.filter((r) => !isOwnedRoute(r, own))
  const ownedByKey = new Map<string, ActualRoute[]>()
  for (const r of ownedRoutes) ownedByKey.set(routeKey(r), [...(ownedByKey.get(routeKey(r)) ?? []), r])

  for (const [key, want] of wantRoutes) {
    const foreign = foreignRoutes.filter((f) => f.dst === want.dst)
    const blocking = foreign.some((f) => f.metric === want.metric)
    if (foreign.length > 0) {
      conflicts.push({
        dst: want.dst,
        wanted: describeRoute(want),
        foreign: foreign.map((f) => `${describeRoute(f)} proto ${f.proto}`),
        blocking,
      })
    }
    if (blocking) continue
    const have = ownedByKey.get(key) ?? []
    const drift = have.length === 0 ? 'missing' : have.length > 1 ? 'duplicate' : routeDrift(want, have[0]!)
    if (drift === undefined) inSync++
    else
      ops.push({kind: 'route', action: 'replace', route: want, reason: drift === 'missing' ? drift : `stale: ${drift}`})
  }
  for (const r of ownedRoutes) {
    if (!wantRoutes.has(routeKey(r))) ops.push({kind: 'route', action: 'del', route: r, reason: 'not desired'})
  }
  // Two owned routes with one key (only possible via `ip route append`): the replace above rewrites
  // one of them; the rest must go, deleted by their exact next hop.
  for (const [key, have] of ownedByKey) {
    const want = wantRoutes.get(key)
    if (want && have.length > 1) {
      for (const r of have.filter((h) => routeDrift(want, h) !== undefined)) {
        ops.push({kind: 'route', action: 'del', route: r, reason: 'duplicate'})
      }
    }
  }

  // Neighbours: every entry on an owned device is ours.
  const neighDevs = new Set(own.neighDevs)
  const wantNeighs = dedupe(desired.neighs, neighKey)
  const haveNeighs = dedupe(
    actual.neighs.filter((n) => neighDevs.has(n.dev)),
    neighKey,
  )
  for (const [key, want] of wantNeighs) {
    const have = haveNeighs.get(key)
    const drift = have ? neighDrift(want, have) : 'missing'
    if (drift === undefined) inSync++
    else ops.push({kind: 'neigh', action: 'replace', neigh: want, reason: have ? `stale: ${drift}` : drift})
  }
  for (const [key, have] of haveNeighs) {
    if (!wantNeighs.has(key)) ops.push({kind: 'neigh', action: 'del', neigh: stripNeigh(have), reason: 'not desired'})
  }

  // FDB: a MAC on a vxlan device may have several remotes (`bridge fdb append`); we want exactly one.
  const fdbDevs = new Set(own.fdbDevs)
  const wantFdbs = dedupe(desired.fdbs, (f) => `${f.dev}|${f.mac}`)
  const haveFdbs = actual.fdbs.filter((f) => fdbDevs.has(f.dev))
  const haveByMac = new Map<string, ActualFdb[]>()
  for (const f of haveFdbs) haveByMac.set(`${f.dev}|${f.mac}`, [...(haveByMac.get(`${f.dev}|${f.mac}`) ?? []), f])

  for (const [macKey, want] of wantFdbs) {
    const have = haveByMac.get(macKey) ?? []
    const exact = have.find((h) => h.dst === want.dst)
    if (exact && exact.state === 'permanent') {
      inSync++
    } else if (exact) {
      ops.push({kind: 'fdb', action: 'replace', fdb: want, reason: `stale: state ${exact.state || 'dynamic'}`})
    } else if (have.length === 1) {
      // One remote with the wrong dst: `fdb replace` rewrites it in place, no gap without an entry.
      ops.push({kind: 'fdb', action: 'replace', fdb: want, reason: `stale: dst ${have[0]!.dst} ≠ ${want.dst}`})
    } else {
      ops.push({kind: 'fdb', action: 'replace', fdb: want, reason: have.length ? 'stale: several remotes' : 'missing'})
    }
  }
  for (const [macKey, have] of haveByMac) {
    const want = wantFdbs.get(macKey)
    if (!want) {
      for (const h of have) ops.push({kind: 'fdb', action: 'del', fdb: stripFdb(h), reason: 'not desired'})
      continue
    }
    // Keep the exact remote, or the single one the replace above rewrites; delete every other.
    const keep = have.find((h) => h.dst === want.dst) ?? (have.length === 1 ? have[0] : undefined)
    for (const h of have) {
      if (h !== keep) ops.push({kind: 'fdb', action: 'del', fdb: stripFdb(h), reason: 'extra remote'})
    }
  }

  return {ops: orderOps(ops), conflicts, inSync}
}

function stripNeigh(n: ActualNeigh): Neigh {
  return {ip: n.ip, mac: n.mac, dev: n.dev}
}

function stripFdb(f: ActualFdb): Fdb {
  return {mac: f.mac, dst: f.dst, dev: f.dev}
}

// ---------------------------------------------------------------------------------------------
// Per-object comparison for /diag: what one peer needs vs what the kernel has for it.

export type ObjectStatus = 'ok' | 'missing' | 'stale' | 'conflict'

export interface Comparison<W, A> {
  expected: W
  actual: A[]
  status: ObjectStatus
  detail?: string
}

export function compareRoute(want: Route, actual: ActualState, own: Ownership): Comparison<Route, ActualRoute> {
  const same = actual.routes.filter((r) => r.dst === want.dst)
  const foreignBlocking = same.find((r) => !isOwnedRoute(r, own) && r.metric === want.metric)
  if (foreignBlocking) {
    return {expected: want, actual: same, status: 'conflict', detail: `foreign route proto ${foreignBlocking.proto}`}
  }
  const mine = same.filter((r) => isOwnedRoute(r, own) && r.metric === want.metric)
  if (mine.length === 0) return {expected: want, actual: same, status: 'missing'}
  const drift = mine.length > 1 ? 'duplicate' : routeDrift(want, mine[0]!)
  return {expected: want, actual: same, status: drift ? 'stale' : 'ok', detail: drift}
}

export function compareNeigh(want: Neigh, actual: ActualState): Comparison<Neigh, ActualNeigh> {
  const same = actual.neighs.filter((n) => n.dev === want.dev && n.ip === want.ip)
  if (same.length === 0) return {expected: want, actual: same, status: 'missing'}
  const drift = neighDrift(want, same[0]!)
  return {expected: want, actual: same, status: drift ? 'stale' : 'ok', detail: drift}
}

export function compareFdb(want: Fdb, actual: ActualState): Comparison<Fdb, ActualFdb> {
  const same = actual.fdbs.filter((f) => f.dev === want.dev && f.mac === want.mac)
  if (same.length === 0) return {expected: want, actual: same, status: 'missing'}
  const exact = same.find((f) => f.dst === want.dst)
  if (!exact) return {expected: want, actual: same, status: 'stale', detail: `dst ${same.map((f) => f.dst).join(',')}`}
  if (same.length > 1) return {expected: want, actual: same, status: 'stale', detail: 'several remotes'}
  if (exact.state !== 'permanent')
    return {expected: want, actual: same, status: 'stale', detail: `state ${exact.state}`}
  return {expected: want, actual: same, status: 'ok'}
}
