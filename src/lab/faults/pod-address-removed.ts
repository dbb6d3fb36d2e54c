import {ip} from '../../netns/netns.js'
import {POD_IFACE} from '../names.js'
import {type AddrJson, link, restoreRoutes, routes, type RouteJson} from './kernel.js'
import type {FaultDefinition} from './types.js'

/** The pod's IPv4 address is deleted; with the last address gone the kernel flushes its routes too. */
export const podAddressRemoved: FaultDefinition = {
  id: 'pod-address-removed',
  title: "The pod's IP address is gone",
  description:
    "Deletes the pod's IPv4 address from its eth0. The link stays up, but with no IPv4 address left the kernel also flushes the routes through eth0; the API server still shows the old pod IP.",
  symptom: "packets to the pod's IP get no answer; the pod itself has no source address",
  scope: 'pod',
  modes: ['vxlan', 'host-gw'],
  stopsDaemon: false,
  async apply(ctx, {pod}) {
    const l = await link(pod!.netns, POD_IFACE)
    const addrs = (l?.addr_info ?? []).filter((a) => a.family === 'inet')
    if (addrs.length === 0) throw new Error(`${POD_IFACE} in ${pod!.netns} has no IPv4 address to remove`)
    const saved = await routes(pod!.netns)
    ctx.remember({addrs, routes: saved})
    for (const a of addrs) await ip(['addr', 'del', `${a.local}/${a.prefixlen}`, 'dev', POD_IFACE], pod!.netns)
    return {
      undo: {addrs, routes: saved},
      summary: `ip -n ${pod!.netns} addr del ${addrs.map((a) => `${a.local}/${a.prefixlen}`).join(' ')} dev ${POD_IFACE}`,
    }
  },
  async heal(_ctx, {pod}, undo) {
    const now = (await link(pod!.netns, POD_IFACE))?.addr_info ?? []
    for (const a of undo.addrs as AddrJson[]) {
      if (now.some((x) => x.local === a.local)) continue
      await ip(
        ['addr', 'add', `${a.local}/${a.prefixlen}`, 'dev', POD_IFACE, ...(a.noprefixroute ? ['noprefixroute'] : [])],
        pod!.netns,
      )
    }
    await restoreRoutes(pod!.netns, undo.routes as RouteJson[])
  },
}
