import {parseCIDR, type Family} from './ip.js'

/** Host-side veth names start with this; GC and `cnidbg` tools recognise ours by it. */
export const HOST_VETH_PREFIX = 'cnidbg'
/** The host veth's ifalias: "cnidbg-ref <network> <containerID> <ifname>", so GC can attribute it. */
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

export function hostAlias(network: string, containerID: string, ifname: string): string {
  return `${ALIAS_TAG} ${network} ${containerID} ${ifname}`
}

/** A random locally administered unicast MAC. Setting it ourselves saves reading it back. */
export function randomMac(): string {
  const b = Array.from({length: 6}, () => Math.floor(Math.random() * 256))
  b[0] = (b[0]! & 0xfe) | 0x02
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':')
}

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
const ipOf = (cidr: string): string => cidr.split('/')[0]!

/** What the node side needs before IPAM has answered: the pair and its names, MACs and MTU. */
export type LinkPlan = Pick<VethPlan, 'hostIf' | 'podIf' | 'hostMac' | 'podMac' | 'mtu' | 'podNsPath' | 'alias'>

/**
 * What needs nothing from IPAM, so it runs while IPAM works. The node side creates the pair, its pod
 * end straight in CNI_NETNS (iproute2 takes a path there), and brings its end up; the pod side brings
 * its end up (the kernel refuses IFF_UP for a peer created into another namespace).
 */
export function linkBatches(p: LinkPlan): {host: string[]; pod: string[]} {
  return {
    host: [
      `link add ${p.hostIf} mtu ${p.mtu} address ${p.hostMac} type veth peer name ${p.podIf} mtu ${p.mtu} address ${p.podMac} netns ${p.podNsPath}`,
      `link set ${p.hostIf} up alias "${p.alias}"`,
    ],
    pod: [`link set ${p.podIf} up`],
  }
}

/** The rest of the node side, once IPAM has answered: the gateway /32 and a /32 route to the pod. */
export function hostAddrBatch(p: VethPlan): string[] {
  const lines: string[] = []
  const gateways = new Set<string>()
  for (const a of p.addrs) {
    if (!gateways.has(a.gateway)) {
      gateways.add(a.gateway)
      lines.push(`addr add ${a.gateway}/${hostLen(a.family)} dev ${p.hostIf}${a.family === 6 ? ' nodad' : ''}`)
    }
    // Appended: two networks handing out the same address on one node must not make ADD fail.
    lines.push(`route append ${ipOf(a.address)}/${hostLen(a.family)} dev ${p.hostIf} scope link`)
  }
  return lines
}

/**
 * The pod side's addresses and routes, once IPAM has answered. Like upstream ptp, the pod reaches everything
 * through the gateway, a /32 link route, and its address has no prefix route. Routes are appended, not
 * added: a second attachment of the same network in one pod (SPEC §2 ADD allows several CNI_IFNAMEs)
 * gets its own copies, and deleting it leaves the first one's routes intact.
 */
export function podAddrBatch(p: VethPlan): string[] {
  const metric = (f: Family): string => (f === 6 ? ` metric ${v6Metric(p.podIf)}` : '')
  const lines: string[] = []
  for (const a of p.addrs) {
    // nodad: CHECK right after ADD must find the address usable, not tentative (checklist P84).
    lines.push(`addr add ${a.address} dev ${p.podIf} noprefixroute${a.family === 6 ? ' nodad' : ''}`)
    lines.push(`route append ${a.gateway}/${hostLen(a.family)} dev ${p.podIf} scope link${metric(a.family)}`)
  }
  for (const r of p.routes) {
    const family = parseCIDR(r.dst)?.family
    const gw = r.gw ?? p.addrs.find((a) => a.family === family)?.gateway
    if (!gw || !family) continue
    lines.push(`route append ${r.dst} via ${gw} dev ${p.podIf}${metric(family)}`)
  }
  return lines
}
