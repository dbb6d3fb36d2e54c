import {type Check, pass, SPEC, violation} from './check.js'

export const errorMalformedConfig: Check = {
  id: 'error.malformed-config',
  judgesSubjectOnly: true,
  perVersion: false,
  requirements: ['P60', 'P67', 'P68'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    const cases: Array<{name: string; request: string | Record<string, unknown>; code: number}> = [
      {code: 6, name: 'malformed JSON', request: '{"cniVersion": "1.0.0", "name": '},
      {code: 7, name: 'missing name', request: (({name: _n, ...r}) => r)(env.request(env.rt(ctr)))},
    ]
    const wrong: string[] = []
    const soft: string[] = []
    for (const c of cases) {
      const rt = env.rt(ctr)
      const o = await env.raw({request: c.request as never, rt, verb: 'ADD'})
      if (o.ok) {
        wrong.push(`${c.name}: ADD succeeded`)
        await env.raw({request: env.request(rt), rt, verb: 'DEL'})
      } else if (!o.error) soft.push(`${c.name}: no error object on stdout`)
      else if (o.error.code !== c.code) soft.push(`${c.name}: code ${o.error.code}, expected ${c.code}`)
    }
    if (wrong.length) return violation(wrong.join('; '), env.evidence({expected: 'an error for each bad config'}))
    if (soft.length) return violation(soft.join('; '), env.evidence(), {severity: 'should'})
    return pass()
  },
  severity: 'must',
  spec: SPEC.error,
  title: 'Malformed JSON (code 6) and a missing name (code 7) are rejected with error objects',
}
