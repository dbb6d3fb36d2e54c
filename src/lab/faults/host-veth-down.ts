import {ip} from '../../netns/netns.js'
import {POD_IFACE} from '../names.js'
import {hostVethOf, restoreRoutes, routes, type RouteJson} from './kernel.js'
import type {FaultDefinition} from './types.js'

/** The node side of the pod's veth goes down: the node's /32 route to the pod disappears with it. */
export const hostVethDown: FaultDefinition = {
  id: 'host-veth-down',
  title: "The node end of the pod's veth is down",
  description:
    "Sets the node-side end of the pod's veth pair down in the node namespace (found by the pod eth0's peer ifindex). The pod's eth0 shows NO-CARRIER, and the node loses its /32 route to the pod.",
  symptom: 'the pod reaches nothing and nothing reaches it; its eth0 says NO-CARRIER / state LOWERLAYERDOWN',
  scope: 'pod',
  modes: ['vxlan', 'host-gw'],
  stopsDaemon: false,
  async apply(ctx, {node, pod}) {
    const veth = await hostVethOf(pod!.netns, POD_IFACE, node.netns)
    const saved = (await routes(node.netns)).filter((r) => r.dev === veth)
    ctx.remember({veth, routes: saved})
    await ip(['link', 'set', 'dev', veth, 'down'], node.netns)
    return {undo: {veth, routes: saved}, summary: `ip -n ${node.netns} link set ${veth} down`}
  },
  async heal(_ctx, {node}, undo) {
    await ip(['link', 'set', 'dev', undo.veth as string, 'up'], node.netns)
    await restoreRoutes(node.netns, undo.routes as RouteJson[])
  },
}
