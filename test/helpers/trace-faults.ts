/**
 * The faults the VXLAN trace tests inject (plain ip/bridge/iptables/nft/sysctl commands in the node,
 * pod or underlay namespaces), with the reason, node and direction trace must report for each. Shared
 * by the local run (test/trace/engine.ts) and the run through node agents (engine-agents.ts), which
 * must reach the same verdicts; `runHint` runs a fix hint, as the run printed it.
 */
import {runHint as runLocalHint, type FaultCase} from './trace-assert.js'
import type {LabPod, TraceLab} from './trace-topology.js'

/**
 * An iptables rule that drops the first ICMP echo request it sees, and nothing after it: quota matches
 * a packet while the bytes left cover it, and from the first packet they don't, it matches none. 1500
 * covers any one of the trace's pings (the DF probe's is the largest), never a second after it.
 */
const FIRST_ECHO = '-p icmp --icmp-type echo-request -m quota --quota 1500 -j DROP'

/**
 * Matches every packet, but the static walk can't know that (a `statistic` match only warns there), so
 * only the live probes and the kernel's drop reason place the drop.
 */
const EVERY = '-m statistic --mode nth --every 1 --packet 0 -j DROP'

/** The injected faults, on one copy of the cluster (each case heals what it broke). */
export function vxlanFaultCases(lab: TraceLab, runHint: (hint: string) => Promise<void> = runLocalHint): FaultCase[] {
  const [n0, n1] = lab.nodes as [(typeof lab.nodes)[0], (typeof lab.nodes)[0]]
  const a = lab.pods['0a']!
  const a2 = lab.pods['0b']!
  const b = lab.pods['1a']!
  const restorePodRoutes = (pod: LabPod, n: number) =>
    lab.sh(
      pod.ns,
      `ip route replace 10.244.${n}.1 dev eth0 scope link && ip route replace default via 10.244.${n}.1 dev eth0 && ip route replace 10.244.0.0/16 via 10.244.${n}.1 dev eth0`,
    )
  const flushNeigh = async () => {
    for (const n of lab.nodes) await lab.sh(n.ns, 'ip neigh flush nud failed; ip neigh flush nud incomplete; true')
  }
  return [
    {
      name: 'pod veth link down (destination pod eth0)',
      inject: () => lab.sh(b.ns, 'ip link set eth0 down'),
      heal: async (r) => {
        await runHint(r!.fault!.hint)
        await restorePodRoutes(b, 1)
      },
      expect: {reason: 'link-down', node: n1.name, direction: 'forward', device: 'eth0'},
    },
    {
      name: 'host veth down (source pod side)',
      inject: () => lab.sh(n0.ns, `ip link set ${a.hostVeth} down`),
      heal: async (r) => {
        await runHint(r!.fault!.hint)
        await lab.sh(n0.ns, `ip route replace ${a.ip}/32 dev ${a.hostVeth}`)
      },
      expect: {reason: 'link-down', node: n0.name, direction: 'forward', device: a.hostVeth},
    },
    {
      name: 'pod address removed (destination)',
      inject: () => lab.sh(b.ns, `ip addr del ${b.ip}/24 dev eth0`),
      heal: async (r) => {
        await runHint(r!.fault!.hint)
        await restorePodRoutes(b, 1)
        await flushNeigh()
      },
      expect: {reason: 'address-missing', node: n1.name, direction: 'forward', device: 'eth0'},
    },
    {
      name: 'route to the remote pod CIDR missing (source node)',
      inject: () => lab.sh(n0.ns, `ip route del ${n1.podCIDR}`),
      heal: (r) => runHint(r!.fault!.hint),
      expect: {reason: 'no-route', node: n0.name, direction: 'forward'},
    },
    {
      name: 'route back missing on the destination node breaks the return direction',
      inject: () => lab.sh(n1.ns, `ip route del ${n0.podCIDR}`),
      heal: (r) => runHint(r!.fault!.hint),
      expect: {reason: 'no-route', node: n1.name, direction: 'return'},
    },
    {
      name: 'route pointing to the wrong node',
      inject: () => lab.sh(n0.ns, `ip route replace ${n1.podCIDR} via 10.244.7.0 dev cnidbg.1 onlink`),
      heal: (r) => runHint(r!.fault!.hint),
      expect: {reason: 'wrong-route', node: n0.name, direction: 'forward', device: 'cnidbg.1'},
    },
    {
      name: 'FDB entry missing',
      inject: () => lab.sh(n0.ns, `bridge fdb del ${n1.vtepMAC} dev cnidbg.1 dst ${n1.nodeIP} self`),
      heal: (r) => runHint(r!.fault!.hint),
      expect: {reason: 'no-fdb', node: n0.name, direction: 'forward', device: 'cnidbg.1'},
    },
    {
      name: 'FDB entry stale (points at a wrong node IP) on the destination node',
      inject: () => lab.sh(n1.ns, `bridge fdb replace ${n0.vtepMAC} dev cnidbg.1 dst 198.18.0.99 self permanent`),
      heal: (r) => runHint(r!.fault!.hint),
      expect: {reason: 'stale-fdb', node: n1.name, direction: 'return', device: 'cnidbg.1'},
    },
    {
      name: 'neighbour entry for the remote VTEP missing',
      inject: () => lab.sh(n0.ns, 'ip neigh del 10.244.1.0 dev cnidbg.1'),
      heal: (r) => runHint(r!.fault!.hint),
      expect: {reason: 'no-neighbor', node: n0.name, direction: 'forward', device: 'cnidbg.1'},
    },
    {
      // ARP for the pod goes unanswered: the entry the probe makes stays INCOMPLETE, then FAILED.
      name: 'destination pod does not answer ARP',
      inject: async () => {
        await lab.sh(b.ns, 'sysctl -qw net.ipv4.conf.eth0.arp_ignore=8')
        // The pod still asks: traffic of its own (a late answer to an earlier case's probes) makes it
        // ARP for its gateway, and node-1 learns the pod's address from that request. On a loaded
        // machine that came after the flush below, and the trace found the pod resolved (an A/B run
        // of two suites at once, twice). The gateway is pinned in the pod, so the pod never asks and
        // node-1 can learn its address only from an answer the pod does not give.
        const mac = /link\/ether ([0-9a-f:]{17})/.exec(await lab.sh(n1.ns, `ip -o link show dev ${b.hostVeth}`))?.[1]
        if (!mac) throw new Error(`no MAC address on ${b.hostVeth} in ${n1.ns}`)
        await lab.sh(b.ns, `ip neigh replace 10.244.1.1 lladdr ${mac} dev eth0 nud permanent`)
        await lab.sh(n1.ns, `ip neigh flush dev ${b.hostVeth}`)
      },
      heal: async () => {
        await lab.sh(b.ns, 'sysctl -qw net.ipv4.conf.eth0.arp_ignore=0; ip neigh del 10.244.1.1 dev eth0')
        await flushNeigh()
      },
      expect: {reason: 'no-neighbor', node: n1.name, direction: 'forward', device: b.hostVeth},
    },
    {
      name: 'iptables DROP in FORWARD',
      inject: () => lab.sh(n1.ns, `iptables -I FORWARD -d ${b.ip} -j DROP`),
      heal: (r) => runHint(r!.fault!.hint),
      expect: {reason: 'filtered', node: n1.name, direction: 'forward'},
    },
    {
      // The first echo request to reach the pod is dropped (FIRST_ECHO), so the probe sent again gets
      // through. No hop stops the packet: the path is intermittent, not blocked where the first probes
      // were last seen. The static checks can't tell whether a quota still matches, so they leave it to
      // the probes.
      name: 'the destination pod drops only the first echo request (intermittent)',
      inject: () => lab.sh(b.ns, `iptables -I INPUT ${FIRST_ECHO}`),
      heal: () => lab.sh(b.ns, `iptables -D INPUT ${FIRST_ECHO}`),
      expect: {reason: 'intermittent', node: n0.name, direction: 'forward', device: 'eth0'},
    },
    {
      // Every tapped hop sees the datagram (the last one, the pod's eth0, before INPUT): the drop is
      // on or after that hop, in the destination pod, not in the underlay.
      name: "the destination pod's INPUT drops UDP after the last tap (live observation only)",
      alone: true,
      inject: () => lab.sh(b.ns, `iptables -A INPUT -p udp ${EVERY}`),
      heal: () => lab.sh(b.ns, `iptables -D INPUT -p udp ${EVERY}`),
      expect: {reason: 'filtered', node: n1.name, direction: 'forward', device: 'eth0'},
    },
    {
      // The echo request is tapped in the pod before INPUT drops it, and no reply is ever seen: the
      // request died on the way in, not the reply on the way back.
      name: "the destination pod's INPUT drops echo requests after the last tap (live observation only)",
      alone: true,
      inject: () => lab.sh(b.ns, `iptables -A INPUT -p icmp --icmp-type echo-request ${EVERY}`),
      heal: () => lab.sh(b.ns, `iptables -D INPUT -p icmp --icmp-type echo-request ${EVERY}`),
      expect: {reason: 'filtered', node: n1.name, direction: 'forward', device: 'eth0'},
    },
    {
      name: 'nftables drop in a forward hook',
      inject: () =>
        lab.sh(
          n1.ns,
          `nft add table inet cnidbgt && nft 'add chain inet cnidbgt fw { type filter hook forward priority 0; }' && nft add rule inet cnidbgt fw ip saddr ${a.ip} drop`,
        ),
      heal: async (r) => {
        await runHint(r!.fault!.hint)
        await lab.sh(n1.ns, 'nft delete table inet cnidbgt')
      },
      expect: {reason: 'filtered', node: n1.name, direction: 'forward'},
    },
    {
      name: 'ip_forward off',
      inject: () => lab.sh(n0.ns, 'sysctl -qw net.ipv4.ip_forward=0'),
      heal: (r) => runHint(r!.fault!.hint),
      expect: {reason: 'forwarding-disabled', node: n0.name, direction: 'forward'},
    },
    {
      name: 'strict rp_filter with an asymmetric return route',
      inject: () =>
        lab.sh(
          n1.ns,
          `sysctl -qw net.ipv4.conf.all.rp_filter=1 && ip route replace ${n0.podCIDR} via ${n0.nodeIP} dev eth0`,
        ),
      heal: () =>
        lab.sh(
          n1.ns,
          `sysctl -qw net.ipv4.conf.all.rp_filter=0 && ip route replace ${n0.podCIDR} via 10.244.0.0 dev cnidbg.1 onlink`,
        ),
      expect: {reason: 'rp-filter', node: n1.name, direction: 'forward', device: 'cnidbg.1'},
    },
    {
      name: 'underlay link MTU below VTEP MTU + 50',
      inject: () => lab.sh(n0.ns, 'ip link set eth0 mtu 1400'),
      heal: (r) => runHint(r!.fault!.hint),
      expect: {reason: 'mtu', node: n0.name, direction: 'forward', device: 'eth0'},
    },
    {
      name: 'underlay path MTU too small in the middle (seen only by the DF probe)',
      inject: () => lab.sh(lab.underlayNs, `ip link set ${n1.ulPort} mtu 1400`),
      heal: () => lab.sh(lab.underlayNs, `ip link set ${n1.ulPort} mtu 1500`),
      // The small bridge port sits on node-1's side: depending on how the kernel treats the
      // oversized frame on the way in, the full-size request or only its reply dies there.
      expect: {reason: 'mtu', node: n1.name, direction: 'forward', device: 'eth0'},
      either: [{node: n0.name, direction: 'return'}],
    },
    {
      name: 'VXLAN port dropped in the receiving node INPUT',
      inject: () => lab.sh(n1.ns, 'iptables -I INPUT -p udp --dport 8472 -j DROP'),
      heal: (r) => runHint(r!.fault!.hint),
      expect: {reason: 'underlay-blocked', node: n1.name, direction: 'forward', device: 'eth0'},
    },
    {
      name: 'VXLAN port dropped in the underlay (live observation only)',
      alone: true,
      inject: () =>
        lab.sh(
          lab.underlayNs,
          `nft add table bridge cnidbgt && nft 'add chain bridge cnidbgt ulfwd { type filter hook forward priority 0; }' && nft add rule bridge cnidbgt ulfwd udp dport 8472 drop`,
        ),
      heal: () => lab.sh(lab.underlayNs, 'nft delete table bridge cnidbgt'),
      expect: {reason: 'underlay-blocked', node: n1.name, direction: 'forward', device: 'eth0'},
    },
    {
      name: 'no listener on the TCP port',
      inject: async () => {},
      heal: async () => {},
      opts: {port: 9},
      expect: {reason: 'no-listener', node: n1.name, direction: 'forward', device: 'eth0'},
    },
    {
      name: 'same-node pair: destination host veth down',
      pair: ['0a', '0b'],
      inject: () => lab.sh(n0.ns, `ip link set ${a2.hostVeth} down`),
      heal: async (r) => {
        await runHint(r!.fault!.hint)
        await lab.sh(n0.ns, `ip route replace ${a2.ip}/32 dev ${a2.hostVeth}`)
      },
      expect: {reason: 'link-down', node: n0.name, direction: 'forward', device: a2.hostVeth},
    },
  ]
}

/** The host-gw faults (test/trace/engine-host-gw.ts), on one copy of the cluster. */
export function hostGwFaultCases(lab: TraceLab, runHint: (hint: string) => Promise<void> = runLocalHint): FaultCase[] {
  const [n0, n1] = lab.nodes as [(typeof lab.nodes)[0], (typeof lab.nodes)[0]]
  const a = lab.pods['0a']!
  const b = lab.pods['1a']!
  return [
    {
      name: 'source pod eth0 down',
      inject: () => lab.sh(a.ns, 'ip link set eth0 down'),
      heal: async (r) => {
        await runHint(r!.fault!.hint)
        await lab.sh(
          a.ns,
          'ip route replace 10.244.0.1 dev eth0 scope link && ip route replace default via 10.244.0.1 dev eth0',
        )
      },
      expect: {reason: 'link-down', node: n0.name, direction: 'forward', device: 'eth0'},
    },
    {
      // Its only address: the kernel also flushes the pod's /32 route, so the forward path breaks first.
      name: 'destination host veth gateway address removed',
      inject: () => lab.sh(n1.ns, `ip addr del 10.244.1.1/32 dev ${b.hostVeth}`),
      heal: (r) => runHint(r!.fault!.hint),
      expect: {reason: 'address-missing', node: n1.name, direction: 'forward', device: b.hostVeth},
    },
    {
      name: 'route to the remote pod CIDR missing',
      inject: () => lab.sh(n0.ns, `ip route del ${n1.podCIDR}`),
      heal: (r) => runHint(r!.fault!.hint),
      expect: {reason: 'no-route', node: n0.name, direction: 'forward'},
    },
    {
      name: 'route back missing on the destination node',
      inject: () => lab.sh(n1.ns, `ip route del ${n0.podCIDR}`),
      heal: (r) => runHint(r!.fault!.hint),
      expect: {reason: 'no-route', node: n1.name, direction: 'return'},
    },
    {
      name: 'route pointing to a wrong next hop',
      inject: () => lab.sh(n0.ns, `ip route replace ${n1.podCIDR} via 198.18.0.99 dev eth0`),
      heal: (r) => runHint(r!.fault!.hint),
      expect: {reason: 'wrong-route', node: n0.name, direction: 'forward', device: 'eth0'},
    },
    {
      name: 'next hop does not answer ARP',
      inject: () => lab.sh(n1.ns, 'ip link set eth0 arp off').then(() => lab.sh(n0.ns, 'ip neigh flush dev eth0')),
      heal: () => lab.sh(n1.ns, 'ip link set eth0 arp on').then(() => lab.sh(n0.ns, 'ip neigh flush dev eth0')),
      expect: {reason: 'no-neighbor', node: n0.name, direction: 'forward', device: 'eth0'},
    },
    {
      name: 'iptables DROP in FORWARD on the source node',
      inject: () => lab.sh(n0.ns, `iptables -A FORWARD -s ${a.ip} -p tcp -j DROP && iptables -P FORWARD DROP`),
      heal: async (r) => {
        await runHint(r!.fault!.hint)
        await lab.sh(n0.ns, 'iptables -F FORWARD')
      },
      expect: {reason: 'filtered', node: n0.name, direction: 'forward'},
    },
    {
      name: 'ip_forward off on the destination node',
      inject: () => lab.sh(n1.ns, 'sysctl -qw net.ipv4.ip_forward=0'),
      heal: (r) => runHint(r!.fault!.hint),
      expect: {reason: 'forwarding-disabled', node: n1.name, direction: 'forward'},
    },
    {
      name: 'strict rp_filter with an asymmetric return route',
      inject: () =>
        lab.sh(
          n1.ns,
          `ip link add alt0 type veth peer name alt1 && ip link set alt0 up && ip link set alt1 up && ` +
            `ip route replace ${n0.podCIDR} dev alt0 && sysctl -qw net.ipv4.conf.eth0.rp_filter=1`,
        ),
      heal: () =>
        lab.sh(
          n1.ns,
          `sysctl -qw net.ipv4.conf.eth0.rp_filter=0 && ip link del alt0 && ip route replace ${n0.podCIDR} via ${n0.nodeIP} dev eth0`,
        ),
      expect: {reason: 'rp-filter', node: n1.name, direction: 'forward', device: 'eth0'},
    },
    {
      name: 'destination underlay MTU below the pod MTU',
      inject: () => lab.sh(n1.ns, 'ip link set eth0 mtu 1400'),
      heal: (r) => runHint(r!.fault!.hint),
      expect: {reason: 'mtu', node: n1.name, direction: 'forward', device: 'eth0'},
    },
    {
      name: 'pod traffic dropped in the underlay (live observation only)',
      alone: true,
      inject: () =>
        lab.sh(
          lab.underlayNs,
          `nft add table bridge cnidbgt && nft 'add chain bridge cnidbgt ulfwd { type filter hook forward priority 0; }' && nft add rule bridge cnidbgt ulfwd ip daddr ${b.ip} drop`,
        ),
      heal: () => lab.sh(lab.underlayNs, 'nft delete table bridge cnidbgt'),
      expect: {reason: 'underlay-blocked', node: n1.name, direction: 'forward', device: 'eth0'},
    },
    {
      name: 'no listener on the TCP port',
      inject: async () => {},
      heal: async () => {},
      opts: {port: 9},
      expect: {reason: 'no-listener', node: n1.name, direction: 'forward'},
    },
  ]
}
