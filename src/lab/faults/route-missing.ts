import {ip} from '../../netns/netns.js'
import {restoreRoutes, routeArgs, routes, type RouteJson} from './kernel.js'
import type {FaultDefinition} from './types.js'

/** The node's route to another node's pod CIDR is deleted (with the daemon stopped, so it stays deleted). */
export const routeMissing: FaultDefinition = {
  id: 'route-missing',
  title: "A node has no route to another node's pods",
  description:
    "Stops the node's daemon, then deletes the node's route to the peer node's pod CIDR. With no more specific route and no default route in the node, packets for the peer's pods are unroutable there.",
  symptom:
    'pods on the node can\'t reach pods on the peer node (ping: no reply, or "Destination Net Unreachable" from the node\'s gateway)',
  scope: 'peer',
  modes: ['vxlan', 'host-gw'],
  stopsDaemon: true,
  async apply(ctx, {node, peer}) {
    const saved = (await routes(node.netns)).filter((r) => r.dst === peer!.podCIDR)
    if (saved.length === 0) throw new Error(`${node.name} has no route to ${peer!.name}'s pod CIDR ${peer!.podCIDR}`)
    ctx.remember({routes: saved})
    for (const r of saved) await ip(['route', 'del', ...routeArgs(r)], node.netns)
    return {
      undo: {routes: saved},
      summary: `ip -n ${node.netns} route del ${saved.map((r) => routeArgs(r).join(' ')).join('; ')}`,
    }
  },
  async heal(_ctx, {node}, undo) {
    await restoreRoutes(node.netns, undo.routes as RouteJson[])
  },
}
