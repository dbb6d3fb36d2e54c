import {type Check, pass, SPEC, skip, violation} from './check.js'

export const capsWithoutRuntimeConfig: Check = {
  id: 'caps.without-runtime-config',
  perVersion: false,
  // P110 only: what the plugin does with a capability's value (P109) is plugin-specific.
  requirements: ['P110'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    const declared = env.list.plugins.filter((p) => p.capabilities && typeof p.capabilities === 'object')
    if (declared.length === 0) return skip('no plugin declares capabilities')
    // libcni omits runtimeConfig when the runtime has no value for a declared capability (R14): no
    // capability args at all, so the request has none.
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    const add = await env.add(rt)
    await env.del(rt)
    if (!add.ok)
      return violation(`ADD with declared capabilities but no runtimeConfig failed: ${add.failure}`, env.evidence(), {
        severity: 'should',
      })
    return pass()
  },
  severity: 'should',
  spec: SPEC.dynamic,
  title: 'Declared capabilities without runtime args still ADD',
}
