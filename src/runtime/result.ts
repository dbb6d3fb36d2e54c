import type {CanonicalResult, CniDns, CniInterface, CniIpConfig, CniRoute, JsonObject} from './types.js'
import {hasExtendedResultFields, hasIpVersionField, hasLegacyResult} from './versions.js'

/**
 * Result conversion between spec versions (SPEC §5; UPG). libcni converts a cached result to the
 * config's version before using it as prevResult (R19), and cnitool prints results in the config's
 * version; we do both through one canonical (1.1.0-shaped) form.
 */

const family = (addr: string): 4 | 6 => (addr.includes(':') ? 6 : 4)

function asArray<T>(v: unknown): T[] {
  return Array.isArray(v) ? (v as T[]) : []
}

function legacyToCanonical(r: JsonObject): CanonicalResult {
  const out: CanonicalResult = {
    cniVersion: String(r.cniVersion ?? ''),
    dns: (r.dns as CniDns) ?? {},
    interfaces: [],
    ips: [],
    routes: [],
  }
  for (const key of ['ip4', 'ip6'] as const) {
    const block = r[key] as {ip?: string; gateway?: string; routes?: Array<{dst: string; gw?: string}>} | undefined
    if (!block) continue
    if (block.ip) out.ips.push({address: block.ip, ...(block.gateway ? {gateway: block.gateway} : {})})
    for (const route of block.routes ?? []) out.routes.push({dst: route.dst, ...(route.gw ? {gw: route.gw} : {})})
  }
  return out
}

/** Reads a result of any version into the canonical form. Tolerates omitted lists (checklist §1.7 item 11). */
export function toCanonical(result: unknown): CanonicalResult {
  const r = (result ?? {}) as JsonObject
  if (r.ip4 !== undefined || r.ip6 !== undefined) return legacyToCanonical(r)
  return {
    cniVersion: String(r.cniVersion ?? ''),
    dns: (r.dns as CniDns) ?? {},
    interfaces: asArray<CniInterface>(r.interfaces).map((i) => ({...i})),
    ips: asArray<CniIpConfig & {version?: string}>(r.ips).map(({version: _v, ...ip}) => ({...ip})),
    routes: asArray<CniRoute>(r.routes).map((rt) => ({...rt})),
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
