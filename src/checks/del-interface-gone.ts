import {type Check, pass, SPEC, violation} from './check.js'

export const delInterfaceGone: Check = {
  id: 'del.interface-gone',
  perVersion: true,
  requirements: ['P74'],
  roles: ['interface'],
  async run(env) {
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    const add = await env.add(rt)
    if (!add.ok) return violation(`ADD failed: ${add.failure}`, env.evidence())
    // Out-of-band deletion (an operator, or the container runtime tearing down early).
    await env.ip(['link', 'del', rt.ifname], ctr)
    const del = await env.del(rt)
    if (!del.ok)
      return violation(
        `DEL failed after ${rt.ifname} was deleted out of band: ${del.failure}`,
        env.evidence({expected: 'exit 0 (DEL is best-effort)'}),
      )
    return pass()
  },
  severity: 'should',
  spec: SPEC.del,
  title: 'DEL succeeds when the container interface was already deleted out of band',
}
