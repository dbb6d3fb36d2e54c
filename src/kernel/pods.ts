/**
 * A node's pod namespaces, found three ways, so that a pod is found even when its address is gone
 * (`address-missing`):
 *
 * 1. by address: the namespace that holds the pod IP on an interface;
 * 2. by host veth: the node routes the pod IP through a veth (`10.244.1.5 dev veth…`, what
 *    ptp-style plugins and cnidbg-ref install); the namespace at that veth's other end is the pod's;
 * 3. by the CNI result cache (`/var/lib/cni/results`, libcni's): the runtime's record of which
 *    sandbox got which address.
 *
 * Which namespaces are this node's: the node names its veth peers' namespaces (`ip netns list-id`,
 * named ones only). A named namespace the node does not name is another node's (the lab's nodes share
 * one /run/netns) and is skipped. The other end of a veth is the namespace the node's nsid names,
 * else the one whose link pairs with it by ifindex (unnamed namespaces, e.g. /proc/<pid>/ns/net).
 * The node is read first, then only the namespaces that may be its own, each in one spawned process:
 * the others are never entered (on the lab's machine, /run/netns holds every lab's and every test's
 * namespaces, and a process that visits one being torn down is stopped with it).
 */
import {statSync} from 'node:fs'

import {isIPv4} from '../core/ip.js'
import {DEFAULT_CACHE_DIR, listCacheEntries} from '../runtime/cache.js'
import {runJobsInNetns} from './multi-exec.js'
import {listNetnsCandidates, netnsName, parseAddrLines, type NetnsScanOptions} from './netns-scan.js'
import type {LinkInfo, RouteEntry} from './reader.js'

export type PodFoundBy = 'address' | 'host-veth' | 'cni-cache'

export interface PodNetns {
  ip: string
  /** A path nsenter accepts. */
  path: string
  /** Its name under /run/netns, when it has one. */
  name?: string
  /** The pod's interface: the one holding the address, the veth's peer, or the cache's ifName. */
  ifname?: string
  via: PodFoundBy
  /** The node-side veth the node routes the pod IP through, when there is one. */
  hostVeth?: string
  /** The sandbox's container ID, when the result cache names it. */
  containerId?: string
}

export interface PodFinderOptions {
  /** The node's network namespace (a path nsenter accepts). */
  nodeNetns: string
  /** libcni's cache directory (the one holding results/). Default /var/lib/cni. */
  cniCacheDir?: string
  /** Where to look for namespaces; the node's own is never a pod's. */
  scan?: NetnsScanOptions
}

const SEP = '@@cnidbg-pods@@'
const NODE_SCRIPT = `ip -j -4 route show table all 2>/dev/null; echo ${SEP}; ip -j link show 2>/dev/null; echo ${SEP}; ip -j netns list-id 2>/dev/null`
const CANDIDATE_SCRIPT = `ip -o -4 addr show 2>/dev/null; echo ${SEP}; ip -j link show 2>/dev/null`

function json<T>(text: string | undefined): T[] {
  try {
    const v = JSON.parse((text ?? '').trim() || '[]') as unknown
    return Array.isArray(v) ? (v as T[]) : []
  } catch {
    return []
  }
}

function inodeOf(path: string): number | undefined {
  try {
    return statSync(path).ino
  } catch {
    return undefined
  }
}

/** The pod addresses of a cached result (`ips[].address`, or the legacy `ip4.ip`), without prefix. */
function cachedIPs(result: Record<string, unknown> | undefined): string[] {
  const out: string[] = []
  const ips = Array.isArray(result?.ips) ? (result.ips as Array<Record<string, unknown>>) : []
  for (const x of ips) if (typeof x?.address === 'string') out.push(x.address.split('/')[0] ?? '')
  const legacy = (result?.ip4 as Record<string, unknown> | undefined)?.ip
  if (typeof legacy === 'string') out.push(legacy.split('/')[0] ?? '')
  return out.filter(isIPv4)
}

/** The route that sends `ip` out of a device, as a host route (`ip/32`, `ip`) in any table. */
function hostRoute(routes: RouteEntry[], ip: string): RouteEntry | undefined {
  return routes.find((r) => (r.dst === ip || r.dst === `${ip}/32`) && r.dev && !r.gateway)
}

/**
 * Finds the namespaces of these pod IPs on the node. IPs found no way are absent from the map.
 */
export async function findPodNetns(ips: readonly string[], opts: PodFinderOptions): Promise<Map<string, PodNetns>> {
  const wanted = [...new Set(ips.filter(isIPv4))]
  const out = new Map<string, PodNetns>()
  if (!wanted.length) return out
  const nodeInode = inodeOf(opts.nodeNetns)
  const [node] = await runJobsInNetns([{nsPath: opts.nodeNetns, script: NODE_SCRIPT}], {timeoutMs: 8000})
  const [routesText, linksText, idsText] = (node?.stdout ?? '').split(`${SEP}\n`)
  const routes = json<RouteEntry>(routesText)
  const nodeLinks = json<LinkInfo>(linksText)
  const ids = json<{nsid: number; name?: string}>(idsText)
  const nsidName = new Map(ids.filter((x) => x.name).map((x) => [x.nsid, x.name as string]))
  const namedByNode = new Set(nsidName.values())
  // A named namespace the node does not name as a veth peer belongs to another node (or to none).
  const mine = (name: string | undefined) => !name || namedByNode.size === 0 || namedByNode.has(name)
  // Only this node's are entered: another's (another lab's, another test's) is never visited.
  const candidates = listNetnsCandidates(opts.scan)
    .filter((c) => c.inode !== nodeInode)
    .map((c) => ({...c, name: c.name ?? netnsName(c.path)}))
    .filter((c) => mine(c.name))
  const results = await runJobsInNetns(
    candidates.map((c) => ({nsPath: c.path, script: CANDIDATE_SCRIPT})),
    {timeoutMs: 8000},
  )
  const views = candidates.map((c, i) => {
    const [addrs, links] = (results[i]?.stdout ?? '').split(`${SEP}\n`)
    return {path: c.path, name: c.name, addrs: parseAddrLines(addrs ?? ''), links: json<LinkInfo>(links)}
  })

  for (const ip of wanted) {
    const route = hostRoute(routes, ip)
    const veth = route ? nodeLinks.find((l) => l.ifname === route.dev) : undefined
    const hostVeth = veth?.linkinfo?.info_kind === 'veth' || veth?.link_netnsid !== undefined ? veth?.ifname : undefined
    const held = views.find((v) => v.addrs.has(ip) && mine(v.name))
    if (held) {
      out.set(ip, {ip, path: held.path, name: held.name, ifname: held.addrs.get(ip), via: 'address', hostVeth})
      continue
    }
    if (veth && veth.link_index !== undefined) {
      const peerName = veth.link_netnsid !== undefined ? nsidName.get(veth.link_netnsid) : undefined
      const peerOf = (v: (typeof views)[number]) =>
        v.links.find((l) => l.ifindex === veth.link_index && l.link_index === veth.ifindex)
      const at = peerName ? views.find((v) => v.name === peerName) : views.find((v) => mine(v.name) && peerOf(v))
      const peer = at ? peerOf(at) : undefined
      if (at && peer) {
        out.set(ip, {ip, path: at.path, name: at.name, ifname: peer.ifname, via: 'host-veth', hostVeth: veth.ifname})
        continue
      }
    }
    for (const c of listCacheEntries(opts.cniCacheDir ?? DEFAULT_CACHE_DIR)) {
      const path = c.entry.netns
      if (!path || !cachedIPs(c.entry.result).includes(ip) || inodeOf(path) === undefined) continue
      if (!mine(netnsName(path))) continue
      out.set(ip, {
        ip,
        path,
        name: netnsName(path),
        ifname: c.entry.ifName,
        via: 'cni-cache',
        hostVeth,
        containerId: c.entry.containerId,
      })
      break
    }
  }
  return out
}
