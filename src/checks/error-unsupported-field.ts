import {type Check, pass, SPEC, violation} from './check.js'

const KEY = 'cnidbgUnsupportedField'
const VALUE = 'cnidbg-probe-value-7f3a'

export const errorUnsupportedField: Check = {
  id: 'error.unsupported-field',
  judgesSubjectOnly: true,
  perVersion: false,
  requirements: ['P18', 'P63'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    const request = {...env.request(rt), [KEY]: VALUE}
    const o = await env.raw({request, rt, verb: 'ADD'})
    await env.raw({request: {...request, prevResult: o.value ?? null} as never, rt, verb: 'DEL'})
    // SPEC §5 Error code 2: "The error message must contain the key and value of the unsupported field."
    if (o.ok || o.error?.code !== 2)
      return pass(o.ok ? 'the plugin accepts unknown fields (allowed, P18)' : 'rejected with another code')
    const text = `${o.error.msg} ${o.error.details ?? ''}`
    if (text.includes(KEY) && text.includes(VALUE)) return pass()
    return violation(
      `code 2 for an unsupported field, but the message does not name both the key and the value: ${JSON.stringify(text.trim())}`,
      env.evidence({expected: `msg/details mention ${KEY} and ${VALUE}`}),
    )
  },
  severity: 'must',
  spec: SPEC.error,
  title: 'An error for an unsupported field (code 2) names the key and its value',
}
