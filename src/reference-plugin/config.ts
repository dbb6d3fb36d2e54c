import {CniError, CODE} from './errors.js'
import {ipamSection} from './ipam/config.js'
import {DEFAULT_SUBNET_FILE, readSubnetFile} from './ipam/subnet-file.js'
import {parseIP} from '../core/ip.js'
import {fromWire} from './result.js'
import type {DNS, Result} from './types.js'

export const DEFAULT_IPAM = 'cnidbg-ipam'
const DEFAULT_MTU = 1500

/** cnidbg-ref's network config, validated early (like parseConfig in upstream plugins). */
export interface RefConf {
  name: string
  cniVersion: string
  /** undefined: take CNIDBG_MTU from the subnet file, else 1500 (see resolveMtu). */
  mtu?: number
  ipamType: string
  dns?: DNS
  prevResult?: Result
}

type Json = Record<string, unknown>

function strList(v: unknown, key: string, ips = false): string[] | undefined {
  if (v === undefined) return undefined
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || (ips && !parseIP(s)))) {
    throw new CniError(CODE.INVALID_CONFIG, `dns.${key} must be a list of ${ips ? 'IP addresses' : 'strings'}`)
  }
  return v as string[]
}

function parseDns(v: unknown): DNS | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new CniError(
      CODE.INVALID_CONFIG,
      '"dns" must be an object',
      'e.g. {"nameservers": ["10.96.0.10"], "search": ["svc.cluster.local"]}',
    )
  }
  const d = v as Json
  if (d.domain !== undefined && typeof d.domain !== 'string')
    throw new CniError(CODE.INVALID_CONFIG, 'dns.domain must be a string')
  return {
    nameservers: strList(d.nameservers, 'nameservers', true),
    domain: d.domain as string | undefined,
    search: strList(d.search, 'search'),
    options: strList(d.options, 'options'),
  }
}

/** Parses the request config. `prevResult` is read for DEL/CHECK (SPEC §3) and for a chained ADD. */
export function parseRefConf(conf: Json, cniVersion: string, name: string, withPrev: boolean): RefConf {
  const mtu = conf.mtu
  if (mtu !== undefined && (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 68 || mtu > 65535)) {
    throw new CniError(
      CODE.INVALID_CONFIG,
      `mtu ${JSON.stringify(mtu)} is not a valid MTU`,
      'use an integer from 68 to 65535, e.g. 1450',
    )
  }
  // We route, we do not NAT; neither does the node daemon (docs/daemon.md): masquerading is the node's.
  if (conf.ipMasq !== undefined && conf.ipMasq !== false) {
    throw new CniError(
      CODE.UNSUPPORTED_FIELD,
      `unsupported field ipMasq=${JSON.stringify(conf.ipMasq)}`,
      'cnidbg-ref does not masquerade; remove "ipMasq" (masquerading pod traffic out of the node is left to the node: docs/reference-plugin.md)',
    )
  }
  const ipamType = ipamSection(conf).type ?? DEFAULT_IPAM
  if (!isPluginName(ipamType)) {
    throw new CniError(
      CODE.INVALID_CONFIG,
      `ipam.type ${JSON.stringify(ipamType)} is not a plugin name`,
      'e.g. "cnidbg-ipam" or "host-local"',
    )
  }
  let prevResult: Result | undefined
  if (withPrev && conf.prevResult !== undefined && conf.prevResult !== null) {
    const raw = conf.prevResult as Json
    // SPEC §2 DEL (main): an empty prevResult is allowed and means "nothing known".
    if (typeof raw === 'object' && Object.keys(raw).length > 0) prevResult = fromWire(raw, 'prevResult')
  }
  return {name, cniVersion, mtu: mtu as number | undefined, ipamType, dns: parseDns(conf.dns), prevResult}
}

const isPluginName = (t: unknown): t is string => typeof t === 'string' && t !== '' && !t.includes('/')

/**
 * DEL's view of the config: the IPAM plugin to release through, and nothing else. SPEC §2 DEL is best
 * effort, so fields DEL does not use (mtu, dns, ipMasq, prevResult) are not checked at all, and an
 * "ipam" no ADD could have run means nothing was reserved: undefined, no IPAM DEL.
 */
export function ipamTypeForDel(conf: Json): string | undefined {
  const ipam = conf.ipam
  if (ipam === undefined) return DEFAULT_IPAM
  if (typeof ipam !== 'object' || ipam === null || Array.isArray(ipam)) return undefined
  const type = (ipam as Json).type ?? DEFAULT_IPAM
  return isPluginName(type) ? type : undefined
}

/** The MTU for both veth ends: the config's, else the node daemon's (subnet file), else 1500. */
export function resolveMtu(rc: RefConf, conf: Json): number {
  if (rc.mtu !== undefined) return rc.mtu
  const ipam = ipamSection(conf)
  if (rc.ipamType !== DEFAULT_IPAM || ipam.subnet !== undefined || ipam.ranges !== undefined) return DEFAULT_MTU
  const path = typeof ipam.subnetFile === 'string' ? ipam.subnetFile : DEFAULT_SUBNET_FILE
  try {
    return readSubnetFile(path)?.mtu ?? DEFAULT_MTU
  } catch {
    return DEFAULT_MTU
  }
}
