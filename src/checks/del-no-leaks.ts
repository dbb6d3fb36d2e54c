import {type Check, pass, SPEC, violation} from './check.js'

export const delNoLeaks: Check = {
  id: 'del.no-leaks',
  perVersion: true,
  productionCritical: true,
  requirements: ['P71'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    // The leak check is about a second attachment (P71: shared objects are not leaks).
    const warm = await env.warmAttachment()
    if ('failure' in warm) return violation(`ADD failed: ${warm.failure}`, env.evidence())
    const before = await env.snapshot()
    const add = await env.add(rt)
    if (!add.ok) return violation(`ADD failed: ${add.failure}`, env.evidence())
    const del = await env.del(rt)
    if (!del.ok) return violation(`DEL failed: ${del.failure}`, env.evidence())
    const after = await env.snapshot()
    await warm.done()
    const diff = env.diff(before, after)
    if (diff.length === 0) return pass()
    return violation(
      `ADD then DEL left ${diff.length} difference(s) in the host, container or state dir`,
      env.evidence({
        diff,
        expected: 'host, container and state dir exactly as before ADD',
        observed: diff.slice(0, 5).join('; '),
      }),
      {severity: 'should'},
    )
  },
  severity: 'should',
  spec: SPEC.del,
  title: 'ADD then DEL leaves no interface, address, route, rule, iptables/nft, tc or state file behind',
}
