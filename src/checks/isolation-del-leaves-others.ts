import {type Check, pass, SPEC, violation} from './check.js'

export const isolationDelLeavesOthers: Check = {
  id: 'isolation.del-leaves-others',
  perVersion: false,
  requirements: ['P99', 'P78', 'P37'],
  roles: ['interface', 'ipam'],
  async run(env) {
    const x = await env.netns('x')
    const y = await env.netns('y')
    const rtX = env.rt(x)
    const rtX2 = {...rtX, ifname: 'net1'}
    const rtY = env.rt(y)
    for (const rt of [rtX, rtX2, rtY]) {
      const add = await env.add(rt)
      if (!add.ok) return violation(`ADD ${rt.containerId}/${rt.ifname} failed: ${add.failure}`, env.evidence())
    }
    const before = await env.snapshot()
    const del = await env.del(rtX2)
    const after = await env.snapshot()
    await env.del(rtX)
    await env.del(rtY)
    if (!del.ok) return violation(`DEL of X/net1 failed: ${del.failure}`, env.evidence())
    // Nothing may appear, and nothing of Y or of X's eth0 may go: only X/net1's own state may be removed.
    const changed = env.diff(before, after)
    const foreign = changed.filter(
      (l) => (l.includes('x0:') && !/net1/.test(l)) || l.includes('y1:') || l.startsWith('+ '),
    )
    if (foreign.length)
      return violation('DEL of one attachment changed another attachment', env.evidence({diff: foreign}))
    return pass()
  },
  severity: 'must',
  spec: SPEC.del,
  title: 'DEL of one attachment leaves other containers and other interfaces of the same container intact',
}
