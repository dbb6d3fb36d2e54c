import type {RuntimeConf} from '../runtime/types.js'
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
    const added: RuntimeConf[] = []
    const addOther = async (rt: RuntimeConf) => {
      const add = await env.add(rt)
      added.push(rt)
      return add.ok ? undefined : violation(`ADD ${rt.containerId}/${rt.ifname} failed: ${add.failure}`, env.evidence())
    }
    // What the target's own ADD made: the only lines its DEL may take away.
    let own = new Set<string>()
    const addTarget = async (rt: RuntimeConf) => {
      const before = await env.snapshot()
      const add = await env.add(rt)
      own = new Set(
        env
          .diff(before, await env.snapshot())
          .filter((l) => l.startsWith('+ '))
          .map((l) => l.slice(2)),
      )
      return add
    }
    try {
      const failedX = await addOther(rtX)
      if (failedX) return failedX
      // P37 is a MAY: a second interface of the same container on the same network. When the plugin
      // can't do that (upstream ptp can't), the check deletes container Y instead.
      // loopback configures the one `lo` of a namespace whatever CNI_IFNAME says, so a second
      // attachment in the same container is the same `lo`: only containers are kept apart.
      const rtX2 = {...rtX, ifname: 'net1'}
      let target = rtY
      if (env.role !== 'loopback') {
        const second = await addTarget(rtX2)
        if (second.ok) target = rtX2
        else await env.del(rtX2)
      }
      if (target === rtX2) {
        const failedY = await addOther(rtY)
        if (failedY) return failedY
      } else {
        const add = await addTarget(rtY)
        if (!add.ok) return violation(`ADD ${rtY.containerId}/${rtY.ifname} failed: ${add.failure}`, env.evidence())
      }
      const before = await env.snapshot()
      const del = await env.del(target)
      const after = await env.snapshot()
      if (!del.ok)
        return violation(`DEL of ${target.containerId}/${target.ifname} failed: ${del.failure}`, env.evidence())
      // Nothing may appear, and only what the target's own ADD made may go: a line of another
      // attachment (its link, address, route, reservation file) going is damage to it.
      const yLabel = `${env.label(y)}: `
      const foreign = env.diff(before, after).filter((l) =>
        l.startsWith('+ ')
          ? // Except loopback's own undo: its DEL turns the target's `lo` down, which shows as a new line.
            !(env.role === 'loopback' && l.startsWith(`+ ${yLabel}`))
          : !own.has(l.slice(2)),
      )
      if (foreign.length)
        return violation(
          `DEL of ${target.containerId}/${target.ifname} changed another attachment or shared state`,
          env.evidence({
            diff: foreign,
            expected: "only what the target's own ADD made goes",
            observed: foreign.slice(0, 5).join('; '),
          }),
        )
      return pass(
        target === rtX2 || env.role === 'loopback'
          ? undefined
          : 'a second interface of one container on the same network is not supported (P37 is a MAY); checked across containers',
      )
    } finally {
      for (const rt of added) await env.del(rt)
    }
  },
  severity: 'must',
  spec: SPEC.del,
  title: 'DEL of one attachment leaves other containers and other interfaces of the same container intact',
}
