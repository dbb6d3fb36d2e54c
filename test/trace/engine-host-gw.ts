/**
 * The trace engine against a 2-node host-gw cluster (routes via the peer node IP on the shared
 * underlay): healthy pairs come out reachable; injected faults come out with the right reason,
 * node and direction, each on one of three copies of the cluster side by side (runFaultCases). See
 * engine.ts for the VXLAN variant.
 */
import t from 'tap'

import {traceBetween} from '../../src/trace/engine.js'
import type {TraceResult} from '../../src/trace/types.js'
import {runFaultCases, runHint, summary, type FaultCase} from '../helpers/trace-assert.js'
import {buildTraceLabs, type TraceLab} from '../helpers/trace-topology.js'

const COPIES = 3

t.test('trace over a host-gw cluster', async (t) => {
  const labs = await buildTraceLabs(t, COPIES, 'host-gw', {pods: [2, 1]})
  const lab = labs[0]!
  const n1 = lab.nodes[1]!
  const a = lab.pods['0a']!
  const a2 = lab.pods['0b']!
  const b = lab.pods['1a']!
  const trace = (x = a, y = b, opts = {}) => traceBetween(lab.topology, x, y, opts)

  await t.test('healthy cross-node pair is reachable with no false fault', async (t) => {
    const r = await trace()
    t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
    t.equal(r.fault, undefined)
    t.same(
      r.hops.filter((h) => h.direction === 'forward').map((h) => h.stage),
      [
        'pod-egress',
        'host-veth-ingress',
        'route',
        'filter',
        'next-hop',
        'underlay-rx',
        'route',
        'filter',
        'host-veth-egress',
        'pod-ingress',
      ],
    )
    t.same(
      r.hops.filter((h) => h.status !== 'ok').map((h) => `${h.index} ${h.stage}: ${h.detail}`),
      [],
      'every hop ok',
    )
    const route = r.hops.find((h) => h.direction === 'forward' && h.stage === 'route')!
    t.match(route.detail, `via ${n1.nodeIP} dev eth0`, 'the kernel routes via the peer node IP')
    t.equal(r.probes.find((p) => p.df)!.size, 1500 - 28)
    t.ok(r.probes.every((p) => p.ok))
  })

  await t.test('healthy same-node pair is reachable', async (t) => {
    const r = await trace(a, a2)
    t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
    t.ok(
      r.hops.every((h) => h.status === 'ok'),
      'every hop ok',
      {trace: summary(r)},
    )
  })

  await runFaultCases(t, labs, faultCases, async (t, lab, c) => {
    await c.inject()
    let r: TraceResult | undefined
    try {
      r = await traceBetween(lab.topology, lab.pods['0a']!, lab.pods['1a']!, c.opts ?? {})
      const diag = {trace: summary(r)}
      t.equal(r.verdict, 'unreachable', 'verdict', diag)
      t.equal(r.fault?.reason, c.expect.reason, 'fault reason', diag)
      t.equal(r.fault?.node, c.expect.node, 'fault node', diag)
      t.equal(r.fault?.direction, c.expect.direction, 'fault direction', diag)
      if (c.expect.device) t.equal(r.fault?.device, c.expect.device, 'fault device', diag)
      t.ok(r.fault!.evidence.length > 0, 'evidence given')
      t.ok(r.fault!.hint.length > 0, 'fix hint given')
    } finally {
      await c.heal(r)
    }
  })

  await t.test('after healing every copy of the cluster traces clean again', async (t) => {
    for (const [i, copy] of labs.entries()) {
      const r = await traceBetween(copy.topology, copy.pods['0a']!, copy.pods['1a']!)
      t.equal(r.verdict, 'reachable', `copy ${i + 1}: verdict`, {trace: summary(r)})
      t.same(
        r.hops.filter((h) => h.status !== 'ok').map((h) => `${h.index} ${h.stage}: ${h.detail}`),
        [],
        `copy ${i + 1}: every hop ok`,
      )
    }
  })
})

/** The injected faults, on one copy of the cluster (each case heals what it broke). */
function faultCases(lab: TraceLab): FaultCase[] {
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
