import {CniError, CODE} from './errors.js'
import {parseCIDR, parseIP} from '../core/ip.js'
import type {DNS, Interface, IPConfig, Result, Route} from './types.js'
import {hasExtendedFields, hasIpVersionField} from './versions.js'

type Json = Record<string, unknown>

function dnsWire(d: DNS | undefined): Json {
  const out: Json = {}
  if (d?.nameservers?.length) out.nameservers = d.nameservers
  if (d?.domain) out.domain = d.domain
  if (d?.search?.length) out.search = d.search
  if (d?.options?.length) out.options = d.options
  return out
}

/**
 * The result as version `v` puts it on the wire (SPEC §5 "ADD Success"): 0.3.x/0.4.0 carry
 * ips[].version, 1.x don't; only 1.1.0 has interfaces[].mtu and the extra route fields.
 */
export function toWire(r: Result, v: string): Json {
  const ext = hasExtendedFields(v)
  const out: Json = {cniVersion: v}
  if (r.interfaces?.length) {
    out.interfaces = r.interfaces.map((i: Interface) => {
      const o: Json = {name: i.name}
      if (i.mac) o.mac = i.mac
      if (ext && i.mtu !== undefined) o.mtu = i.mtu
      if (i.sandbox) o.sandbox = i.sandbox
      if (ext && i.socketPath) o.socketPath = i.socketPath
      if (ext && i.pciID) o.pciID = i.pciID
      return o
    })
  }
  if (r.ips?.length) {
    out.ips = r.ips.map((ip: IPConfig) => {
      const o: Json = {}
      if (hasIpVersionField(v)) o.version = parseCIDR(ip.address)?.family === 6 ? '6' : '4'
      o.address = ip.address
      if (ip.gateway) o.gateway = ip.gateway
      if (ip.interface !== undefined) o.interface = ip.interface
      return o
    })
  }
  if (r.routes?.length) {
    out.routes = r.routes.map((rt: Route) => {
      const o: Json = {dst: rt.dst}
      if (rt.gw) o.gw = rt.gw
      if (ext)
        for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) if (rt[k] !== undefined) o[k] = rt[k]
      return o
    })
  }
  out.dns = dnsWire(r.dns)
  return out
}

const isObj = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x)
const str = (x: unknown): string | undefined => (typeof x === 'string' && x !== '' ? x : undefined)
const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isInteger(x) ? x : undefined)
const strs = (x: unknown): string[] | undefined =>
  Array.isArray(x) ? x.filter((s) => typeof s === 'string') : undefined

/**
 * Reads a result of any supported version (a prevResult, or a delegate's output) into the model.
 * Throws code 7 naming `what` when it is not a result at all.
 */
export function fromWire(raw: unknown, what: string): Result {
  if (!isObj(raw)) throw new CniError(CODE.INVALID_CONFIG, `${what} is not a JSON object`)
  const list = (k: string): unknown[] => {
    const v = raw[k]
    if (v === undefined || v === null) return []
    if (!Array.isArray(v)) throw new CniError(CODE.INVALID_CONFIG, `${what}.${k} must be a list`)
    return v
  }
  const interfaces = list('interfaces')
    .filter(isObj)
    .map((i): Interface => ({
      name: str(i.name) ?? '',
      mac: str(i.mac),
      mtu: num(i.mtu),
      sandbox: str(i.sandbox),
      socketPath: str(i.socketPath),
      pciID: str(i.pciID),
    }))
  const ips = list('ips').map((ip, n): IPConfig => {
    if (!isObj(ip) || !str(ip.address) || !parseCIDR(ip.address as string)) {
      throw new CniError(CODE.INVALID_CONFIG, `${what}.ips[${n}].address must be an address in CIDR form`)
    }
    const gateway = str(ip.gateway)
    if (gateway !== undefined && !parseIP(gateway)) {
      throw new CniError(CODE.INVALID_CONFIG, `${what}.ips[${n}].gateway must be an IP address`)
    }
    return {address: ip.address as string, gateway, interface: num(ip.interface)}
  })
  const routes = list('routes').map((rt, n): Route => {
    if (!isObj(rt) || !str(rt.dst) || !parseCIDR(rt.dst as string)) {
      throw new CniError(CODE.INVALID_CONFIG, `${what}.routes[${n}].dst must be a prefix in CIDR form`)
    }
    const gw = str(rt.gw)
    if (gw !== undefined && !parseIP(gw))
      throw new CniError(CODE.INVALID_CONFIG, `${what}.routes[${n}].gw must be an IP address`)
    return {
      dst: rt.dst as string,
      gw,
      mtu: num(rt.mtu),
      advmss: num(rt.advmss),
      priority: num(rt.priority),
      table: num(rt.table),
      scope: num(rt.scope),
    }
  })
  const d = isObj(raw.dns) ? raw.dns : {}
  const dns: DNS = {
    nameservers: strs(d.nameservers),
    domain: str(d.domain),
    search: strs(d.search),
    options: strs(d.options),
  }
  return {cniVersion: str(raw.cniVersion) ?? '', interfaces, ips, routes, dns}
}

export function isEmptyDns(d: DNS | undefined): boolean {
  return !d || (!d.nameservers?.length && !d.domain && !d.search?.length && !d.options?.length)
}
