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
    // What the attachment under test adds is then its own.
    const warm = await env.warmAttachment()
    if ('failure' in warm) return violation(`ADD failed: ${warm.failure}`, env.evidence())
    const before = await env.snapshot()
    const add = await env.add(rt)
    if (!add.ok) return violation(`ADD failed: ${add.failure}`, env.evidence())
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
    await warm.done()
    // Before is before ADD: anything ADD made that DEL left (an IPAM reservation, a host route or
    // rule) shows as new. The removed namespace's own lines are gone with it, so they show as removed.
    const leaked = env.diff(before, after).filter((l) => l.startsWith('+ '))
    // A leak only in one plugin's own state dir (/run/cni/tuning/…) is that plugin's finding.
    const dirs = new Set(leaked.map((l) => /^\+ \/(?:run|var\/lib)\/cni: file ([^/]+)\//.exec(l)?.[1]))
    const [dir] = dirs
    const owner = dirs.size === 1 && dir !== undefined ? env.list.plugins.findIndex((p) => p.type === dir) : -1
    if (leaked.length)
      return violation(
        `DEL after the netns was gone left ${leaked.length} thing(s) the attachment made behind`,
        env.evidence({
          diff: leaked,
          expected: 'host and state dir as before ADD',
          observed: leaked.slice(0, 5).join('; '),
        }),
        {severity: 'should', ...(owner >= 0 ? {pluginIndex: owner} : {})},
      )
    return pass()
  },
  severity: 'should',
  spec: SPEC.del,
  title: 'DEL succeeds and releases what ADD made when the netns is already gone or CNI_NETNS is unset',
}
