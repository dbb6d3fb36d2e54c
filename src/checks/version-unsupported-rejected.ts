import {type Check, pass, SPEC, violation} from './check.js'

export const versionUnsupportedRejected: Check = {
  id: 'version.unsupported-rejected',
  judgesSubjectOnly: true,
  perVersion: false,
  requirements: ['P28', 'P62'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    const request = {...env.request(rt), cniVersion: '0.9.9'}
    const o = await env.raw({request, rt, verb: 'ADD'})
    if (o.ok) {
      await env.raw({request, rt, verb: 'DEL'})
      return violation(
        'ADD with cniVersion 0.9.9 succeeded',
        env.evidence({expected: 'error code 1 (incompatible CNI version)', observed: 'exit 0'}),
      )
    }
    if (o.error?.code !== 1)
      return violation(
        `ADD with cniVersion 0.9.9 failed with ${o.error ? `code ${o.error.code}` : 'no error object'}, not code 1`,
        env.evidence({expected: 'code 1'}),
        {severity: 'should'},
      )
    return pass()
  },
  severity: 'should',
  spec: SPEC.error,
  title: 'An unsupported cniVersion is rejected with error code 1',
}
