import {DEFAULT_SERVICE_CIDR} from '../apiserver/services.js'
import {iptables} from './kernel.js'
import type {FaultDefinition} from './types.js'

const rule = (tag: string): string[] => [
  'PREROUTING',
  '-d',
  DEFAULT_SERVICE_CIDR,
  '-m',
  'comment',
  '--comment',
  `cnidbg-lab-fault-${tag}`,
  '-j',
  'ACCEPT',
]

/**
 * An ACCEPT for the service range first in the node's nat PREROUTING: packets to a ClusterIP leave the
 * nat table before kube-proxy's KUBE-SERVICES jump, so no Service is DNATed on this node. The proxy
 * keeps its own rules as they are (its jump is still there, only no longer reached), so it does not
 * repair this, as it would a deleted rule at its next resync.
 */
export const serviceNatBypassed: FaultDefinition = {
  id: 'service-nat-bypassed',
  title: "The node's Service NAT is bypassed",
  description: `Inserts \`-t nat -I PREROUTING 1 -d ${DEFAULT_SERVICE_CIDR} -j ACCEPT\` in the node namespace, ahead of the service proxy's jump to KUBE-SERVICES. Packets from the node's pods to a ClusterIP are then never DNATed to an endpoint: they are routed to the ClusterIP itself, which nothing answers. The proxy's KUBE-SERVICES, KUBE-SVC-… and KUBE-SEP-… chains stay in place, unreached, as when another program's rule shadows kube-proxy's.`,
  symptom:
    "the node's pods can't connect to any ClusterIP (the connection times out) while they still reach the endpoint pods by their pod IPs",
  scope: 'node',
  modes: ['vxlan', 'host-gw', 'vpc', 'bgp'],
  stopsDaemon: false,
  async apply(ctx, {node}) {
    const tag = Math.random().toString(16).slice(2, 8)
    const r = rule(tag)
    ctx.remember({tag})
    await iptables(node.netns, ['-t', 'nat', '-I', r[0]!, '1', ...r.slice(1)])
    return {
      undo: {tag},
      summary: `iptables -t nat -I PREROUTING 1 -d ${DEFAULT_SERVICE_CIDR} -j ACCEPT in ${node.netns}`,
    }
  },
  async heal(_ctx, {node}, undo) {
    const r = rule(undo.tag as string)
    // `-t nat` goes before `-C`/`-D`, which take the chain as their next word.
    const present = await iptables(node.netns, ['-t', 'nat', '-C', ...r]).then(
      () => true,
      () => false,
    )
    if (present) await iptables(node.netns, ['-t', 'nat', '-D', ...r])
  },
}
