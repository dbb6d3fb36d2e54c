/**
 * The kernel objects the daemon programs and reads back, in one shape for both sides of the diff
 * (reconcile.ts). Values are normalized: CIDRs canonical (`10.244.1.0/24`, host routes `/32`), MACs
 * lower case.
 */

/**
 * The `proto` number on every route the daemon installs: how it recognises its own routes and leaves
 * everyone else's alone. 205 is unassigned in the kernel's RTPROT_* list and iproute2's rt_protos
 * (0x63 = 99 would read back as `proto openr`).
 */
export const ROUTE_PROTO = 205

export interface Route {
  /** Destination CIDR. */
  dst: string
  /** Next hop; absent for a device route. */
  via?: string
  /**
   * Desired routes only: any next hop will do (a BGP speaker resolves a peer behind a router through
   * that router, gateway recursive).
   */
  anyVia?: boolean
  dev: string
  onlink: boolean
  /** Route metric (priority); 0 when unset. */
  metric: number
}

export interface Neigh {
  ip: string
  mac: string
  dev: string
}

export interface Fdb {
  mac: string
  /** Remote VTEP (underlay) address the frames for `mac` are sent to. */
  dst: string
  dev: string
}

/** What the kernel should have, in addition to the backend's local devices. */
export interface DesiredState {
  routes: Route[]
  neighs: Neigh[]
  fdbs: Fdb[]
}

export interface ActualRoute extends Route {
  /** The route's `proto` as iproute2 prints it with -N (a number as text). */
  proto: string
  /** unicast, blackhole, unreachable, … */
  type: string
  /** Multipath routes: never ours, kept so a conflict can be shown. */
  multipath: boolean
}

export interface ActualNeigh extends Neigh {
  /** PERMANENT, REACHABLE, STALE, FAILED, INCOMPLETE, NOARP… (the first of iproute2's list). */
  state: string
}

export interface ActualFdb extends Fdb {
  /** permanent, static, or '' (dynamic/learned). */
  state: string
}

export interface ActualState {
  /** Every IPv4 route in the main table, ours (proto ROUTE_PROTO) and foreign. */
  routes: ActualRoute[]
  /** IPv4 neighbours on the devices the backend owns. */
  neighs: ActualNeigh[]
  /** FDB entries on the devices the backend owns. */
  fdbs: ActualFdb[]
}

/** The devices whose neighbour and FDB tables the daemon owns entirely (the VTEP); nothing in host-gw. */
export interface Ownership {
  routeProto: number
  neighDevs: string[]
  fdbDevs: string[]
}

export function routeKey(r: Pick<Route, 'dst' | 'metric'>): string {
  return `${r.dst}#${r.metric}`
}

export function neighKey(n: Pick<Neigh, 'dev' | 'ip'>): string {
  return `${n.dev}|${n.ip}`
}

export function fdbKey(f: Pick<Fdb, 'dev' | 'mac' | 'dst'>): string {
  return `${f.dev}|${f.mac}|${f.dst}`
}

export function describeRoute(r: Route): string {
  return `${r.dst}${r.via ? ` via ${r.via}` : r.anyVia ? ' via (any)' : ''} dev ${r.dev}${r.onlink ? ' onlink' : ''}${r.metric ? ` metric ${r.metric}` : ''}`
}

export function describeNeigh(n: Neigh): string {
  return `${n.ip} lladdr ${n.mac} dev ${n.dev}`
}

export function describeFdb(f: Fdb): string {
  return `${f.mac} dst ${f.dst} dev ${f.dev}`
}
