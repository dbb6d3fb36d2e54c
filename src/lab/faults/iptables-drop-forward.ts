import {iptables, iptablesChainsPresent, iptablesHas, type IptablesChain, removeMadeChains} from './kernel.js'
import type {FaultDefinition} from './types.js'

const rule = (id: string): string[] => ['FORWARD', '-m', 'comment', '--comment', `cnidbg-lab-fault-${id}`, '-j', 'DROP']

const CHAINS: IptablesChain[] = [['filter', 'FORWARD']]

/** A DROP rule at the top of the node's FORWARD chain: everything the node routes is dropped. */
export const iptablesDropForward: FaultDefinition = {
  id: 'iptables-drop-forward',
  title: 'The node drops forwarded packets (iptables)',
  description:
    "Inserts `-j DROP` as the first rule of the filter FORWARD chain in the node namespace. Every pod packet is forwarded by its node (pod → veth → node → veth or underlay), so the node's pods lose all pod-to-pod traffic, even to pods on the same node; the node's own traffic (daemon, underlay) is untouched.",
  symptom:
    "pods on the node reach nothing and nothing reaches them; the rule's packet counter grows (`iptables -L FORWARD -v` in the node)",
  scope: 'node',
  modes: ['vxlan', 'host-gw'],
  stopsDaemon: false,
  async apply(ctx, {node}) {
    const tag = Math.random().toString(16).slice(2, 8)
    const r = rule(tag)
    const undo = {tag, chainsBefore: await iptablesChainsPresent(node.netns, CHAINS)}
    ctx.remember(undo)
    await iptables(node.netns, ['-I', r[0]!, '1', ...r.slice(1)])
    return {undo, summary: `iptables -I FORWARD 1 -j DROP in ${node.netns}`}
  },
  async heal(_ctx, {node}, undo) {
    const r = rule(undo.tag as string)
    if (await iptablesHas(node.netns, r)) await iptables(node.netns, ['-D', ...r])
    if (Array.isArray(undo.chainsBefore)) await removeMadeChains(node.netns, undo.chainsBefore as string[], CHAINS)
  },
}
