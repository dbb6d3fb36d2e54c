import {resultProblems} from '../runtime/spec-problems.js'
import {type Check, pass, SPEC, violation} from './check.js'
import {knownDeparture} from './departures.js'

export const addResultSchema: Check = {
  id: 'add.result-schema',
  judgesSubjectOnly: true,
  perVersion: true,
  requirements: ['P26', 'P27', 'P39', 'P41', 'P42', 'P44', 'P45', 'P46', 'P47', 'P48', 'P49', 'P51', 'P54'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    const add = await env.add(rt)
    if (!add.ok) return violation(`ADD failed: ${add.failure}`, env.evidence())
    // The raw output of the plugin under test, not the runtime's converted copy: P26 is about what it printed.
    const raw = add.outcomes.at(-1)?.value
    // loopback is held to the interface plugin's result, about `lo` instead of CNI_IFNAME.
    const problems = resultProblems(raw, {
      ifname: env.ifnameOf(rt),
      netns: rt.netns,
      role: env.role === 'loopback' ? 'interface' : env.role,
      version: env.version,
    }).filter((p) => p.severity !== 'info')
    await env.del(rt)
    const worst = problems.find((p) => p.severity === 'must') ?? problems.find((p) => p.severity === 'should')
    if (!worst) return pass()
    const known = problems.map((p) => knownDeparture(env.subjectType, p.requirement, env.version))
    return violation(
      problems
        .map((p, i) => `${p.requirement}: ${p.message}${known[i] ? ` (known: ${known[i].what})` : ''}`)
        .join('; '),
      env.evidence({expected: `a ${env.version} result per SPEC §5`, observed: JSON.stringify(raw)}),
      {severity: worst.severity, upstreamDeparture: known.every(Boolean)},
    )
  },
  severity: 'must',
  spec: SPEC.addSuccess,
  title: 'The ADD result has the shape the spec requires at this version',
}
