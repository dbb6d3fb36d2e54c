import {toCanonical} from '../runtime/result.js'
import {hasCheck} from '../runtime/versions.js'
import {type Check, pass, SPEC, violation} from './check.js'

export const checkDetectsTampering: Check = {
  appliesTo: hasCheck,
  id: 'check.detects-tampering',
  perVersion: true,
  productionCritical: true,
  requirements: ['P81'],
  roles: ['interface', 'loopback'],
  async run(env) {
    const tampers: Array<{
      name: string
      apply: (
        ns: Awaited<ReturnType<typeof env.netns>>,
        ifname: string,
        result: ReturnType<typeof toCanonical>,
      ) => Promise<unknown>
    }> = [
      {
        apply: (ns, ifname, r) => env.ip(['addr', 'del', r.ips[0]!.address, 'dev', ifname], ns),
        name: 'address removed',
      },
      {apply: (ns, ifname) => env.ip(['link', 'set', ifname, 'down'], ns), name: 'link set down'},
      {
        apply: async (ns, _ifname, r) => {
          const route = r.routes[0]!
          await env.ip(['route', 'del', route.dst === '0.0.0.0/0' ? 'default' : route.dst], ns)
        },
        name: 'route removed',
      },
    ]
    const missed: string[] = []
    // loopback's whole doing is `lo` up: the kernel, not the plugin, puts 127.0.0.1 and ::1 on it
    // and their routes, so only the link going down is a broken loopback attachment.
    for (const t of env.role === 'loopback' ? tampers.filter((x) => x.name === 'link set down') : tampers) {
      const ctr = await env.netns()
      const rt = env.rt(ctr)
      const add = await env.add(rt)
      if (!add.ok) return violation(`ADD failed: ${add.failure}`, env.evidence())
      const result = toCanonical(add.result)
      if (t.name === 'address removed' && result.ips.length === 0) continue
      if (t.name === 'route removed' && result.routes.length === 0) continue
      await t.apply(ctr, env.ifnameOf(rt), result)
      const check = await env.check(rt)
      if (check.ok) missed.push(t.name)
      await env.del(rt)
    }
    if (missed.length === 0) return pass()
    return violation(
      `CHECK passed on a visibly broken attachment: ${missed.join(', ')}`,
      env.evidence({expected: 'CHECK fails after tampering', observed: `CHECK exit 0 after: ${missed.join(', ')}`}),
      {severity: 'should'},
    )
  },
  severity: 'should',
  spec: SPEC.check,
  title: 'CHECK fails after the address is removed, the link set down or a route removed',
}
