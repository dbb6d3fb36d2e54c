import {type Check, pass, SPEC, violation} from './check.js'

export const envMissingVariables: Check = {
  id: 'env.missing-variables',
  judgesSubjectOnly: true,
  perVersion: false,
  requirements: ['P65'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    const problems: string[] = []
    const soft: string[] = []
    for (const name of ['CNI_IFNAME', 'CNI_CONTAINERID', 'CNI_NETNS'] as const) {
      const rt = env.rt(ctr)
      const o = await env.raw({extraEnv: {[name]: undefined}, request: env.request(rt), rt, verb: 'ADD'})
      // Don't let a plugin that wrongly succeeded leave its attachment in the case's sandbox.
      if (o.ok) {
        problems.push(`ADD without ${name} succeeded`)
        await env.raw({request: env.request(rt), rt, verb: 'DEL'})
        continue
      }
      const text = `${o.error?.msg ?? ''} ${o.error?.details ?? ''} ${o.invocation.stderr}`
      // SPEC §5 Error code 4: "Invalid necessary environment variables, like CNI_COMMAND, CNI_CONTAINERID, etc. The error message must contain the names of invalid variables."
      if (o.error?.code === 4 && !text.includes(name))
        problems.push(`code 4 for a missing ${name}, but the message does not name it`)
      else if (o.error && o.error.code !== 4) soft.push(`missing ${name} gave code ${o.error.code}, not 4`)
    }
    if (problems.length) return violation(problems.join('; '), env.evidence({}, 6))
    if (soft.length) return violation(soft.join('; '), env.evidence({}, 6), {severity: 'should'})
    return pass()
  },
  severity: 'must',
  spec: SPEC.error,
  title: 'ADD without CNI_IFNAME, CNI_CONTAINERID or CNI_NETNS fails with code 4 naming the variable',
}
