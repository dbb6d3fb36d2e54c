import type {JsonObject} from '../runtime/types.js'
import {type Check, pass, SPEC, violation} from './check.js'

export const configToleratesExtraKeys: Check = {
  id: 'config.tolerates-extra-keys',
  judgesSubjectOnly: true,
  perVersion: false,
  requirements: ['P19', 'P20'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    const variants: Array<{name: string; extra: JsonObject; requirement: string}> = [
      {
        extra: {args: {cni: {labels: [{key: 'app', value: 'web'}]}, 'vendor.example': {y: 1}}},
        name: 'unknown args',
        requirement: 'P19',
      },
      {
        extra: {
          capabilities: {portMappings: true},
          'cni.dev/example': 1,
          runtimeConfig: {undeclaredCapability: {x: 1}},
        },
        name: 'reserved keys (capabilities, runtimeConfig, cni.dev/*)',
        requirement: 'P20',
      },
    ]
    const failed: string[] = []
    for (const v of variants) {
      const rt = env.rt(ctr)
      const up = await env.upstream(rt)
      const request = {...env.request(rt, {prevResult: up.prevResult}), ...v.extra}
      const o = await env.raw({request, rt, verb: 'ADD'})
      await env.raw({request: {...request, prevResult: o.value ?? null} as JsonObject, rt, verb: 'DEL'})
      await up.undo()
      if (!o.ok) failed.push(`${v.requirement} ${v.name}: ${o.failure}`)
    }
    if (failed.length)
      return violation(`ADD failed with keys runtimes may add: ${failed.join('; ')}`, env.evidence({}, 4), {
        severity: 'should',
      })
    return pass()
  },
  severity: 'should',
  spec: SPEC.config,
  title: 'Unknown args and runtime-reserved keys do not break ADD',
}
