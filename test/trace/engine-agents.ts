/**
 * The trace engine through node agents only (`--agents-only`): the same 2-node VXLAN cluster and the
 * same injected faults as engine.ts, but every node and pod is read, and every probe sent and watched,
 * through each node's agent over HTTPS; the engine gets no namespace path at all. It must reach the
 * same verdicts: the same reason, node and direction for every fault, and the fix hints, run on the
 * node they name, must heal it. A node whose agent can't be reached is named with why, its hops are
 * unknown and the verdict is unknown: never a fault.
 */
import t from 'tap'

import {AgentClient, AgentNode} from '../../src/agent/client.js'
import {AgentOps} from '../../src/agent/ops.js'
import type {TraceResult} from '../../src/trace/types.js'
import {traceBetween} from '../../src/trace/engine.js'
import {startTraceAgents, type TraceAgents} from '../helpers/trace-agents.js'
import {runFaultCases, summary} from '../helpers/trace-assert.js'
import {vxlanFaultCases} from '../helpers/trace-faults.js'
import {buildTraceLabs, type LabPod} from '../helpers/trace-topology.js'

const COPIES = 4

t.test('trace over a vxlan cluster, through the node agents only', async (t) => {
  const labs = await buildTraceLabs(t, COPIES, 'vxlan', {pods: [2, 1]})
  const agents = new Map<string, TraceAgents>()
  t.teardown(async () => {
    for (const a of agents.values()) await a.stop()
  })
  for (const lab of labs) agents.set(lab.id, await startTraceAgents(lab))
  const lab = labs[0]!
  const via = agents.get(lab.id)!
  const [n0, n1] = lab.nodes as [(typeof lab.nodes)[0], (typeof lab.nodes)[0]]
  const a = lab.pods['0a']!
  const a2 = lab.pods['0b']!
  const b = lab.pods['1a']!

  await t.test('healthy cross-node pair is reachable, every hop read through the agents', async (t) => {
    const r = await via.trace(a, b)
    t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
    t.same(
      r.hops.filter((h) => h.status !== 'ok').map((h) => `${h.index} ${h.stage}: ${h.detail}`),
      [],
      'every hop ok, as locally',
    )
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
    t.equal(r.probes.find((p) => p.df)!.size, 1450 - 28, 'the DF probe fills the pod MTU, measured on the node')
    t.match(r.notes.join('\n'), /node-0 is read through agent https:\/\/127\.0\.0\.1:\d+/)
    t.equal(r.unreadable, undefined)
  })

  await t.test('healthy same-node pair is reachable', async (t) => {
    const r = await via.trace(a, a2)
    t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
    t.ok(
      r.hops.every((h) => h.status === 'ok'),
      'every hop ok',
    )
  })

  await t.test('observed through the agents, every tapped hop sees the probe both ways', async (t) => {
    const r = await via.trace(a, b, {observe: 'always'})
    t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
    const tapped = r.hops.filter((h) => h.seen !== undefined)
    t.ok(tapped.length >= 14, `${tapped.length} hops tapped`)
    t.same(
      tapped.filter((h) => !h.seen).map((h) => `${h.index} ${h.stage} ${h.netns}/${h.device}`),
      [],
      'no tapped hop missed it',
    )
  })

  await t.test('one node entered here, the other through its agent: the same verdicts', async (t) => {
    // What the service does for a node it enters while the other pod is remote: the agent's
    // operations, run in this process.
    const ops = new AgentOps({
      node: n0.name,
      nodeNetns: `/run/netns/${n0.ns}`,
      scan: {procs: false, only: (name) => name.startsWith(`cnidbg-trc-${lab.id}-`)},
    })
    const here = new AgentNode(ops, (ips) => ops.findPods(ips))
    const topology = {
      ...lab.topology,
      nodes: lab.topology.nodes.map((n) => (n.name === n0.name ? n : via.topology.nodes[1]!)),
    }
    const {ns: _n, hostVeth: _h, nodeNs: _nn, ...eb} = b
    const mixed = (opts = {}) =>
      traceBetween(
        topology,
        a,
        {...eb, netnsPath: ''},
        {
          ...opts,
          accessFor: (n) => (n.name === n0.name ? here : via.access.get(n.name)),
        },
      )
    const ok = await mixed()
    t.equal(ok.verdict, 'reachable', 'verdict', {trace: summary(ok)})
    t.ok(ok.probes.length > 0 && ok.probes.every((p) => p.ok), 'probed across')
    t.same(
      ok.hops.filter((h) => h.status !== 'ok').map((h) => `${h.index} ${h.stage}: ${h.detail}`),
      [],
    )
    const rule = `FORWARD -d ${b.ip} -j DROP`
    await lab.sh(n1.ns, `iptables -I ${rule}`)
    try {
      const r = await mixed()
      t.equal(r.verdict, 'unreachable', 'verdict', {trace: summary(r)})
      t.match(r.fault, {reason: 'filtered', node: n1.name, direction: 'forward'})
    } finally {
      await lab.sh(n1.ns, `iptables -D ${rule}`)
    }
  })

  await t.test('a node whose agent is unreachable is named, with why, never a fault', async (t) => {
    const dead = AgentNode.remote(new AgentClient({url: 'https://127.0.0.1:1', token: 'x', fingerprint: 'AA:BB'}))
    const [ea, eb] = [a, b].map(({ns: _n, hostVeth: _h, nodeNs: _nn, ...ep}: LabPod) => ({...ep, netnsPath: ''}))
    const r = await traceBetween(via.topology, ea!, eb!, {
      accessFor: (n) => (n.name === n1.name ? dead : via.access.get(n.name)),
    })
    t.equal(r.verdict, 'unknown', 'verdict', {trace: summary(r)})
    t.equal(r.fault, undefined, 'no fault is made up')
    t.same(
      (r.unreadable ?? []).map((u) => [u.node, u.what]),
      [
        [n1.name, 'pod default/pod-1a'],
        [n1.name, 'node'],
      ],
    )
    t.match(r.unreadable![0]!.reason, /agent: https:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/)
    const n1Hops = r.hops.filter((h) => h.node === n1.name)
    t.ok(n1Hops.length > 0)
    t.same(
      n1Hops.filter((h) => h.status === 'fail' || h.status === 'warn').map((h) => `${h.stage}: ${h.detail}`),
      [],
      'nothing fails or warns where nothing could be read',
    )
    t.ok(
      n1Hops.filter((h) => h.status === 'unknown').every((h) => /not read: agent: /.test(h.detail)),
      'its unknown hops say why',
    )
    t.ok(
      r.hops.filter((h) => h.node === n0.name && h.direction === 'forward').some((h) => h.status === 'ok'),
      'the node that could be read is',
    )
    t.same(r.probes, [], 'no probes without both agents')
  })

  await runFaultCases(
    t,
    labs,
    (copy) => vxlanFaultCases(copy, (hint) => agents.get(copy.id)!.runHint(hint)),
    async (t, copy, c) => {
      const through = agents.get(copy.id)!
      await c.inject()
      let r: TraceResult | undefined
      try {
        const [x, y] = c.pair ? [copy.pods[c.pair[0]]!, copy.pods[c.pair[1]]!] : [copy.pods['0a']!, copy.pods['1a']!]
        r = await through.trace(x, y, c.opts ?? {})
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
        if (c.expect.reason === 'no-listener') {
          t.ok(
            r.fault!.evidence.some((e) => /^ss -ltn in default\/pod-1a: nothing listens on tcp :9$/.test(e)),
            'the agent read the sockets',
            diag,
          )
        }
      } finally {
        await c.heal(r)
      }
    },
  )

  await t.test('after healing every fault every copy traces clean again through its agents', async (t) => {
    for (const [i, copy] of labs.entries()) {
      const r = await agents.get(copy.id)!.trace(copy.pods['0a']!, copy.pods['1a']!)
      t.equal(r.verdict, 'reachable', `copy ${i + 1}: verdict`, {trace: summary(r)})
    }
  })
})
