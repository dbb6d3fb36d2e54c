import {createSpy, spyCalls} from './spy/control.js'
import type {JsonObject} from '../runtime/types.js'
import {hasCheck, hasGc, hasStatus} from '../runtime/versions.js'
import {type Check, pass, skip, SPEC, violation} from './check.js'

const MARKER = 'cnidbg-spy-stderr-marker'
const CHECK_FAILURE = 'spy: CHECK says the address is gone'

/** Canonical JSON: sorted keys, so "the same config modulo key order" compares as strings (P104). */
const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as JsonObject).sort(([a], [b]) => a.localeCompare(b)))
      : val,
  )

export const delegationProtocol: Check = {
  id: 'delegation.protocol',
  perVersion: true,
  requirements: ['P15', 'P77', 'P85', 'P90', 'P94', 'P102', 'P103', 'P104', 'P105', 'P106', 'P107'],
  roles: ['interface'],
  async run(env) {
    const plugin = env.list.plugins[env.setup.subject]!
    if (!plugin.ipam) return skip('the plugin under test delegates nothing (no ipam section)')
    if (!env.setup.spyDir) return skip('the spy plugin is not built (npm run build)')
    const spy = createSpy(env.sb.root, 'ipam', {
      verbs: {
        ADD: {
          ipam: {ips: [{address: '10.253.7.5/24', gateway: '10.253.7.1'}], routes: [{dst: '0.0.0.0/0'}]},
          stderr: MARKER,
        },
        // The first CHECK passes, the second fails: its error must come back through the plugin (P85).
        CHECK: [{}, {error: {code: 11, msg: CHECK_FAILURE}}],
      },
    })
    // The spy sits only in the last CNI_PATH entry, so finding it also proves the path is searched (P15, P102).
    const list = env.withList((l) => {
      l.plugins[env.setup.subject]!.ipam = {type: 'cnidbg-spy', ...spy.configKey}
    })
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    const add = await env.add(rt, list)
    const must: string[] = []
    const should: string[] = []
    const adds = spyCalls(spy.log, 'ADD')
    if (adds.length === 0)
      return violation(
        `the IPAM delegate (cnidbg-spy, found only via the 2nd CNI_PATH entry) was never called on ADD${add.ok ? '' : `: ${add.failure}`}`,
        env.evidence(),
      )
    const call = adds[0]!
    const upper = add.outcomes[env.setup.subject]?.invocation
    for (const k of ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_ARGS', 'CNI_PATH'] as const) {
      const expected = k === 'CNI_COMMAND' ? 'ADD' : (upper?.env[k] ?? '')
      if ((call.env[k] ?? '') !== expected)
        must.push(
          `delegate got ${k}=${JSON.stringify(call.env[k] ?? '')}, the plugin got ${JSON.stringify(expected)} (P103)`,
        )
    }
    if (upper && call.config && canonical(call.config) !== canonical(JSON.parse(upper.stdin)))
      must.push('the delegate did not get the complete request config the plugin got (P104)')
    if (add.ok && upper && !upper.stderr.includes(MARKER)) should.push("the delegate's stderr was not forwarded (P105)")
    if (add.ok) {
      if (hasCheck(env.version)) {
        const checked = await env.check(rt, list)
        if (spyCalls(spy.log, 'CHECK').length === 0) should.push('CHECK was not forwarded to the delegate (P85)')
        else if (checked.ok) {
          // SPEC §2 CHECK: a plugin with delegates calls CHECK on them and propagates their errors (P85).
          const failed = await env.check(rt, list)
          if (failed.ok) should.push("CHECK succeeded although the delegate's CHECK failed: its error was lost (P85)")
        }
      }
      await env.del(rt, list)
      if (spyCalls(spy.log, 'DEL').length === 0) must.push('DEL was not forwarded to the delegate (P77, P107)')
      if (hasGc(env.version)) {
        await env.gc([], list)
        if (spyCalls(spy.log, 'GC').length === 0) must.push('GC was not forwarded to the delegate (P94)')
      }
      if (hasStatus(env.version)) {
        await env.status(list)
        if (spyCalls(spy.log, 'STATUS').length === 0) must.push('STATUS was not forwarded to the delegate (P90)')
      }
    } else must.push(`ADD with a working delegate failed: ${add.failure}`)
    // A failing delegate: the plugin must fail too, passing the delegate's error on (P107).
    const failing = createSpy(env.sb.root, 'ipam-fail', {
      verbs: {ADD: {error: {code: 11, msg: 'spy: try again later'}}},
    })
    const failList = env.withList((l) => {
      l.plugins[env.setup.subject]!.ipam = {type: 'cnidbg-spy', ...failing.configKey}
    })
    const rt2 = env.rt(await env.netns())
    const bad = await env.add(rt2, failList)
    // Read before the runtime's own DEL: the plugin has to call DEL itself, before it returns (P106).
    const rolledBack = spyCalls(failing.log, 'DEL').length > 0
    await env.del(rt2, failList)
    if (bad.ok) must.push('ADD succeeded although its IPAM delegate failed (P107)')
    // SPEC §4 execution procedure: when a delegate fails ADD, the upper plugin should run it again with
    // DEL before it returns the failure (P106).
    else if (!rolledBack)
      should.push('the delegate failed ADD and the plugin returned without calling it with DEL (P106)')
    if (must.length) return violation(must.join('; '), env.evidence({}, 6))
    if (should.length) return violation(should.join('; '), env.evidence({}, 6), {severity: 'should'})
    return pass()
  },
  severity: 'must',
  spec: SPEC.delegation,
  title: 'The IPAM delegate is found in CNI_PATH, gets the same env and the full config, and sees every verb',
}
