import {hasCheck} from '../runtime/versions.js'
import {type Check, pass, SPEC, violation} from './check.js'
import {knownDeparture} from './departures.js'

export const checkAfterAdd: Check = {
  appliesTo: hasCheck,
  id: 'check.after-add',
  perVersion: true,
  requirements: ['P79', 'P80', 'P84', 'P5'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    const add = await env.add(rt)
    if (!add.ok) return violation(`ADD failed: ${add.failure}`, env.evidence())
    const check = await env.check(rt)
    await env.del(rt)
    // The chain's CHECK stops at the first plugin that fails; one before the plugin under test fails
    // on what the later plugins changed, which it must tolerate (P80): that is its finding, not theirs.
    const failedAt = check.outcomes.length - 1
    if (!check.ok && failedAt >= 0 && failedAt < env.setup.subject) {
      const type = env.list.plugins[failedAt]!.type
      return violation(
        `${type}'s CHECK failed once ${env.subjectType} had run after it: ${check.failure} (P80: a plugin's CHECK tolerates what the later plugins of its chain changed)`,
        env.evidence({expected: 'exit 0', observed: check.failure}),
        {pluginIndex: failedAt, upstreamDeparture: knownDeparture(type, 'P80', env.version) !== undefined},
      )
    }
    if (!check.ok)
      return violation(
        `CHECK right after ADD failed: ${check.failure}`,
        env.evidence({expected: 'exit 0', observed: check.failure}),
      )
    const noisy = check.problems.find((p) => p.requirement === 'P5')
    if (noisy) return violation(noisy.message, env.evidence(), {severity: 'should'})
    return pass()
  },
  severity: 'must',
  spec: SPEC.check,
  title: 'CHECK passes right after ADD, with the ADD result as prevResult, and prints nothing',
}
