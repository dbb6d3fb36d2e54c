import {type Check, pass, SPEC, violation} from './check.js'

export const addExistingIfnameFails: Check = {
  id: 'add.existing-ifname-fails',
  perVersion: false,
  requirements: ['P32', 'P35'],
  roles: ['interface'],
  async run(env) {
    // A first attachment creates the long-lived shared objects (a bridge, host-local's lock and
    // last_reserved_ip) that a plugin rightly keeps, so they do not count as left over by the failed ADD.
    const warm = env.rt(await env.netns())
    const warmed = await env.add(warm)
    // A config with one attachment at a time (host-device) keeps the shared objects but frees the device.
    const single = env.singleAttachment !== undefined
    if (single && warmed.ok) await env.del(warm)
    const ctr = await env.netns()
    // The kernel here has no dummy driver; a veth pair whose end is named like the target works as well.
    await env.ip(['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'cnidbgpeer0'], ctr)
    const before = await env.ipJson<Array<{ifname: string; ifindex: number; address: string}>>(
      ['link', 'show', 'eth0'],
      ctr,
    )
    const rt = env.rt(ctr)
    const state = await env.snapshot()
    const add = await env.add(rt)
    // Before the runtime's DEL: what the failed ADD itself left behind (P35).
    const left = warmed.ok && !add.ok ? env.diff(state, await env.snapshot()) : []
    const after = await env
      .ipJson<Array<{ifname: string; ifindex: number; address: string}>>(['link', 'show', 'eth0'], ctr)
      .catch(() => [])
    await env.del(rt)
    if (warmed.ok && !single) await env.del(warm)
    if (add.ok)
      return violation(
        'ADD succeeded although eth0 already existed in the container',
        env.evidence({expected: 'ADD fails', observed: 'exit 0'}),
      )
    if (after[0]?.ifindex !== before[0]?.ifindex || after[0]?.address !== before[0]?.address)
      return violation(
        'ADD failed but changed the pre-existing eth0',
        env.evidence({expected: 'eth0 untouched', observed: JSON.stringify(after[0] ?? 'gone')}),
        {severity: 'should'},
      )
    // P35 (derived from SPEC §3 lifecycle): a plugin that fails ADD after a partial setup rolls back
    // what it did, its IPAM allocation included; the runtime's DEL is only the safety net.
    if (left.length)
      return violation(
        `ADD failed (eth0 exists) but left ${left.length} difference(s) behind until DEL: it did not roll back (P35)`,
        env.evidence({
          diff: left,
          expected: 'host, container and state dir as before the failed ADD',
          observed: left.slice(0, 5).join('; '),
        }),
        {severity: 'should'},
      )
    return pass()
  },
  severity: 'must',
  spec: SPEC.add,
  title: 'ADD fails when CNI_IFNAME already exists in the container, leaves it alone, and rolls back its own setup',
}
