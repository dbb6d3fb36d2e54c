/**
 * Kernel-state assertions for runtime tests: what a CNI result claims (interfaces in namespaces with
 * MACs, addresses, routes) must be what `ip -j` shows in those namespaces.
 */
import {basename} from 'node:path'

import type {Test} from 'tap'

import {ipJson} from '../../src/netns/index.js'
import {toCanonical} from '../../src/runtime/result.js'

export interface IpLink {
  ifname: string
  address?: string
  mtu?: number
  link_type?: string
  addr_info?: Array<{family: string; local: string; prefixlen: number}>
}

export interface IpRoute {
  dst: string
  gateway?: string
  dev?: string
}

export const links = (ns: string) => ipJson<IpLink[]>(['link', 'show'], ns)
export const addrs = (ns: string) => ipJson<IpLink[]>(['addr', 'show'], ns)
export const routes4 = (ns: string) => ipJson<IpRoute[]>(['-4', 'route', 'show'], ns)
export const routes6 = (ns: string) => ipJson<IpRoute[]>(['-6', 'route', 'show'], ns)

/** The namespace name of an interface: its sandbox (a /run/netns path) or the plugins' host netns. */
const nsOf = (sandbox: string | undefined, hostNs: string): string => (sandbox ? basename(sandbox) : hostNs)

/**
 * Asserts that every interface in `result` exists in the namespace it names (the sandbox path, else
 * `hostNs`) with the stated MAC and MTU, every address is configured on its interface, and every
 * route is in the routing table of the interface the addresses belong to.
 */
export async function assertKernelMatchesResult(t: Test, result: unknown, hostNs: string): Promise<void> {
  const c = toCanonical(result)
  t.ok(c.interfaces.length > 0, 'the result lists interfaces')
  for (const iface of c.interfaces) {
    const ns = nsOf(iface.sandbox, hostNs)
    const link = (await links(ns)).find((l) => l.ifname === iface.name)
    t.ok(link, `interface ${iface.name} exists in ${ns}`)
    if (iface.mac) t.equal(link?.address, iface.mac.toLowerCase(), `${iface.name} has MAC ${iface.mac}`)
    if (iface.mtu) t.equal(link?.mtu, iface.mtu, `${iface.name} has MTU ${iface.mtu}`)
  }
  for (const ip of c.ips) {
    const iface = ip.interface === undefined ? undefined : c.interfaces[ip.interface]
    t.ok(iface, `${ip.address} names its interface`)
    if (!iface) continue
    const ns = nsOf(iface.sandbox, hostNs)
    const dev = (await addrs(ns)).find((l) => l.ifname === iface.name)
    const [addr, prefix] = ip.address.split('/')
    t.ok(
      dev?.addr_info?.some((a) => a.local === addr && a.prefixlen === Number(prefix)),
      `${ip.address} is configured on ${iface.name} in ${ns}`,
    )
  }
  const ctr = c.interfaces.find((i) => i.sandbox)
  for (const r of c.routes) {
    if (!ctr) break
    const ns = basename(ctr.sandbox!)
    const v6 = r.dst.includes(':')
    const table = await (v6 ? routes6 : routes4)(ns)
    const dst = r.dst === '0.0.0.0/0' || r.dst === '::/0' ? 'default' : r.dst
    // A route without gw goes via the address's gateway (how bridge and ptp install it).
    const gw = r.gw ?? c.ips.find((ip) => ip.address.includes(':') === v6)?.gateway
    const hit = table.find((x) => x.dst === dst && (!gw || x.gateway === gw))
    t.ok(hit, `route ${r.dst}${gw ? ` via ${gw}` : ''} is in ${ns}`)
  }
}
