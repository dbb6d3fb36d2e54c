import {hasCheck} from '../runtime/versions.js'
import {type Check, pass, SPEC, violation} from './check.js'

export const ioFraming: Check = {
  id: 'io.framing',
  perVersion: true,
  requirements: ['P1', 'P2', 'P3', 'P5', 'P33'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    await env.add(rt)
    if (hasCheck(env.version)) await env.check(rt)
    await env.del(rt)
    // And one failure, so the error path is framed too: a request with no name (code 7 in Go plugins).
    const {name: _n, ...noName} = env.request(env.rt(ctr))
    await env.raw({request: noName, rt: env.rt(ctr), verb: 'ADD'})
    const problems = env.invocations.flatMap((o) =>
      o.problems
        .filter((p) => ['P1', 'P2', 'P3', 'P5', 'P33'].includes(p.requirement))
        .map((p) => ({...p, verb: o.invocation.verb})),
    )
    const worst = problems.find((p) => p.severity === 'must') ?? problems.find((p) => p.severity === 'should')
    if (!worst) return pass()
    return violation(
      problems.map((p) => `${p.verb}: ${p.message} (${p.requirement})`).join('; '),
      env.evidence({}, 8),
      {severity: worst.severity},
    )
  },
  severity: 'must',
  spec: SPEC.errors,
  title: 'stdout carries exactly one JSON object, and the exit code agrees with it',
}
