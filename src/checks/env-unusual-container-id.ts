import {type Check, pass, SPEC, violation} from './check.js'

export const envUnusualContainerId: Check = {
  id: 'env.unusual-container-id',
  judgesSubjectOnly: true,
  perVersion: false,
  requirements: ['P11'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    const ctr = await env.netns()
    const crashed: string[] = []
    // Runtimes validate these before calling (R9); a plugin must still not crash on them.
    for (const id of ['-abc', 'a/b', 'a b', 'ä', 'x'.repeat(255)]) {
      const rt = env.rt(ctr, {containerId: id})
      const o = await env.raw({request: env.request(rt), rt, verb: 'ADD'})
      if (o.ok) await env.raw({request: env.request(rt, {prevResult: o.value}), rt, verb: 'DEL'})
      const panicked = /panic:|goroutine \d+|Traceback|at .+\(.+:\d+:\d+\)/.test(o.invocation.stderr)
      if (o.invocation.signal || panicked || (o.invocation.exitCode !== 0 && !o.error))
        crashed.push(
          `${JSON.stringify(id.length > 20 ? id.slice(0, 20) + '…' : id)}: ${o.invocation.signal ?? (panicked ? 'crashed' : 'no error object')}`,
        )
    }
    if (crashed.length)
      return violation(`unusual container IDs made the plugin crash: ${crashed.join('; ')}`, env.evidence({}, 5), {
        severity: 'should',
      })
    return pass()
  },
  severity: 'should',
  spec: SPEC.parameters,
  title: 'Unusual container IDs are rejected cleanly or accepted, never a crash',
}
