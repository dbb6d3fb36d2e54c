/**
 * The trace engine against a 2-node host-gw cluster (routes via the peer node IP on the shared
 * underlay): healthy pairs come out reachable; injected faults come out with the right reason,
 * node and direction, each on one of three copies of the cluster side by side (runFaultCases). See
 * engine.ts for the VXLAN variant.
 */
import t from 'tap'

import {traceBetween} from '../../src/trace/engine.js'
import type {TraceResult} from '../../src/trace/types.js'
import {runFaultCases, summary} from '../helpers/trace-assert.js'
import {hostGwFaultCases} from '../helpers/trace-faults.js'
import {buildTraceLabs} from '../helpers/trace-topology.js'

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

  await runFaultCases(
    t,
    labs,
    (lab) => hostGwFaultCases(lab),
    async (t, lab, c) => {
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
    },
  )

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
