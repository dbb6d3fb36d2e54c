import {getSysctls, setSysctls} from '../network.js'
import type {FaultDefinition} from './types.js'

const KEY = 'net.ipv4.ip_forward'

/** IPv4 forwarding off in the node: it stops routing its pods' packets. */
export const ipForwardOff: FaultDefinition = {
  id: 'ip-forward-off',
  title: 'IP forwarding is off on a node',
  description: `Sets ${KEY}=0 in the node namespace. The node no longer routes between its interfaces, so its pods can't talk to anything but the node itself. (A CNI ADD on that node turns it back on: cnidbg-ref enables forwarding, as upstream plugins do.)`,
  symptom: "pods on the node reach only the node's own addresses; ping to other pods gets no reply",
  scope: 'node',
  modes: ['vxlan', 'host-gw'],
  stopsDaemon: false,
  async apply(ctx, {node}) {
    const before = (await getSysctls(node.netns, [KEY]))[KEY] ?? '1'
    ctx.remember({value: before})
    await setSysctls(node.netns, {[KEY]: '0'})
    return {undo: {value: before}, summary: `sysctl -w ${KEY}=0 in ${node.netns} (was ${before})`}
  },
  async heal(_ctx, {node}, undo) {
    await setSysctls(node.netns, {[KEY]: String(undo.value ?? '1')})
  },
}
