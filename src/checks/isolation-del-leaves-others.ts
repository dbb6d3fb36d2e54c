import {type Check, pass, skip, SPEC, violation} from './check.js'

export const isolationDelLeavesOthers: Check = {
  id: 'isolation.del-leaves-others',
  perVersion: false,
  requirements: ['P99', 'P78', 'P37'],
  roles: ['interface', 'ipam', 'loopback'],
  async run(env) {
    if (env.singleAttachment) return skip(`needs two attachments at once: ${env.singleAttachment}`)
    const x = await env.netns('x')
    const y = await env.netns('y')
    const rtX = env.rt(x)
    const rtY = env.rt(y)
    for (const rt of [rtX, rtY]) {
      const add = await env.add(rt)
      if (!add.ok) return violation(`ADD ${rt.containerId}/${rt.ifname} failed: ${add.failure}`, env.evidence())
    }
    // P37 is a MAY: a second interface of the same container on the same network. When the plugin
    // can't do that (upstream ptp can't), the check deletes container Y instead.
    // loopback configures the one `lo` of a namespace whatever CNI_IFNAME says, so a second
    // attachment in the same container is the same `lo`: only containers are kept apart.
    const rtX2 = {...rtX, ifname: 'net1'}
    const second = env.role === 'loopback' ? {ok: false} : await env.add(rtX2)
    if (!second.ok && env.role !== 'loopback') await env.del(rtX2)
    const target = second.ok ? rtX2 : rtY
    const before = await env.snapshot()
    const del = await env.del(target)
    const after = await env.snapshot()
    for (const rt of second.ok ? [rtX, rtY] : [rtX]) await env.del(rt)
    if (!del.ok)
      return violation(`DEL of ${target.containerId}/${target.ifname} failed: ${del.failure}`, env.evidence())
    // Nothing may appear, and nothing of the other attachments may go: only the target's own state.
    const changed = env.diff(before, after)
    // Except loopback's own undo: its DEL turns the target's `lo` down, which shows as a new line.
    const foreign = changed.filter(
      (l) =>
        (l.startsWith('+ ') && !(env.role === 'loopback' && l.includes('y1:'))) ||
        (second.ok ? (l.includes('x0:') && !/net1/.test(l)) || l.includes('y1:') : l.includes('x0:')),
    )
    if (foreign.length)
      return violation('DEL of one attachment changed another attachment', env.evidence({diff: foreign}))
    return pass(
      second.ok || env.role === 'loopback'
        ? undefined
        : 'a second interface of one container on the same network is not supported (P37 is a MAY); checked across containers',
    )
  },
  severity: 'must',
  spec: SPEC.del,
  title: 'DEL of one attachment leaves other containers and other interfaces of the same container intact',
}
