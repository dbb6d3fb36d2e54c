import {type Check, pass, SPEC, violation} from './check.js'

export const delNetnsGone: Check = {
  id: 'del.netns-gone',
  perVersion: true,
  productionCritical: true,
  requirements: ['P74', 'P77'],
  roles: ['interface', 'chained', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    const add = await env.add(rt)
    if (!add.ok) return violation(`ADD failed: ${add.failure}`, env.evidence())
    const before = await env.snapshot()
    // The container died and its runtime removed the netns before DEL: kubelet then retries DEL
    // forever if it fails, so it must succeed and still release host-side state (P74 b, P77).
    await env.removeNetns(ctr)
    const del = await env.del(rt)
    if (!del.ok)
      return violation(
        `DEL failed after the netns was deleted: ${del.failure}`,
        env.evidence({expected: 'exit 0 (DEL is best-effort)', observed: del.failure}),
      )
    const unset = await env.raw({
      env: {CNI_NETNS: ''},
      request: env.request(rt, {prevResult: add.result}),
      rt,
      verb: 'DEL',
    })
    if (!unset.ok) return violation(`DEL with CNI_NETNS unset failed: ${unset.failure}`, env.evidence())
    const after = await env.snapshot()
    const leaked = env.diff(before, after).filter((l) => l.startsWith('+ '))
    if (leaked.length)
      return violation('DEL after the netns was gone left state behind', env.evidence({diff: leaked}), {
        severity: 'should',
      })
    return pass()
  },
  severity: 'should',
  spec: SPEC.del,
  title: 'DEL succeeds when the netns is already gone or CNI_NETNS is unset',
}
