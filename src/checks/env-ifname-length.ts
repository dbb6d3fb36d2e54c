import {type Check, pass, SPEC, violation} from './check.js'

export const envIfnameTooLong: Check = {
  id: 'env.ifname-length',
  perVersion: false,
  requirements: ['P9', 'P12'],
  roles: ['interface'],
  async run(env) {
    const ctr = await env.netns()
    const ok15 = env.rt(ctr, {ifname: 'cnidbg15charsxx'})
    const add15 = await env.add(ok15)
    const links = await env.ipJson<Array<{ifname: string}>>(['link', 'show'], ctr)
    await env.del(ok15)
    if (!add15.ok) return violation(`ADD with a 15-character ifname failed: ${add15.failure}`, env.evidence())
    if (!links.some((l) => l.ifname === 'cnidbg15charsxx'))
      return violation(
        'ADD with a 15-character ifname did not create it under that exact name',
        env.evidence({observed: links.map((l) => l.ifname).join(', ')}),
      )
    const ctr2 = await env.netns()
    const rt16 = env.rt(ctr2, {ifname: 'cnidbg16charsxxx'})
    const add16 = await env.raw({request: env.request(rt16), rt: rt16, verb: 'ADD'})
    const after = await env.ipJson<Array<{ifname: string}>>(['link', 'show'], ctr2)
    await env.raw({request: env.request(rt16), rt: rt16, verb: 'DEL'})
    if (add16.ok)
      return violation(
        `ADD with a 16-character ifname succeeded (links now: ${after.map((l) => l.ifname).join(', ')}); it must fail, not truncate or rename`,
        env.evidence(),
      )
    return pass()
  },
  severity: 'must',
  spec: SPEC.parameters,
  title: 'A 15-character CNI_IFNAME is honoured exactly; a 16-character one fails',
}
