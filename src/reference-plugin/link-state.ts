import {formatCIDR, parseCIDR, parseIP, type Family} from '../core/ip.js'

/** A link as `ip -j addr show dev X` reports it. */
export interface LinkState {
  ifname: string
  flags: string[]
  mtu: number
  address: string
  addr_info?: Array<{family: string; local: string; prefixlen: number}>
}

/** A route as `ip -j route show` reports it. */
export interface RouteState {
  dst: string
  gateway?: string
  dev?: string
  table?: string
  /** Multipath routes (two attachments of one network in one pod) list their hops here. */
  nexthops?: Array<{gateway?: string; dev?: string}>
}

/** "default", "10.1.1.1" or "10.0.0.0/8" as a canonical CIDR; `family` decides what "default" means. */
export function routeDst(dst: string, family: Family): string {
  if (dst === 'default') return family === 4 ? '0.0.0.0/0' : '::/0'
  const c = parseCIDR(dst.includes('/') ? dst : `${dst}/${parseIP(dst)?.family === 6 ? 128 : 32}`)
  return c ? formatCIDR(c) : dst
}

export function canonical(cidr: string): string {
  const c = parseCIDR(cidr)
  return c ? formatCIDR(c) : cidr
}

const sameIP = (a: string | undefined, b: string): boolean =>
  a !== undefined && canonical(`${a}/0`) === canonical(`${b}/0`)

/** Whether `routes` has dst (via gw, out of dev, when given), looking into multipath hops too. */
export function hasRoute(routes: RouteState[], dst: string, gw?: string, dev?: string): boolean {
  const want = parseCIDR(dst)
  if (!want) return false
  const d = canonical(dst)
  return routes.some((r) => {
    if (routeDst(r.dst, want.family) !== d) return false
    const hops = r.nexthops?.length ? r.nexthops : [{gateway: r.gateway, dev: r.dev}]
    return hops.some(
      (h) => (gw === undefined || sameIP(h.gateway, gw)) && (dev === undefined || h.dev === undefined || h.dev === dev),
    )
  })
}

export function hasAddress(link: LinkState, cidr: string): boolean {
  const want = parseCIDR(cidr)
  if (!want) return false
  return (link.addr_info ?? []).some((a) => {
    const got = parseIP(a.local)
    return got !== undefined && got.family === want.family && got.value === want.value && a.prefixlen === want.prefix
  })
}
