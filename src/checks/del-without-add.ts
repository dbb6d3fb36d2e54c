import {type Check, pass, SPEC, violation} from './check.js'

export const delWithoutAdd: Check = {
  id: 'del.without-add',
  judgesSubjectOnly: true,
  perVersion: true,
  requirements: ['P73'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    const o = await env.raw({request: env.request(rt), rt, verb: 'DEL'})
    if (o.ok) return pass()
    return violation(
      `DEL of an attachment that was never added failed: ${o.failure}`,
      env.evidence({expected: 'exit 0', observed: `exit ${o.invocation.exitCode}`}),
    )
  },
  severity: 'must',
  spec: SPEC.del,
  title: 'DEL without a previous ADD succeeds',
}
