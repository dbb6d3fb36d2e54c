import {ip} from '../../netns/netns.js'
import {vtepName, DEFAULT_VNI} from '../../daemon/backends/vxlan.js'
import {NODE_IFACE} from '../names.js'
import {networkOf, restoreRoutes, routeArgs, routes, type RouteJson} from './kernel.js'
import type {FaultDefinition} from './types.js'

/**
 * The route to the peer's pod CIDR points at another node: a third node when the lab has one (it
 * forwards the packets on, so they may still arrive by a detour), else an underlay address no node has.
 */
export const routeWrongNode: FaultDefinition = {
  id: 'route-wrong-node',
  title: "A node's route to another node's pods points at the wrong node",
  description:
    "Stops the node's daemon and rewrites its route to the peer's pod CIDR to go via a different node: in host-gw mode via that node's underlay IP, in vxlan mode via that node's VTEP address. The wrong node is a third node if the lab has one, else 198.18.0.250 (an address no node has, like a node that was replaced).",
  symptom:
    'with a ghost next hop: no reply, and the node has an INCOMPLETE/FAILED neighbour for it. With a third node: traffic detours through it (trace shows the wrong hop) and still arrives',
  scope: 'peer',
  modes: ['vxlan', 'host-gw'],
  stopsDaemon: true,
  async apply(ctx, {node, peer}) {
    const saved = (await routes(node.netns)).filter((r) => r.dst === peer!.podCIDR)
    if (saved.length === 0) throw new Error(`${node.name} has no route to ${peer!.name}'s pod CIDR ${peer!.podCIDR}`)
    const wrong = ctx.otherNode(node, peer!)
    ctx.remember({routes: saved, wrong})
    const orig = saved[0]!
    const via =
      ctx.state.mode === 'vxlan'
        ? ['via', networkOf(wrong.podCIDR), 'dev', orig.dev ?? vtepName(DEFAULT_VNI), 'onlink']
        : ['via', wrong.nodeIP, 'dev', orig.dev ?? NODE_IFACE]
    const args = [
      peer!.podCIDR,
      ...via,
      ...(orig.protocol ? ['proto', orig.protocol] : []),
      ...(orig.metric !== undefined ? ['metric', String(orig.metric)] : []),
    ]
    await ip(['route', 'replace', ...args], node.netns)
    return {
      undo: {routes: saved, wrong},
      summary: `ip -n ${node.netns} route replace ${args.join(' ')} (was ${routeArgs(orig).join(' ')}; wrong node: ${wrong.name ?? 'none, a ghost address'})`,
    }
  },
  async heal(_ctx, {node}, undo) {
    await restoreRoutes(node.netns, undo.routes as RouteJson[])
  },
}
