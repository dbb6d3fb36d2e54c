import {ip} from '../../netns/netns.js'
import {POD_IFACE} from '../names.js'
import {restoreRoutes, routes, type RouteJson} from './kernel.js'
import type {FaultDefinition} from './types.js'

/** The pod's own interface goes down; the kernel drops every route through it with it. */
export const podLinkDown: FaultDefinition = {
  id: 'pod-link-down',
  title: "The pod's eth0 is down",
  description:
    "Sets the pod's eth0 administratively down inside the pod namespace. The kernel then removes every route through it (the gateway /32, the cluster and default routes), so the pod has no way out at all.",
  symptom: 'the pod reaches nothing and nothing reaches it; in the pod, ping says "Network is unreachable"',
  scope: 'pod',
  modes: ['vxlan', 'host-gw'],
  stopsDaemon: false,
  async apply(ctx, {pod}) {
    const saved = await routes(pod!.netns)
    ctx.remember({routes: saved})
    await ip(['link', 'set', 'dev', POD_IFACE, 'down'], pod!.netns)
    return {undo: {routes: saved}, summary: `ip -n ${pod!.netns} link set ${POD_IFACE} down`}
  },
  async heal(_ctx, {pod}, undo) {
    await ip(['link', 'set', 'dev', POD_IFACE, 'up'], pod!.netns)
    await restoreRoutes(pod!.netns, undo.routes as RouteJson[])
  },
}
