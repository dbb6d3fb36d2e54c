/**
 * Result conversion between CNI versions, just enough for the spy: libcni converts a cached result to
 * the config's version before handing it on as prevResult (R19), and the spy's PASSTHROUGH and IPAM
 * answers must be in the request's version (P26, P27). Layouts (checklist §1.6):
 *  0.1.0/0.2.0  {ip4:{ip,gateway,routes}, ip6:{…}, dns}
 *  0.3.x/0.4.0  {interfaces, ips:[{version,address,gateway,interface}], routes, dns}
 *  1.0.0        the same without ips[].version
 *  1.1.0        plus interfaces[].mtu/socketPath/pciID and routes[].mtu/advmss/priority/table/scope
 */
import {hasExtendedResultFields, hasIpVersionField, hasLegacyResult} from '../../runtime/versions.js'
import type {SpyIpamAnswer} from './control.js'

type Obj = Record<string, unknown>

interface Ip {
  address: string
  gateway?: string
  interface?: number
}
interface Route {
  dst: string
  gw?: string
  [k: string]: unknown
}

/** The version-neutral form: the 1.1.0 layout. */
interface Neutral {
  interfaces: Obj[]
  ips: Ip[]
  routes: Route[]
  dns: Obj | undefined
}

const IFACE_1_1_FIELDS = ['mtu', 'socketPath', 'pciID']
const ROUTE_1_1_FIELDS = ['mtu', 'advmss', 'priority', 'table', 'scope']

const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x)
const family = (addr: string): '4' | '6' => (addr.includes(':') ? '6' : '4')
const nonEmpty = (o: Obj | undefined): boolean => isObj(o) && Object.keys(o).length > 0

function normalize(result: Obj): Neutral {
  const n: Neutral = {interfaces: [], ips: [], routes: [], dns: isObj(result.dns) ? result.dns : undefined}
  if (Array.isArray(result.ips) || Array.isArray(result.interfaces)) {
    n.interfaces = (Array.isArray(result.interfaces) ? result.interfaces : []).filter(isObj).map((i) => ({...i}))
    for (const ip of Array.isArray(result.ips) ? result.ips : []) {
      if (!isObj(ip) || typeof ip.address !== 'string') continue
      const out: Ip = {address: ip.address}
      if (typeof ip.gateway === 'string') out.gateway = ip.gateway
      if (typeof ip.interface === 'number') out.interface = ip.interface
      n.ips.push(out)
    }
    n.routes = (Array.isArray(result.routes) ? result.routes : []).filter(isObj).map((r) => ({...r}) as Route)
    return n
  }
  // 0.1.0/0.2.0: ip4/ip6 blocks, each with its own routes.
  for (const key of ['ip4', 'ip6']) {
    const block = result[key]
    if (!isObj(block) || typeof block.ip !== 'string') continue
    const ip: Ip = {address: block.ip}
    if (typeof block.gateway === 'string') ip.gateway = block.gateway
    n.ips.push(ip)
    for (const r of Array.isArray(block.routes) ? block.routes : []) if (isObj(r)) n.routes.push({...r} as Route)
  }
  return n
}

function render(n: Neutral, version: string): Obj {
  if (hasLegacyResult(version)) {
    const out: Obj = {cniVersion: version}
    for (const fam of ['4', '6'] as const) {
      const ip = n.ips.find((i) => family(i.address) === fam)
      if (!ip) continue
      const routes = n.routes
        .filter((r) => family(r.dst) === fam)
        .map((r) => (r.gw ? {dst: r.dst, gw: r.gw} : {dst: r.dst}))
      out[`ip${fam}`] = {
        ip: ip.address,
        ...(ip.gateway ? {gateway: ip.gateway} : {}),
        ...(routes.length ? {routes} : {}),
      }
    }
    if (n.dns) out.dns = n.dns
    return out
  }
  const extended = hasExtendedResultFields(version)
  const strip = (o: Obj, fields: string[]): Obj => {
    if (extended) return o
    const c = {...o}
    for (const f of fields) delete c[f]
    return c
  }
  const out: Obj = {cniVersion: version}
  if (n.interfaces.length) out.interfaces = n.interfaces.map((i) => strip(i, IFACE_1_1_FIELDS))
  out.ips = n.ips.map((ip) => (hasIpVersionField(version) ? {version: family(ip.address), ...ip} : {...ip}))
  if (n.routes.length) out.routes = n.routes.map((r) => strip(r, ROUTE_1_1_FIELDS))
  if (n.dns && nonEmpty(n.dns)) out.dns = n.dns
  return out
}

/** Converts a result of any version to `version`'s layout; one already in that version is copied as is. */
export function convertResult(result: Obj, version: string): Obj {
  if (result.cniVersion === version) return JSON.parse(JSON.stringify(result)) as Obj
  return render(normalize(result), version)
}

/** An abbreviated IPAM result (no interfaces, no ips[].interface: SPEC §5 "Delegated plugins") in `version`. */
export function ipamResult(answer: SpyIpamAnswer, version: string): Obj {
  return render(
    {
      interfaces: [],
      ips: answer.ips.map((ip) => ({address: ip.address, ...(ip.gateway ? {gateway: ip.gateway} : {})})),
      routes: (answer.routes ?? []).map((r) => ({...r})),
      dns: answer.dns as Obj | undefined,
    },
    version,
  )
}
