import {type Check, pass, SPEC, violation} from './check.js'
import {missingAttachment, resultVsKernel} from './kernel.js'

export const addKernelMatchesResult: Check = {
  id: 'add.kernel-matches-result',
  perVersion: true,
  productionCritical: true,
  requirements: ['P31', 'P40', 'P42', 'P43', 'P44', 'P47', 'P49'],
  roles: ['interface', 'chained', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    const add = await env.add(rt)
    if (!add.ok) return violation(`ADD failed: ${add.failure}`, env.evidence())
    const mismatches = await resultVsKernel(env, add.result, ctr)
    const missing = await missingAttachment(env, env.ifnameOf(rt), ctr)
    if (missing) mismatches.unshift(missing)
    await env.del(rt)
    if (mismatches.length === 0) return pass()
    return violation(
      `the result describes what is not there: ${mismatches.join('; ')}`,
      env.evidence({
        expected: 'every reported interface, MAC, MTU, address and route exists',
        observed: mismatches.join('\n'),
      }),
      {severity: 'should'},
    )
  },
  severity: 'must',
  spec: SPEC.addSuccess,
  title: 'Every interface, MAC, MTU, address and route in the result exists in the kernel',
}
