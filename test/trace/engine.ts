/**
 * The trace engine against a real 2-node VXLAN cluster in namespaces (flannel's layout): healthy
 * pairs must come out reachable with no false fault; each injected fault (plain ip/bridge/iptables/
 * nft/sysctl commands in the node, pod or underlay namespaces) must come out unreachable with the
 * right reason, node and direction. Faults are injected and healed one after another on each of
 * four copies of the topology, the copies side by side (runFaultCases); most are healed by running
 * the trace's own fix hint, which proves the hints are exact.
 */
import t from 'tap'

import {traceBetween} from '../../src/trace/engine.js'
import {LocalKernelReader} from '../../src/kernel/reader.js'
import type {TraceResult} from '../../src/trace/types.js'
import {runFaultCases, runHint, summary, type FaultCase} from '../helpers/trace-assert.js'
import {buildTraceLabs, type LabPod, type TraceLab} from '../helpers/trace-topology.js'

const COPIES = 4

t.test('trace over a vxlan cluster', async (t) => {
  const labs = await buildTraceLabs(t, COPIES, 'vxlan', {pods: [2, 1]})
  const lab = labs[0]!
  const n1 = lab.nodes[1]!
  const a = lab.pods['0a']!
  const a2 = lab.pods['0b']!
  const b = lab.pods['1a']!
  const trace = (x = a, y = b, opts = {}) => traceBetween(lab.topology, x, y, opts)

  await t.test('healthy cross-node pair is reachable, both directions, no false fault', async (t) => {
    const r = await trace()
    t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
    t.equal(r.fault, undefined)
    t.same(
      r.hops.filter((h) => h.status === 'fail' || h.status === 'warn'),
      [],
      'no hop fails or warns',
    )
    const stages = r.hops.filter((h) => h.direction === 'forward').map((h) => h.stage)
    t.same(stages, [
      'pod-egress',
      'host-veth-ingress',
      'route',
      'filter',
      'neighbor',
      'fdb',
      'encap',
      'underlay-tx',
      'underlay-rx',
      'decap',
      'route',
      'filter',
      'host-veth-egress',
      'pod-ingress',
    ])
    t.equal(r.hops.filter((h) => h.direction === 'return').length, stages.length, 'the return path is walked too')
    const ret = r.hops.filter((h) => h.direction === 'return')
    t.equal(ret[0]!.netns, b.ns, 'the return path starts in the destination pod')
    t.equal(ret.find((h) => h.stage === 'host-veth-ingress')!.device, b.hostVeth, 'host veth found by its peer index')
    t.ok(r.hops.find((h) => h.stage === 'fdb' && h.direction === 'forward')!.detail.includes(n1.nodeIP))
    t.same(
      r.probes.map((p) => [p.protocol, p.direction, p.df ?? false, p.ok]),
      [
        ['icmp', 'forward', false, true],
        ['icmp', 'return', false, true],
        ['icmp', 'forward', true, true],
        ['tcp', 'forward', false, true],
        ['udp', 'forward', false, true],
      ],
    )
    t.equal(r.probes.find((p) => p.df)!.size, 1450 - 28, 'the DF probe fills the pod MTU')
    t.ok(r.hops.every((h, i) => h.index === i + 1))
  })

  await t.test('healthy same-node pair is reachable', async (t) => {
    const r = await trace(a, a2)
    t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
    t.equal(r.fault, undefined)
    t.same(
      r.hops.filter((h) => h.direction === 'forward').map((h) => h.stage),
      ['pod-egress', 'host-veth-ingress', 'route', 'filter', 'host-veth-egress', 'pod-ingress'],
    )
    t.ok(
      r.hops.every((h) => h.status === 'ok'),
      'every hop ok',
      {trace: summary(r)},
    )
  })

  await t.test('observed on a healthy path, every tapped hop sees the probe both ways', async (t) => {
    const r = await trace(a, b, {observe: 'always'})
    t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
    const tapped = r.hops.filter((h) => h.seen !== undefined)
    t.ok(tapped.length >= 14, `${tapped.length} hops tapped`)
    t.same(
      tapped.filter((h) => !h.seen).map((h) => `${h.index} ${h.stage} ${h.netns}/${h.device}`),
      [],
      'no tapped hop missed it (the inner-address filter on the VXLAN underlay works)',
    )
    t.equal(
      r.probes.find((p) => p.protocol === 'icmp' && p.direction === 'forward' && !p.df)?.lastSeenHop,
      r.hops.length,
    )
  })

  await t.test('static-only reads state and injects nothing', async (t) => {
    const r = await trace(a, b, {staticOnly: true})
    t.equal(r.verdict, 'reachable')
    t.same(r.probes, [])
  })

  await t.test('a node that cannot be read gives unknown hops, not a false fault', async (t) => {
    const unreadable = {
      describe: 'nothing',
      local: false,
      snapshot: async (req: {routeGets?: unknown[]} = {}) => ({
        links: [],
        routes: [],
        neigh: [],
        fdb: [],
        sysctls: {},
        routeGets: (req.routeGets ?? []).map(() => ({ok: false as const, error: 'n/a', unavailable: true})),
        missing: ['all'],
        readMs: 0,
      }),
    }
    const r = await trace(a, b, {
      readerFor: (n: {name: string; netns?: {path: string}}) =>
        n.name === n1.name ? unreadable : new LocalKernelReader(n.netns!.path),
    })
    t.equal(r.verdict, 'reachable', 'the live probes decide', {trace: summary(r)})
    const n1Hops = r.hops.filter((h) => h.node === n1.name && !h.netns.startsWith(b.ns))
    t.ok(n1Hops.length > 0)
    t.same(
      n1Hops.filter((h) => h.status === 'fail' || h.status === 'warn'),
      [],
      'no fail/warn where nothing could be read',
    )
    t.ok(n1Hops.some((h) => h.status === 'unknown'))
    t.match(r.notes.join('\n'), 'node-1 is read through nothing')
  })

  await runFaultCases(t, labs, faultCases, async (t, lab, c) => {
    const trace = (x: LabPod, y: LabPod, opts = {}) => traceBetween(lab.topology, x, y, opts)
    await c.inject()
    let r: TraceResult | undefined
    try {
      const [x, y] = c.pair ? [lab.pods[c.pair[0]]!, lab.pods[c.pair[1]]!] : [lab.pods['0a']!, lab.pods['1a']!]
      r = await trace(x, y, c.opts ?? {})
      const diag = {trace: summary(r)}
      t.equal(r.verdict, 'unreachable', 'verdict', diag)
      t.equal(r.fault?.reason, c.expect.reason, 'fault reason', diag)
      const where = `${r.fault?.node} ${r.fault?.direction}`
      const wanted = [c.expect, ...(c.either ?? [])].map((e) => `${e.node} ${e.direction}`)
      t.ok(wanted.includes(where), `fault at ${where} (wanted ${wanted.join(' or ')})`, diag)
      if (c.expect.device) t.equal(r.fault?.device, c.expect.device, 'fault device', diag)
      t.ok(r.fault!.evidence.length > 0, 'evidence given')
      t.ok(r.fault!.hint.length > 0, 'fix hint given')
      t.ok(
        r.probes.some((p) => !p.ok),
        'a live probe failed too',
      )
    } finally {
      await c.heal(r)
    }
  })

  await t.test('after healing every fault every copy of the cluster traces clean again', async (t) => {
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
      name: 'iptables DROP in FORWARD',
      inject: () => lab.sh(n1.ns, `iptables -I FORWARD -d ${b.ip} -j DROP`),
      heal: (r) => runHint(r!.fault!.hint),
      expect: {reason: 'filtered', node: n1.name, direction: 'forward'},
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
