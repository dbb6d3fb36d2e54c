import {toCanonical} from '../runtime/result.js'
import {hasChaining} from '../runtime/versions.js'
import {type Check, pass, SPEC, violation} from './check.js'

export const chainPrevResult: Check = {
  appliesTo: hasChaining,
  id: 'chain.prevresult',
  judgesSubjectOnly: true,
  perVersion: true,
  requirements: ['P34', 'P55', 'P56', 'P57'],
  roles: ['chained'],
  async run(env) {
    const ctr = await env.netns()
    const rt = env.rt(ctr)
    const add = await env.add(rt)
    if (!add.ok) return violation(`ADD of the chain failed: ${add.failure}`, env.evidence())
    const outcomes = add.outcomes
    const input = toCanonical(outcomes[env.setup.subject - 1]?.value)
    const output = toCanonical(outcomes[env.setup.subject]?.value)
    await env.del(rt)
    // SPEC §ADD: a plugin given prevResult outputs it with its own changes merged in; it must not drop it.
    const missing = [
      ...input.interfaces
        .filter((i) => !output.interfaces.some((o) => o.name === i.name))
        .map((i) => `interface ${i.name}`),
      ...input.ips.filter((i) => !output.ips.some((o) => o.address === i.address)).map((i) => `ip ${i.address}`),
      ...input.routes
        .filter((r) => !output.routes.some((o) => o.dst === r.dst && o.gw === r.gw))
        .map((r) => `route ${r.dst}`),
    ]
    if (missing.length)
      return violation(
        `the chained plugin's result dropped what prevResult had: ${missing.join(', ')}`,
        env.evidence({
          expected: JSON.stringify(outcomes[env.setup.subject - 1]?.value),
          observed: JSON.stringify(outcomes[env.setup.subject]?.value),
        }),
      )
    return pass()
  },
  severity: 'must',
  spec: SPEC.addSuccess,
  title: 'A chained plugin passes prevResult through (with its own changes merged in)',
}
