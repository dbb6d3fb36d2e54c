import {hasCheck} from '../runtime/versions.js'
import {type Check, pass, SPEC, violation} from './check.js'

export const checkAfterAdd: Check = {
  appliesTo: hasCheck,
  id: 'check.after-add',
  perVersion: true,
  requirements: ['P79', 'P84', 'P5'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    const add = await env.add(rt)
    if (!add.ok) return violation(`ADD failed: ${add.failure}`, env.evidence())
    const check = await env.check(rt)
    await env.del(rt)
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
