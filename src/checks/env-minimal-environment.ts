import {type Check, pass, SPEC, violation} from './check.js'

export const envMinimalEnvironment: Check = {
  id: 'env.minimal-environment',
  judgesSubjectOnly: true,
  perVersion: false,
  requirements: ['P10'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    const up = await env.upstream(rt)
    // Only CNI_* and PATH: a plugin must not depend on anything else the runtime happens to have.
    const o = await env.raw({minimalEnv: true, request: env.request(rt, {prevResult: up.prevResult}), rt, verb: 'ADD'})
    await env.raw({minimalEnv: true, request: env.request(rt, {prevResult: o.value}), rt, verb: 'DEL'})
    await up.undo()
    if (!o.ok)
      return violation(`ADD with only CNI_* and PATH failed: ${o.failure}`, env.evidence(), {severity: 'should'})
    return pass()
  },
  severity: 'should',
  spec: SPEC.parameters,
  title: 'ADD works with nothing but the CNI_* variables and PATH',
}
