import {type Check, pass, SPEC, violation} from './check.js'

export const addExistingIfnameFails: Check = {
  id: 'add.existing-ifname-fails',
  perVersion: false,
  requirements: ['P32'],
  roles: ['interface'],
  async run(env) {
    const ctr = await env.netns()
    // The kernel here has no dummy driver; a veth pair whose end is named like the target works as well.
    await env.ip(['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'cnidbgpeer0'], ctr)
    const before = await env.ipJson<Array<{ifname: string; ifindex: number; address: string}>>(
      ['link', 'show', 'eth0'],
      ctr,
    )
    const rt = env.rt(ctr)
    const add = await env.add(rt)
    const after = await env
      .ipJson<Array<{ifname: string; ifindex: number; address: string}>>(['link', 'show', 'eth0'], ctr)
      .catch(() => [])
    await env.del(rt)
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
    return pass()
  },
  severity: 'must',
  spec: SPEC.add,
  title: 'ADD fails when CNI_IFNAME already exists in the container, and leaves it alone',
}
