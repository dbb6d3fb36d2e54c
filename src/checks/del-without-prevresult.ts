import {hasPrevResultOnDel} from '../runtime/versions.js'
import {type Check, pass, SPEC, violation} from './check.js'

export const delWithoutPrevResult: Check = {
  appliesTo: hasPrevResultOnDel,
  id: 'del.without-prevresult',
  judgesSubjectOnly: true,
  perVersion: true,
  requirements: ['P75'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    const add = await env.add(rt)
    if (!add.ok) return violation(`ADD failed: ${add.failure}`, env.evidence())
    const o = await env.raw({request: env.request(rt), rt, verb: 'DEL'})
    if (!o.ok) {
      await env.del(rt)
      return violation(
        `DEL without prevResult failed: ${o.failure}`,
        env.evidence({expected: 'exit 0', observed: `exit ${o.invocation.exitCode}`}),
      )
    }
    await env.del(rt)
    return pass()
  },
  severity: 'should',
  spec: SPEC.del,
  title: 'DEL without prevResult still succeeds',
}
