import {type Check, pass, SPEC, violation} from './check.js'

export const delIdempotent: Check = {
  id: 'del.idempotent',
  judgesSubjectOnly: true,
  perVersion: true,
  requirements: ['P72'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    const add = await env.add(rt)
    if (!add.ok) return violation(`ADD failed: ${add.failure}`, env.evidence())
    // SPEC §DEL: "Plugins MUST accept multiple DEL calls for the same (CNI_CONTAINERID, CNI_IFNAME) pair".
    // The runtime keeps the cached result for retries, so each DEL gets prevResult like the first.
    const prev = add.result
    for (let i = 1; i <= 3; i++) {
      const o = await env.raw({request: env.request(rt, {prevResult: prev}), rt, verb: 'DEL'})
      if (!o.ok) {
        await env.del(rt)
        return violation(
          `DEL #${i} failed: ${o.failure}`,
          env.evidence({expected: 'every DEL exits 0', observed: `DEL #${i} exit ${o.invocation.exitCode}`}),
        )
      }
    }
    return pass()
  },
  severity: 'must',
  spec: SPEC.del,
  title: 'DEL three times for the same attachment succeeds every time',
}
