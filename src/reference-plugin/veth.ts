import {arg, batchLine} from './batch.js'
import {CniError, CODE} from './errors.js'
import {formatCIDR, formatIP, parseCIDR, parseIP, type Family} from '../core/ip.js'

/** Host-side veth names start with this; GC and `cnidbg` tools recognise ours by it. */
export const HOST_VETH_PREFIX = 'cnidbg'
/** The host veth's ifalias starts with this; see hostAlias. */
export const ALIAS_TAG = 'cnidbg-ref'
/**
 * The node-side name: deterministic from (containerID, ifname), so DEL finds it without prevResult or
 * the netns (SPEC §2 DEL must work with neither). 6 + 8 = 14 characters, under IFNAMSIZ.
 */
export function hostVethName(containerID: string, ifname: string): string {
  return HOST_VETH_PREFIX + fnv1a(`${containerID}\0${ifname}`).toString(16).padStart(8, '0')
}

/** FNV-1a, 32 bits: stable across versions and cheap (node:crypto costs start-up time on the hot path). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5
  for (const byte of Buffer.from(text)) h = Math.imul(h ^ byte, 0x01000193) >>> 0
  return h
}

/**
 * The metric of a pod's IPv6 routes. The kernel merges IPv6 routes with the same prefix and metric
 * into one multipath route, so a second attachment in the same pod (say net1 next to eth0) gets its
 * own metric: deleting it must leave eth0's routes exactly as they were (checklist P99). eth0 keeps
 * the kernel's default, 1024.
 */
export function v6Metric(ifname: string): number {
  return ifname === 'eth0' ? 1024 : 1025 + (fnv1a(ifname) % 4000)
}

/** Bytes an alias field keeps as they are: those of network names and container IDs (SPEC §1, §3). */
const plainByte = (b: number): boolean =>
  (b >= 0x30 && b <= 0x39) ||
  (b >= 0x41 && b <= 0x5a) ||
  (b >= 0x61 && b <= 0x7a) ||
  b === 0x5f ||
  b === 0x2e ||
  b === 0x2d

function aliasField(text: string): string {
  let out = ''
  for (const b of Buffer.from(text))
    out += plainByte(b) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  return out
}

/**
 * The host veth's ifalias, "cnidbg-ref <network> <containerID> <ifname>", so GC can attribute it.
 * Each field is percent-encoded outside [A-Za-z0-9_.-], so any value ADD accepts (an interface name may
 * hold quotes, a network name or container ID other bytes) comes back intact and the alias always splits into four words.
 */
export function hostAlias(network: string, containerID: string, ifname: string): string {
  return `${ALIAS_TAG} ${aliasField(network)} ${aliasField(containerID)} ${aliasField(ifname)}`
}

export interface AliasFields {
  network: string
  containerID: string
  /** The decoded interface name, and the field as written (aliases from before the encoding). */
  ifnames: string[]
}

function unescape(field: string): string {
  try {
    return decodeURIComponent(field)
  } catch {
    return field
  }
}

/** Reads a hostAlias back; undefined when the alias is not ours. */
export function parseAlias(alias: string | undefined): AliasFields | undefined {
  const w = (alias ?? '').split(' ')
  if (w[0] !== ALIAS_TAG || w.length !== 4) return undefined
  const ifname = unescape(w[3]!)
  return {
    network: unescape(w[1]!),
    containerID: unescape(w[2]!),
    ifnames: ifname === w[3] ? [ifname] : [ifname, w[3]!],
  }
}

/**
 * Whether a node-side veth's alias records this attachment. Two attachments can hash to one
 * hostVethName, so DEL and ADD touch the link of that name only when its alias says it is theirs.
 */
export function aliasIsFor(alias: string | undefined, network: string, containerID: string, ifname: string): boolean {
  const a = parseAlias(alias)
  return a !== undefined && a.network === network && a.containerID === containerID && a.ifnames.includes(ifname)
}

/** Whose attachment an alias records, for an error message. */
export function aliasOwner(alias: string): string {
  const a = parseAlias(alias)
  if (!a) return alias ? `not cnidbg-ref's (its alias is ${JSON.stringify(alias)})` : 'not recorded (it has no alias)'
  return `network ${a.network}, container ${a.containerID}, interface ${JSON.stringify(a.ifnames[0])}`
}

// A random MAC set at creation saves reading it back.
export {randomMac} from '../core/mac.js'

export interface PodAddress {
  /** CIDR as IPAM returned it. */
  address: string
  gateway: string
  family: Family
}

export interface VethPlan {
  hostIf: string
  podIf: string
  hostMac: string
  podMac: string
  mtu: number
  /** CNI_NETNS: the pod end is created straight into it. */
  podNsPath: string
  alias: string
  addrs: PodAddress[]
  routes: Array<{dst: string; gw?: string}>
}

const hostLen = (f: Family): number => (f === 4 ? 32 : 128)

/** What the node side needs before IPAM has answered: the pair and its names, MACs and MTU. */
export type LinkPlan = Pick<VethPlan, 'hostIf' | 'podIf' | 'hostMac' | 'podMac' | 'mtu' | 'podNsPath' | 'alias'>

const badResult = (field: string, value: unknown, want: string): CniError =>
  new CniError(
    CODE.INVALID_CONFIG,
    `${field} ${JSON.stringify(value)} is not ${want}`,
    'cnidbg-ref writes only addresses it has parsed and printed itself',
  )

/** An address from the IPAM result, parsed and printed canonically: never the text as given. */
function ipText(text: string, field: string): {text: string; family: Family} {
  const a = parseIP(text)
  if (!a) throw badResult(field, text, 'an IP address')
  return {text: formatIP(a), family: a.family}
}

function cidrText(text: string, field: string): {text: string; ip: string; family: Family} {
  const c = parseCIDR(text)
  if (!c) throw badResult(field, text, 'an address in CIDR form')
  return {text: formatCIDR(c), ip: formatIP(c), family: c.family}
}

function mtuWord(mtu: number): string {
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw badResult('mtu', mtu, 'an integer from 68 to 65535')
  return String(mtu)
}

/**
 * What needs nothing from IPAM, so it runs while IPAM works. The node side creates the pair, its pod
 * end straight in CNI_NETNS (iproute2 takes a path there), and brings its end up; the pod side brings
 * its end up (the kernel refuses IFF_UP for a peer created into another namespace). Every name follows
 * a keyword ("name", "dev"): bare, ip would read a name such as "up" or "netns" as that keyword.
 */
export function linkBatches(p: LinkPlan): {host: string[]; pod: string[]} {
  const mtu = mtuWord(p.mtu)
  const podIf = arg(p.podIf, 'CNI_IFNAME')
  return {
    host: [
      batchLine(
        'link',
        'add',
        'name',
        p.hostIf,
        'mtu',
        mtu,
        'address',
        p.hostMac,
        'type',
        'veth',
        'peer',
        'name',
        podIf,
        'mtu',
        mtu,
        'address',
        p.podMac,
        'netns',
        arg(p.podNsPath, 'CNI_NETNS'),
      ),
      batchLine('link', 'set', 'dev', p.hostIf, 'up', 'alias', arg(p.alias, 'the veth alias')),
    ],
    pod: [batchLine('link', 'set', 'dev', podIf, 'up')],
  }
}

/** The rest of the node side, once IPAM has answered: the gateway /32 and a /32 route to the pod. */
export function hostAddrBatch(p: VethPlan): string[] {
  const lines: string[] = []
  const gateways = new Set<string>()
  p.addrs.forEach((a, n) => {
    const gw = ipText(a.gateway, `the IPAM result's ips[${n}].gateway`)
    const addr = cidrText(a.address, `the IPAM result's ips[${n}].address`)
    const len = String(hostLen(addr.family))
    if (!gateways.has(gw.text)) {
      gateways.add(gw.text)
      lines.push(
        batchLine(
          'addr',
          'add',
          `${gw.text}/${hostLen(gw.family)}`,
          'dev',
          p.hostIf,
          ...(gw.family === 6 ? ['nodad'] : []),
        ),
      )
    }
    // Appended: two networks handing out the same address on one node must not make ADD fail.
    lines.push(batchLine('route', 'append', `${addr.ip}/${len}`, 'dev', p.hostIf, 'scope', 'link'))
  })
  return lines
}

/**
 * The pod side's addresses and routes, once IPAM has answered. Like upstream ptp, the pod reaches everything
 * through the gateway, a /32 link route, and its address has no prefix route. Routes are appended, not
 * added: a second attachment of the same network in one pod (SPEC §2 ADD allows several CNI_IFNAMEs)
 * gets its own copies, and deleting it leaves the first one's routes intact.
 */
export function podAddrBatch(p: VethPlan): string[] {
  const dev = arg(p.podIf, 'CNI_IFNAME')
  const metric = (f: Family): string[] => (f === 6 ? ['metric', String(v6Metric(p.podIf))] : [])
  const lines: string[] = []
  const gateways: Array<{text: string; family: Family}> = []
  p.addrs.forEach((a, n) => {
    const addr = cidrText(a.address, `the IPAM result's ips[${n}].address`)
    const gw = ipText(a.gateway, `the IPAM result's ips[${n}].gateway`)
    gateways.push(gw)
    // nodad: CHECK right after ADD must find the address usable, not tentative (checklist P84).
    lines.push(
      batchLine('addr', 'add', addr.text, 'dev', dev, 'noprefixroute', ...(addr.family === 6 ? ['nodad'] : [])),
    )
    lines.push(
      batchLine(
        'route',
        'append',
        `${gw.text}/${hostLen(gw.family)}`,
        'dev',
        dev,
        'scope',
        'link',
        ...metric(gw.family),
      ),
    )
  })
  p.routes.forEach((r, n) => {
    const dst = cidrText(r.dst, `the IPAM result's routes[${n}].dst`)
    const gw =
      r.gw !== undefined
        ? ipText(r.gw, `the IPAM result's routes[${n}].gw`)
        : gateways.find((g) => g.family === dst.family)
    if (!gw) return
    if (gw.family !== dst.family)
      throw badResult(`the IPAM result's routes[${n}].gw`, r.gw, `an IPv${dst.family} address like its dst`)
    lines.push(batchLine('route', 'append', dst.text, 'via', gw.text, 'dev', dev, ...metric(dst.family)))
  })
  return lines
}
