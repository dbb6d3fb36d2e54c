import {netnsPath, runInNetns} from '../../netns/netns.js'
import {iptables, iptablesChainsPresent, iptablesHas, type IptablesChain, removeMadeChains} from './kernel.js'
import type {FaultDefinition} from './types.js'

/** kube-proxy's chain for forwarded traffic; the service proxy of the lab leaves it out. */
const CHAIN = 'KUBE-FORWARD'

const tagged = (tag: string) => ['-m', 'comment', '--comment', `cnidbg-lab-fault-${tag}`]

/** The raw-table rule that makes SYN-ACKs INVALID: a conntrack zone where their connection is unknown. */
const zoneRule = (tag: string) => [
  'PREROUTING',
  '-p',
  'tcp',
  '--tcp-flags',
  'SYN,ACK',
  'SYN,ACK',
  ...tagged(tag),
  '-j',
  'CT',
  '--zone',
  '7',
]
/** kube-proxy's `-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP`, tagged. */
const dropRule = (tag: string) => [CHAIN, '-m', 'conntrack', '--ctstate', 'INVALID', ...tagged(tag), '-j', 'DROP']
const jumpRule = (tag: string) => ['FORWARD', ...tagged(tag), '-j', CHAIN]

/** The built-in chains the fault adds rules to (iptables makes them, and their tables, when missing). */
const CHAINS: IptablesChain[] = [
  ['filter', 'FORWARD'],
  ['raw', 'PREROUTING'],
]

async function chainExists(netns: string): Promise<boolean> {
  return (await runInNetns(netnsPath(netns), 'iptables', ['-w', '5', '-S', CHAIN], {timeoutMs: 30_000})).exitCode === 0
}

/**
 * TCP replies forwarded by the node become conntrack state INVALID, and kube-proxy's rule drops them.
 * A SYN-ACK put in a conntrack zone that never saw the SYN is a connection conntrack can't start
 * (state INVALID), as a reply is on a node that sees only one direction of a flow.
 */
export const conntrackInvalidDrop: FaultDefinition = {
  id: 'conntrack-invalid-drop',
  title: "The node's conntrack drops TCP replies as INVALID",
  description: `Adds kube-proxy's \`-A ${CHAIN} -m conntrack --ctstate INVALID -j DROP\` (and the FORWARD jump to ${CHAIN}) in the node namespace, and a raw-table rule that puts every SYN-ACK in conntrack zone 7, where the connection's SYN was never seen: conntrack classes the SYN-ACK INVALID, as on a node that sees only the reply direction of a flow (asymmetric routing), and the rule drops it. TCP connections through the node never complete; ICMP and UDP pass.`,
  symptom:
    "TCP connections to or from the node's pods time out (SYN sent, no SYN-ACK) while ping works; the INVALID rule's counter grows (`iptables -L KUBE-FORWARD -v` in the node)",
  scope: 'node',
  modes: ['vxlan', 'host-gw', 'vpc', 'bgp'],
  stopsDaemon: false,
  async apply(ctx, {node}) {
    const tag = Math.random().toString(16).slice(2, 8)
    const created = !(await chainExists(node.netns))
    const undo = {tag, created, chainsBefore: await iptablesChainsPresent(node.netns, CHAINS)}
    ctx.remember(undo)
    if (created) await iptables(node.netns, ['-N', CHAIN])
    await iptables(node.netns, ['-I', ...dropRule(tag).slice(0, 1), '1', ...dropRule(tag).slice(1)])
    await iptables(node.netns, ['-I', 'FORWARD', '1', ...jumpRule(tag).slice(1)])
    await iptables(node.netns, ['-t', 'raw', '-I', 'PREROUTING', '1', ...zoneRule(tag).slice(1)])
    return {
      undo,
      summary: `iptables -t raw -I PREROUTING 1 -p tcp --tcp-flags SYN,ACK SYN,ACK -j CT --zone 7; -A ${CHAIN} -m conntrack --ctstate INVALID -j DROP in ${node.netns}`,
    }
  },
  async heal(_ctx, {node}, undo) {
    const tag = undo.tag as string
    // `-t raw` goes before `-C`/`-D`, which take the chain as their next word.
    const zoned = await iptables(node.netns, ['-t', 'raw', '-C', ...zoneRule(tag)]).then(
      () => true,
      () => false,
    )
    if (zoned) await iptables(node.netns, ['-t', 'raw', '-D', ...zoneRule(tag)])
    if (await iptablesHas(node.netns, jumpRule(tag))) await iptables(node.netns, ['-D', ...jumpRule(tag)])
    if (await iptablesHas(node.netns, dropRule(tag))) await iptables(node.netns, ['-D', ...dropRule(tag)])
    if (undo.created && (await chainExists(node.netns))) {
      const left = await runInNetns(netnsPath(node.netns), 'iptables', ['-w', '5', '-S', CHAIN], {timeoutMs: 30_000})
      // Only the chain's own line: nothing else was put in it since.
      if (left.stdout.trim().split('\n').length === 1) await iptables(node.netns, ['-X', CHAIN])
    }
    if (Array.isArray(undo.chainsBefore)) await removeMadeChains(node.netns, undo.chainsBefore as string[], CHAINS)
  },
}
