import {iptables, iptablesChainsPresent, iptablesHas, type IptablesChain, removeMadeChains} from './kernel.js'
import type {FaultDefinition} from './types.js'

/** BGP's TCP port, both ways: sessions this node opened (sport) and ones opened to it (dport). */
const rules = (tag: string): string[][] =>
  ['--dport', '--sport'].map((dir) => [
    'INPUT',
    '-p',
    'tcp',
    dir,
    '179',
    '-m',
    'comment',
    '--comment',
    `cnidbg-lab-fault-${tag}`,
    '-j',
    'DROP',
  ])

const CHAINS: IptablesChain[] = [['filter', 'INPUT']]

/** A host firewall on the node drops BGP, as one that does not know the node speaks BGP would. */
export const bgpSessionBlocked: FaultDefinition = {
  id: 'bgp-session-blocked',
  title: 'BGP (TCP 179) is blocked on a node',
  description:
    "Inserts iptables INPUT rules in the node namespace dropping TCP port 179 in both directions. The node's BGP sessions stop receiving keepalives and close after the hold time (6 s); reconnecting fails, so every peer withdraws this node's pod CIDR and this node loses theirs. bird keeps running.",
  symptom:
    "within seconds pods on this node and pods on other nodes can't reach each other; birdc show protocols says Active / Connect with Hold timer expired or a connect timeout",
  scope: 'node',
  modes: ['bgp'],
  stopsDaemon: false,
  async apply(ctx, {node}) {
    const tag = Math.random().toString(16).slice(2, 8)
    const undo = {tag, chainsBefore: await iptablesChainsPresent(node.netns, CHAINS)}
    ctx.remember(undo)
    for (const r of rules(tag)) await iptables(node.netns, ['-I', r[0]!, '1', ...r.slice(1)])
    return {undo, summary: `iptables -I INPUT -p tcp --dport/--sport 179 -j DROP in ${node.netns}`}
  },
  async heal(_ctx, {node}, undo) {
    for (const r of rules(undo.tag as string))
      if (await iptablesHas(node.netns, r)) await iptables(node.netns, ['-D', ...r])
    if (Array.isArray(undo.chainsBefore)) await removeMadeChains(node.netns, undo.chainsBefore as string[], CHAINS)
  },
}
