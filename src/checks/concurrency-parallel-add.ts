import {toCanonical} from '../runtime/result.js'
import {type Check, pass, SPEC, violation} from './check.js'

const N = 16

export const concurrencyParallelAdd: Check = {
  id: 'concurrency.parallel-add',
  perVersion: false,
  requirements: ['P100', 'P99'],
  roles: ['interface', 'ipam'],
  async run(env) {
    const nss = await Promise.all(Array.from({length: N}, (_, i) => env.netns(`p${i}-`)))
    const rts = nss.map((ns) => env.rt(ns))
    // One round trip first: the store's own bookkeeping (lock file, last-reserved marker) is shared state, not a leak.
    const warm = env.rt(nss[0]!)
    await env.add(warm)
    await env.del(warm)
    const before = await env.snapshot()
    const adds = await Promise.all(rts.map((rt) => env.add(rt)))
    const failed = adds.filter((a) => !a.ok)
    const ips = adds.filter((a) => a.ok).flatMap((a) => toCanonical(a.result).ips.map((i) => i.address.split('/')[0]))
    const dups = ips.filter((ip, i) => ips.indexOf(ip) !== i)
    const dels = await Promise.all(rts.map((rt) => env.del(rt)))
    const after = await env.snapshot()
    const leftovers = env.diff(before, after).filter((l) => l.includes('/var/lib/cni'))
    if (failed.length)
      return violation(`${failed.length} of ${N} parallel ADDs failed: ${failed[0]?.failure}`, env.evidence())
    if (dups.length)
      return violation(
        `parallel ADDs handed out the same address twice: ${[...new Set(dups)].join(', ')}`,
        env.evidence({observed: ips.join(', ')}),
      )
    if (dels.some((d) => !d.ok))
      return violation(`parallel DELs failed: ${dels.find((d) => !d.ok)?.failure}`, env.evidence())
    if (leftovers.length)
      return violation('after parallel ADD/DEL the IPAM store is not empty', env.evidence({diff: leftovers}), {
        severity: 'should',
      })
    return pass(`${N} parallel ADDs got ${ips.length} unique addresses`)
  },
  severity: 'must',
  spec: SPEC.lifecycle,
  title: `${N} parallel ADDs succeed with unique addresses; parallel DELs empty the store`,
}
