/**
 * The host-gw trace faults (engine-host-gw.ts) through the node agents only, as `--agents-only` runs
 * them: every node and pod read, and every probe sent and watched, through each node's agent over
 * HTTPS. Each fault must come out with the same reason, node and direction as locally.
 */
import t from 'tap'

import type {TraceResult} from '../../src/trace/types.js'
import {startTraceAgents, type TraceAgents} from '../helpers/trace-agents.js'
import {runFaultCases, summary} from '../helpers/trace-assert.js'
import {hostGwFaultCases} from '../helpers/trace-faults.js'
import {buildTraceLabs} from '../helpers/trace-topology.js'

const COPIES = 3

t.test('trace over a host-gw cluster, through the node agents only', async (t) => {
  const labs = await buildTraceLabs(t, COPIES, 'host-gw', {pods: [2, 1]})
  const agents = new Map<string, TraceAgents>()
  t.teardown(async () => {
    for (const a of agents.values()) await a.stop()
  })
  for (const lab of labs) agents.set(lab.id, await startTraceAgents(lab))
  const lab = labs[0]!
  const via = agents.get(lab.id)!

  await t.test('healthy cross-node pair is reachable with no false fault', async (t) => {
    const r = await via.trace(lab.pods['0a']!, lab.pods['1a']!)
    t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
    t.same(
      r.hops.filter((h) => h.status !== 'ok').map((h) => `${h.index} ${h.stage}: ${h.detail}`),
      [],
      'every hop ok',
    )
    t.equal(r.probes.find((p) => p.df)!.size, 1500 - 28)
    t.ok(r.probes.every((p) => p.ok))
  })

  await runFaultCases(
    t,
    labs,
    (copy) => hostGwFaultCases(copy, (hint) => agents.get(copy.id)!.runHint(hint)),
    async (t, copy, c) => {
      await c.inject()
      let r: TraceResult | undefined
      try {
        r = await agents.get(copy.id)!.trace(copy.pods['0a']!, copy.pods['1a']!, c.opts ?? {})
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

  await t.test('after healing every copy traces clean again through its agents', async (t) => {
    for (const [i, copy] of labs.entries()) {
      const r = await agents.get(copy.id)!.trace(copy.pods['0a']!, copy.pods['1a']!)
      t.equal(r.verdict, 'reachable', `copy ${i + 1}: verdict`, {trace: summary(r)})
    }
  })
})
