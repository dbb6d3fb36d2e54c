import type {CaseEnv} from './case-env.js'
import {ipJson, type Netns} from '../netns/index.js'
import {toCanonical} from '../runtime/result.js'

/** Kernel reads the checks share: what really exists, to hold against what a plugin reported. */

export interface LinkInfo {
  ifname: string
  address?: string
  mtu?: number
  flags?: string[]
  operstate?: string
  addr_info?: Array<{local: string; prefixlen: number; family: string}>
}

/** Links with their addresses in the namespace at `nsPath` ('' = the case's sandbox host). */
export async function readLinks(env: CaseEnv, nsName?: string): Promise<LinkInfo[]> {
  const ns = nsName ?? (env.setup.host ? undefined : env.sb.host.name)
  return ipJson<LinkInfo[]>(['addr', 'show'], ns)
}

export async function readRoutes(
  nsName: string | undefined,
  family: 4 | 6,
): Promise<Array<{dst: string; gateway?: string; dev?: string}>> {
  return ipJson(['-' + family, 'route', 'show', 'table', 'all'], nsName)
}

/**
 * What ADD must have left in the container, in one line when it is missing: a link named CNI_IFNAME
 * (P31), or for the loopback role `lo` up. Undefined when it is there.
 */
export async function missingAttachment(env: CaseEnv, ifname: string, ctr: Netns): Promise<string | undefined> {
  const links = await ipJson<LinkInfo[]>(['link', 'show'], ctr.name)
  const link = links.find((l) => l.ifname === ifname)
  if (!link) return `no link named ${ifname} in the container after ADD`
  if (env.role === 'loopback' && !(link.flags ?? []).includes('UP')) return `${ifname} is not up after ADD`
  return undefined
}

/** Compares a result's interfaces, IPs and routes with the kernel (P31, P40–P44, P47, P49). Returns mismatch lines. */
export async function resultVsKernel(env: CaseEnv, result: unknown, ctr: Netns): Promise<string[]> {
  const r = toCanonical(result)
  const problems: string[] = []
  const hostLinks = await readLinks(env)
  const nsCache = new Map<string, LinkInfo[]>()
  const linksOf = async (sandbox?: string): Promise<LinkInfo[] | undefined> => {
    if (!sandbox) return hostLinks
    if (sandbox !== ctr.path) return undefined
    if (!nsCache.has(sandbox)) nsCache.set(sandbox, await readLinks(env, ctr.name))
    return nsCache.get(sandbox)
  }
  const found: Array<LinkInfo | undefined> = []
  for (const [i, iface] of r.interfaces.entries()) {
    const links = await linksOf(iface.sandbox)
    if (!links) {
      problems.push(`interfaces[${i}] ${iface.name}: sandbox ${iface.sandbox} is not the container netns ${ctr.path}`)
      found.push(undefined)
      continue
    }
    const link = links.find((l) => l.ifname === iface.name)
    found.push(link)
    const where = iface.sandbox ? 'the container' : 'the host'
    if (!link) {
      problems.push(`interfaces[${i}] ${iface.name} does not exist in ${where}`)
      continue
    }
    if (iface.mac && link.address && iface.mac.toLowerCase() !== link.address.toLowerCase())
      problems.push(`interfaces[${i}] ${iface.name}: result says mac ${iface.mac}, kernel has ${link.address}`)
    if (iface.mtu !== undefined && link.mtu !== undefined && iface.mtu !== link.mtu)
      problems.push(`interfaces[${i}] ${iface.name}: result says mtu ${iface.mtu}, kernel has ${link.mtu}`)
  }
  for (const [i, ip] of r.ips.entries()) {
    const [addr, prefix] = ip.address.split('/')
    if (ip.interface === undefined || ip.interface < 0) continue
    const link = found[ip.interface]
    if (!link) continue
    const has = (link.addr_info ?? []).some((a) => a.local === addr && String(a.prefixlen) === prefix)
    if (!has) problems.push(`ips[${i}] ${ip.address} is not configured on ${link.ifname}`)
  }
  const ctrRoutes = [...(await readRoutes(ctr.name, 4)), ...(await readRoutes(ctr.name, 6))]
  for (const [i, rt] of r.routes.entries()) {
    const dst = rt.dst === '0.0.0.0/0' || rt.dst === '::/0' ? 'default' : rt.dst.replace(/\/(32|128)$/, '')
    const match = ctrRoutes.find((k) => (k.dst === dst || k.dst === rt.dst) && (!rt.gw || k.gateway === rt.gw))
    if (!match)
      problems.push(`routes[${i}] ${rt.dst}${rt.gw ? ` via ${rt.gw}` : ''} is not in the container's routing table`)
  }
  return problems
}
