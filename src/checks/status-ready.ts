import {hasStatus} from '../runtime/versions.js'
import {type Check, pass, SPEC, violation} from './check.js'

export const statusReady: Check = {
  appliesTo: hasStatus,
  id: 'status.ready',
  perVersion: true,
  requirements: ['P88', 'P38'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    // P38: ADD must not depend on STATUS having been called, so ADD first, then STATUS, then DEL.
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    const add = await env.add(rt)
    const status = await env.status()
    const del = await env.del(rt)
    if (!add.ok) return violation(`ADD failed: ${add.failure}`, env.evidence())
    if (!status.ok)
      return violation(`STATUS failed on a healthy plugin: ${status.failure}`, env.evidence({expected: 'exit 0'}))
    if (!del.ok) return violation(`DEL after STATUS failed: ${del.failure}`, env.evidence())
    return pass()
  },
  severity: 'must',
  spec: SPEC.status,
  title: 'STATUS succeeds when the plugin can serve ADD',
}
