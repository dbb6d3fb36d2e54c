import {parseCniArgs} from '../cni-args.js'
import {CniError, CODE} from '../errors.js'
import {formatCIDR, networkOf, parseCIDR, parseIP, type Addr} from '../../core/ip.js'
import type {Route} from '../types.js'
import {canonicalRange, validateRangeSets, type RangeSet, type RawRange} from './range.js'
import {DEFAULT_SUBNET_FILE, readSubnetFile, type SubnetFile} from './subnet-file.js'

export const DEFAULT_DATA_DIR = '/var/lib/cni/networks'

/** What cnidbg-ipam needs for every verb: where its store lives. Never fails on ranges (DEL must work). */
export interface IpamStoreConf {
  network: string
  dataDir: string
}

export interface IpamConf extends IpamStoreConf {
  rangeSets: RangeSet[]
  routes: Route[]
  /** Addresses the runtime asked for, from the highest-priority source that has any. */
  requested: Addr[]
  /** Where they came from, for error messages. */
  requestedFrom?: string
  subnetFile?: string
}

type Json = Record<string, unknown>
const isObj = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x)

export function ipamSection(conf: Json): Json {
  const ipam = conf.ipam
  if (ipam === undefined) return {}
  if (!isObj(ipam))
    throw new CniError(CODE.INVALID_CONFIG, '"ipam" must be an object', 'e.g. "ipam": {"type": "cnidbg-ipam"}')
  return ipam
}

export function readStoreConf(conf: Json, network: string): IpamStoreConf {
  const ipam = ipamSection(conf)
  const dataDir = ipam.dataDir ?? DEFAULT_DATA_DIR
  if (typeof dataDir !== 'string' || !dataDir.startsWith('/')) {
    throw new CniError(CODE.INVALID_CONFIG, `ipam.dataDir ${JSON.stringify(dataDir)} must be an absolute path`)
  }
  return {network, dataDir}
}

/** Reads the subnet file the node daemon writes. Missing means "not ready yet": try again later (code 11). */
export function loadSubnetFile(ipam: Json): {path: string; file: SubnetFile} {
  const path = ipam.subnetFile ?? DEFAULT_SUBNET_FILE
  if (typeof path !== 'string' || path === '') throw new CniError(CODE.INVALID_CONFIG, 'ipam.subnetFile must be a path')
  let file: SubnetFile | undefined
  try {
    file = readSubnetFile(path)
  } catch (error) {
    throw new CniError(CODE.IO_FAILURE, `cannot read subnet file ${path}`, (error as Error).message)
  }
  if (!file || (!file.subnet && !file.subnet6)) {
    throw new CniError(
      CODE.TRY_AGAIN,
      `subnet file ${path} ${file ? 'has no CNIDBG_SUBNET' : 'does not exist'}: this node has no pod CIDR yet`,
      'start the cnidbg node daemon (it writes the file), or set ipam.subnet / ipam.ranges in the network config',
    )
  }
  return {path, file}
}

function rawRangeSets(
  ipam: Json,
  runtimeConfig: Json,
): {sets: RawRange[][]; where: string; lenient: boolean; cluster: string[]; subnetFile?: string} {
  // CONVENTIONS.md "ipRanges": the runtime's ranges replace the configured ones.
  const rc = runtimeConfig.ipRanges
  if (Array.isArray(rc) && rc.length > 0)
    return {sets: rc as RawRange[][], where: 'runtimeConfig.ipRanges', lenient: false, cluster: []}
  if (ipam.ranges !== undefined) {
    if (!Array.isArray(ipam.ranges) || ipam.ranges.some((s) => !Array.isArray(s))) {
      throw new CniError(
        CODE.INVALID_CONFIG,
        'ipam.ranges must be a list of lists of ranges',
        'e.g. [[{"subnet": "10.244.1.0/24"}]]',
      )
    }
    return {sets: ipam.ranges as RawRange[][], where: 'ipam.ranges', lenient: false, cluster: []}
  }
  if (ipam.subnet !== undefined) {
    const {subnet, rangeStart, rangeEnd, gateway} = ipam
    return {sets: [[{subnet, rangeStart, rangeEnd, gateway}]], where: 'ipam', lenient: false, cluster: []}
  }
  const {path, file} = loadSubnetFile(ipam)
  const sets: RawRange[][] = []
  if (file.subnet) sets.push([{subnet: file.subnet}])
  if (file.subnet6) sets.push([{subnet: file.subnet6}])
  const cluster = [file.network, file.network6].filter((n): n is string => Boolean(n))
  return {sets, where: `subnet file ${path}`, lenient: true, cluster, subnetFile: path}
}

function parseRoutes(raw: unknown): Route[] {
  if (!Array.isArray(raw)) throw new CniError(CODE.INVALID_CONFIG, 'ipam.routes must be a list of {dst, gw?}')
  return raw.map((r, i) => {
    const dst = isObj(r) ? r.dst : undefined
    if (typeof dst !== 'string' || !parseCIDR(dst)) {
      throw new CniError(
        CODE.INVALID_CONFIG,
        `ipam.routes[${i}].dst must be a prefix in CIDR form`,
        'e.g. {"dst": "0.0.0.0/0"}',
      )
    }
    const gw = (r as Json).gw
    if (gw !== undefined && (typeof gw !== 'string' || !parseIP(gw))) {
      throw new CniError(CODE.INVALID_CONFIG, `ipam.routes[${i}].gw must be an IP address`)
    }
    return {dst, ...(gw ? {gw: gw as string} : {})}
  })
}

function parseRequested(list: unknown, from: string, code: number): Addr[] {
  if (!Array.isArray(list)) throw new CniError(code, `${from} must be a list of IP addresses`)
  return list.map((item) => {
    const text = typeof item === 'string' ? item.trim() : ''
    const a = parseIP(text.split('/')[0]!)
    if (!a)
      throw new CniError(
        code,
        `${from}: ${JSON.stringify(item)} is not an IP address`,
        'use "10.244.1.7" or "10.244.1.7/24"',
      )
    return a
  })
}

/**
 * Requested IPs, by precedence: runtimeConfig.ips (the "ips" capability), then args.cni.ips, then
 * CNI_ARGS IP=. CONVENTIONS.md "args": a plugin that understands `args` ignores CNI_ARGS for the same
 * setting (checklist P114), so sources are never merged.
 */
function requestedIPs(conf: Json, runtimeConfig: Json, cniArgs: string): {ips: Addr[]; from?: string} {
  if (Array.isArray(runtimeConfig.ips) && runtimeConfig.ips.length > 0) {
    return {ips: parseRequested(runtimeConfig.ips, 'runtimeConfig.ips', CODE.INVALID_CONFIG), from: 'runtimeConfig.ips'}
  }
  const args = isObj(conf.args) && isObj(conf.args.cni) ? conf.args.cni : undefined
  if (args && Array.isArray(args.ips) && args.ips.length > 0) {
    return {ips: parseRequested(args.ips, 'args.cni.ips', CODE.INVALID_CONFIG), from: 'args.cni.ips'}
  }
  const ip = parseCniArgs(cniArgs).get('IP')
  if (ip) return {ips: parseRequested(ip.split(','), 'CNI_ARGS IP', CODE.INVALID_ENV), from: 'CNI_ARGS IP'}
  return {ips: []}
}

/** The full IPAM config for ADD, CHECK and STATUS. */
export function readIpamConf(conf: Json, network: string, cniArgs: string): IpamConf {
  const store = readStoreConf(conf, network)
  const ipam = ipamSection(conf)
  const runtimeConfig = isObj(conf.runtimeConfig) ? conf.runtimeConfig : {}
  const raw = rawRangeSets(ipam, runtimeConfig)
  const rangeSets = raw.sets.map((set, i) =>
    (Array.isArray(set) ? set : []).map((r, j) =>
      canonicalRange(isObj(r) ? r : {}, raw.where === 'ipam' ? 'ipam' : `${raw.where}[${i}][${j}]`, raw.lenient),
    ),
  )
  if (rangeSets.length === 0) {
    throw new CniError(
      CODE.INVALID_CONFIG,
      'no address ranges configured',
      'set ipam.subnet, ipam.ranges or ipam.subnetFile',
    )
  }
  validateRangeSets(rangeSets)
  // Routes: the configured ones, else the cluster range(s) and a default route per family.
  let routes: Route[]
  if (ipam.routes !== undefined) routes = parseRoutes(ipam.routes)
  else {
    const cluster = raw.cluster.length > 0 ? raw.cluster : rangeSets.map((s) => formatCIDR(s[0]!.subnet))
    const families = new Set(rangeSets.map((s) => s[0]!.subnet.family))
    routes = cluster
      .map((c) => parseCIDR(c))
      .filter((c) => c !== undefined && families.has(c.family))
      .map((c) => ({dst: formatCIDR({...c!, value: networkOf(c!)})}))
    if (families.has(4)) routes.push({dst: '0.0.0.0/0'})
    if (families.has(6)) routes.push({dst: '::/0'})
  }
  const req = requestedIPs(conf, runtimeConfig, cniArgs)
  return {...store, rangeSets, routes, requested: req.ips, requestedFrom: req.from, subnetFile: raw.subnetFile}
}
