import type {JsonObject} from '../runtime/types.js'
import {type Check, pass, skip, SPEC, violation} from './check.js'

export const errorBadSubnet: Check = {
  id: 'error.bad-subnet',
  perVersion: false,
  requirements: ['P68'],
  roles: ['interface', 'ipam'],
  async run(env) {
    const plugin = env.list.plugins[env.setup.subject]!
    const ipam = plugin.ipam as JsonObject | undefined
    if (!ipam || (ipam.subnet === undefined && ipam.ranges === undefined))
      return skip('the config has no ipam subnet or ranges to break')
    const broken = structuredClone(ipam)
    if (broken.subnet !== undefined) broken.subnet = '10.300.0.0/33'
    else broken.ranges = [[{subnet: '10.300.0.0/33'}]]
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    const request = {...env.request(rt), ipam: broken}
    const o = await env.raw({request, rt, verb: 'ADD'})
    if (o.ok) {
      await env.raw({request, rt, verb: 'DEL'})
      return violation(
        'ADD with ipam subnet 10.300.0.0/33 succeeded',
        env.evidence({expected: 'an error (code 7 invalid config)'}),
      )
    }
    if (!o.error) return violation('a bad subnet failed without an error object', env.evidence(), {severity: 'should'})
    return pass(`rejected with code ${o.error.code}`)
  },
  // P68: a malformed plugin-specific value "should also produce an error".
  severity: 'should',
  spec: SPEC.error,
  title: 'A malformed subnet in the config is rejected with an error object',
}
