import {valueText} from './json-output.js'
import type {CanonicalResult, CniDns, CniInterface, CniIpConfig, CniRoute, JsonObject} from './types.js'
import {hasExtendedResultFields, hasIpVersionField, hasLegacyResult} from './versions.js'

/**
 * Result conversion between spec versions (SPEC §5; UPG). libcni converts a cached result to the
 * config's version before using it as prevResult (R19), and cnitool prints results in the config's
 * version; we do both through one canonical (1.1.0-shaped) form.
 */

// A malformed result may carry a number where an address belongs (resultProblems reports it).
const family = (addr: unknown): 4 | 6 => (valueText(addr).includes(':') ? 6 : 4)

const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v)

/**
 * The objects of a list. A plugin's result is not trusted to be well formed: an entry that is not an
 * object (`"ips": [null]`) has no fields to read, so it is left out; resultProblems reports it.
 */
function objectsOf<T>(v: unknown): T[] {
  return Array.isArray(v) ? (v.filter(isObject) as T[]) : []
}

function legacyToCanonical(r: JsonObject): CanonicalResult {
  const out: CanonicalResult = {
    cniVersion: valueText(r.cniVersion ?? ''),
    dns: isObject(r.dns) ? (r.dns as CniDns) : {},
    interfaces: [],
    ips: [],
    routes: [],
  }
  for (const key of ['ip4', 'ip6'] as const) {
    const block = r[key]
    if (!isObject(block)) continue
    const {gateway, ip} = block as {ip?: string; gateway?: string}
    if (ip) out.ips.push({address: ip, ...(gateway ? {gateway} : {})})
    for (const route of objectsOf<{dst: string; gw?: string}>(block.routes))
      out.routes.push({dst: route.dst, ...(route.gw ? {gw: route.gw} : {})})
  }
  return out
}

/**
 * Reads a result of any version into the canonical form. Tolerates omitted lists (checklist §1.7 item
 * 11) and never throws on a malformed one: what is not an object is read as absent.
 */
export function toCanonical(result: unknown): CanonicalResult {
  const r = isObject(result) ? result : {}
  if (r.ip4 !== undefined || r.ip6 !== undefined) return legacyToCanonical(r)
  return {
    cniVersion: valueText(r.cniVersion ?? ''),
    dns: isObject(r.dns) ? (r.dns as CniDns) : {},
    interfaces: objectsOf<CniInterface>(r.interfaces).map((i) => ({...i})),
    ips: objectsOf<CniIpConfig & {version?: string}>(r.ips).map(({version: _v, ...ip}) => ({...ip})),
    routes: objectsOf<CniRoute>(r.routes).map((rt) => ({...rt})),
  }
}

function dnsIsEmpty(dns: CniDns): boolean {
  return !dns.domain && !dns.nameservers?.length && !dns.search?.length && !dns.options?.length
}

/** Writes the canonical form in the layout of `version` (0.1.0 … 1.1.0). */
export function fromCanonical(c: CanonicalResult, version: string): JsonObject {
  if (hasLegacyResult(version)) {
    const out: JsonObject = {cniVersion: version}
    for (const fam of [4, 6] as const) {
      const ip = c.ips.find((i) => family(i.address) === fam)
      if (!ip) continue
      const routes = c.routes
        .filter((r) => family(r.dst) === fam)
        .map((r) => ({dst: r.dst, ...(r.gw ? {gw: r.gw} : {})}))
      out[`ip${fam}`] = {
        ip: ip.address,
        ...(ip.gateway ? {gateway: ip.gateway} : {}),
        ...(routes.length ? {routes} : {}),
      }
    }
    if (!dnsIsEmpty(c.dns)) out.dns = c.dns as JsonObject
    return out
  }
  const extended = hasExtendedResultFields(version)
  const interfaces = c.interfaces.map((i) => {
    const {mtu, socketPath, pciID, ...base} = i
    return extended
      ? {...base, ...(mtu === undefined ? {} : {mtu}), ...(socketPath ? {socketPath} : {}), ...(pciID ? {pciID} : {})}
      : base
  })
  const ips = c.ips.map((ip) => (hasIpVersionField(version) ? {version: String(family(ip.address)), ...ip} : {...ip}))
  const routes = c.routes.map((r) => {
    if (extended) return {...r}
    return {dst: r.dst, ...(r.gw ? {gw: r.gw} : {})}
  })
  const out: JsonObject = {cniVersion: version}
  if (interfaces.length) out.interfaces = interfaces as JsonObject[]
  if (ips.length) out.ips = ips as JsonObject[]
  if (routes.length) out.routes = routes as JsonObject[]
  if (!dnsIsEmpty(c.dns)) out.dns = c.dns as JsonObject
  return out
}

export function convertResult(result: unknown, version: string): JsonObject {
  return fromCanonical(toCanonical(result), version)
}
