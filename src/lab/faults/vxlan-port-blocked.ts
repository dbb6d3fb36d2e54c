import {DEFAULT_VXLAN_PORT} from '../../daemon/backends/vxlan.js'
import {iptables, iptablesChainsPresent, iptablesHas, type IptablesChain, removeMadeChains} from './kernel.js'
import type {FaultDefinition} from './types.js'

const rule = (id: string): string[] => [
  'INPUT',
  '-p',
  'udp',
  '--dport',
  String(DEFAULT_VXLAN_PORT),
  '-m',
  'comment',
  '--comment',
  `cnidbg-lab-fault-${id}`,
  '-j',
  'DROP',
]

const CHAINS: IptablesChain[] = [['filter', 'INPUT']]

/** The receiving node drops VXLAN's UDP port, as a host firewall that doesn't know about the overlay would. */
export const vxlanPortBlocked: FaultDefinition = {
  id: 'vxlan-port-blocked',
  title: `VXLAN (UDP ${DEFAULT_VXLAN_PORT}) is blocked on a node`,
  description: `Inserts an iptables INPUT rule in the node namespace dropping UDP port ${DEFAULT_VXLAN_PORT}. Encapsulated packets from other nodes are dropped before the VTEP decapsulates them; the node's own outgoing VXLAN traffic still leaves.`,
  symptom: `pods on other nodes can't reach pods on this node (and get no replies from them); tcpdump on the node's eth0 shows UDP ${DEFAULT_VXLAN_PORT} arriving and nothing on the VTEP`,
  scope: 'node',
  modes: ['vxlan'],
  stopsDaemon: false,
  async apply(ctx, {node}) {
    const tag = Math.random().toString(16).slice(2, 8)
    const r = rule(tag)
    const undo = {tag, chainsBefore: await iptablesChainsPresent(node.netns, CHAINS)}
    ctx.remember(undo)
    await iptables(node.netns, ['-I', r[0]!, '1', ...r.slice(1)])
    return {undo, summary: `iptables -I INPUT 1 -p udp --dport ${DEFAULT_VXLAN_PORT} -j DROP in ${node.netns}`}
  },
  async heal(_ctx, {node}, undo) {
    const r = rule(undo.tag as string)
    if (await iptablesHas(node.netns, r)) await iptables(node.netns, ['-D', ...r])
    if (Array.isArray(undo.chainsBefore)) await removeMadeChains(node.netns, undo.chainsBefore as string[], CHAINS)
  },
}
