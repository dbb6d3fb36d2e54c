/**
 * Reads a node's kernel state with iproute2's JSON output (`ip -j`, `bridge -j`), in the node's
 * namespace via `-n` (read-only). The parsers are pure and tested on captured output
 * (test/daemon/kernel-state.test.ts); iproute2 omits fields at their defaults, so every field is
 * optional on the way in and normalized on the way out.
 */
import {run, runOk} from '../process/exec.js'
import {ipJson} from '../netns/netns.js'
import {normalizeNetwork} from '../core/ip.js'
import {normalizeMac} from '../core/mac.js'
import type {ActualFdb, ActualNeigh, ActualRoute, ActualState, Ownership} from './model.js'

export interface LinkAddress {
  address: string
  prefix: number
}

export interface VxlanInfo {
  id?: number
  local?: string
  /** Underlay device name (only when it is in the same namespace). */
  link?: string
  port?: number
  learning?: boolean
}

export interface LinkInfo {
  name: string
  index: number
  mac: string
  mtu: number
  operstate: string
  /** Administratively up (IFF_UP). */
  up: boolean
  kind?: string
  master?: string
  vxlan?: VxlanInfo
  ipv4: LinkAddress[]
}

type Json = Record<string, unknown>

function asArray(v: unknown): Json[] {
  return Array.isArray(v) ? (v.filter((x) => x && typeof x === 'object') as Json[]) : []
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

/** `ip -j -d addr show`. */
export function parseLinks(json: unknown): LinkInfo[] {
  return asArray(json).map((l) => {
    const flags = Array.isArray(l.flags) ? (l.flags as unknown[]).map(String) : []
    const linkinfo = (l.linkinfo ?? {}) as Json
    const kind = str(linkinfo.info_kind)
    const data = (linkinfo.info_data ?? {}) as Json
    const link: LinkInfo = {
      name: str(l.ifname) ?? '',
      index: num(l.ifindex) ?? 0,
      mac: normalizeMac(str(l.address) ?? '') ?? '',
      mtu: num(l.mtu) ?? 0,
      operstate: str(l.operstate) ?? 'UNKNOWN',
      up: flags.includes('UP'),
      kind,
      master: str(l.master),
      ipv4: asArray(l.addr_info)
        .filter((a) => a.family === 'inet' && typeof a.local === 'string')
        .map((a) => ({address: a.local as string, prefix: num(a.prefixlen) ?? 32})),
    }
    if (kind === 'vxlan') {
      link.vxlan = {
        id: num(data.id),
        local: str(data.local),
        link: str(data.link),
        port: num(data.port),
        learning: typeof data.learning === 'boolean' ? data.learning : undefined,
      }
    }
    return link
  })
}

// rtnetlink.h RTN_* (ip -N prints the number).
const RTN_TYPES: Record<string, string> = {
  '1': 'unicast',
  '2': 'local',
  '3': 'broadcast',
  '4': 'anycast',
  '5': 'multicast',
  '6': 'blackhole',
  '7': 'unreachable',
  '8': 'prohibit',
  '9': 'throw',
  '10': 'nat',
}

/** `ip -N -j route show table main`. iproute2 omits `protocol` for boot (3) and `type` for unicast. */
export function parseRoutes(json: unknown): ActualRoute[] {
  const out: ActualRoute[] = []
  for (const r of asArray(json)) {
    const rawDst = str(r.dst)
    if (!rawDst) continue
    const dst = rawDst === 'default' ? '0.0.0.0/0' : normalizeNetwork(rawDst.includes('/') ? rawDst : `${rawDst}/32`, 4)
    if (!dst) continue // IPv6 or something we do not model
    const type = str(r.type) ?? 'unicast'
    const flags = Array.isArray(r.flags) ? (r.flags as unknown[]).map(String) : []
    out.push({
      dst,
      via: str(r.gateway),
      dev: str(r.dev) ?? '',
      onlink: flags.includes('onlink'),
      metric: num(r.metric) ?? 0,
      proto: str(r.protocol) ?? '3',
      type: RTN_TYPES[type] ?? type,
      multipath: Array.isArray(r.nexthops),
    })
  }
  return out
}

/** `ip -4 -j neigh show`. */
export function parseNeighs(json: unknown): ActualNeigh[] {
  return asArray(json)
    .filter((n) => typeof n.dst === 'string' && typeof n.dev === 'string')
    .map((n) => ({
      ip: n.dst as string,
      mac: normalizeMac(str(n.lladdr) ?? '') ?? '',
      dev: n.dev as string,
      state: Array.isArray(n.state) && n.state.length > 0 ? String(n.state[0]) : '',
    }))
}

/** `bridge -j fdb show dev <dev>` (iproute2 leaves `ifname` out when filtering by dev). */
export function parseFdbs(json: unknown, dev: string): ActualFdb[] {
  return asArray(json)
    .filter((f) => typeof f.mac === 'string' && typeof f.dst === 'string')
    .map((f) => ({
      mac: normalizeMac(f.mac as string) ?? (f.mac as string),
      dst: f.dst as string,
      dev: str(f.ifname) ?? dev,
      state: str(f.state) ?? '',
    }))
}

function nsArgs(netns: string | undefined): string[] {
  return netns ? ['-n', netns] : []
}

/**
 * Splits iproute2's batch output (one JSON document per command, concatenated) into documents,
 * tracking bracket depth outside strings so it does not depend on line breaks.
 */
export function splitJsonDocuments(text: string): unknown[] {
  const docs: unknown[] = []
  let depth = 0
  let start = -1
  let inString = false
  let escaped = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (inString) {
      if (escaped) escaped = false
      else if (c === '\\') escaped = true
      else if (c === '"') inString = false
      continue
    }
    if (c === '"') inString = true
    else if (c === '[' || c === '{') {
      if (depth === 0) start = i
      depth++
    } else if (c === ']' || c === '}') {
      depth--
      if (depth === 0 && start >= 0) {
        docs.push(JSON.parse(text.slice(start, i + 1)))
        start = -1
      }
    }
  }
  return docs
}

export async function readLinks(netns: string | undefined): Promise<LinkInfo[]> {
  return parseLinks(await ipJson(['-d', 'addr', 'show'], netns))
}

/** `bridge fdb show dev X`; a missing X (the VTEP was just deleted) is an empty table, not an error. */
export async function readFdbs(netns: string | undefined, dev: string): Promise<ActualFdb[]> {
  const r = await run('bridge', [...nsArgs(netns), '-j', 'fdb', 'show', 'dev', dev], {timeoutMs: 30_000})
  if (r.exitCode !== 0) {
    if (/Cannot find device/i.test(r.stderr)) return []
    throw new Error(`bridge fdb show dev ${dev}: ${r.stderr.trim() || `exit ${r.exitCode}`}`)
  }
  const text = r.stdout.trim()
  return parseFdbs(text ? JSON.parse(text) : [], dev)
}

export interface NodeSnapshot {
  links: LinkInfo[]
  state: ActualState
}

/**
 * Everything a reconcile reads, in two processes run in parallel: one `ip -batch` (links with
 * addresses and details, the main routing table, neighbours) and one `bridge fdb show` per owned FDB
 * device. A drift check every few seconds has to be cheap on a busy node.
 */
export async function readNode(netns: string | undefined, own: Ownership): Promise<NodeSnapshot> {
  const commands = ['addr show', 'route show table main', ...(own.neighDevs.length > 0 ? ['neigh show'] : [])]
  const [r, fdbLists] = await Promise.all([
    runOk('ip', [...nsArgs(netns), '-N', '-d', '-j', '-batch', '-'], {
      input: commands.join('\n') + '\n',
      timeoutMs: 30_000,
    }),
    Promise.all(own.fdbDevs.map((d) => readFdbs(netns, d))),
  ])
  const docs = splitJsonDocuments(r.stdout)
  if (docs.length !== commands.length) {
    throw new Error(`ip -batch returned ${docs.length} JSON documents for ${commands.length} commands`)
  }
  const links = parseLinks(docs[0])
  const present = new Set(links.map((l) => l.name))
  return {
    links,
    state: {
      routes: parseRoutes(docs[1]),
      neighs: docs[2] ? parseNeighs(docs[2]).filter((n) => !n.ip.includes(':')) : [],
      fdbs: fdbLists.flat().filter((f) => present.has(f.dev)),
    },
  }
}

/** The underlay facts a backend needs: the interface's first global IPv4 address and its MTU. */
export interface Underlay {
  iface: string
  ip: string
  prefix: number
  mtu: number
  up: boolean
}

export function underlayOf(links: readonly LinkInfo[], iface: string): Underlay | {error: string} {
  const link = links.find((l) => l.name === iface)
  if (!link) return {error: `interface ${iface} not found`}
  const addr = link.ipv4.find((a) => !a.address.startsWith('127.'))
  if (!addr) return {error: `interface ${iface} has no IPv4 address`}
  return {iface, ip: addr.address, prefix: addr.prefix, mtu: link.mtu, up: link.up}
}
