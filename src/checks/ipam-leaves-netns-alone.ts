import {type Check, pass, SPEC, violation} from './check.js'

export const ipamLeavesNetnsAlone: Check = {
  id: 'ipam.leaves-netns-alone',
  perVersion: false,
  requirements: ['P108', 'P54'],
  roles: ['ipam'],
  async run(env) {
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    const before = await env.snapshot()
    const add = await env.add(rt)
    const after = await env.snapshot()
    await env.del(rt)
    if (!add.ok) return violation(`ADD failed: ${add.failure}`, env.evidence())
    // SPEC §4: IPAM plugins work out addresses and return them; they do not configure interfaces (dhcp aside).
    const touched = env.diff(before, after).filter((l) => !l.includes('/var/lib/cni') && !l.includes('/run/cni'))
    if (touched.length) return violation('the IPAM plugin changed network state itself', env.evidence({diff: touched}))
    return pass()
  },
  severity: 'must',
  spec: SPEC.ipam,
  title: 'An IPAM plugin returns addresses without configuring any namespace',
}
