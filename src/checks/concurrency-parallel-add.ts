import {toCanonical} from '../runtime/result.js'
import {type Check, pass, skip, SPEC, violation} from './check.js'

const N = 16

export const concurrencyParallelAdd: Check = {
  id: 'concurrency.parallel-add',
  perVersion: false,
  requirements: ['P100', 'P99'],
  roles: ['interface', 'ipam'],
  async run(env) {
    if (env.singleAttachment) return skip(`needs two attachments at once: ${env.singleAttachment}`)
    const nss = await Promise.all(Array.from({length: N}, (_, i) => env.netns(`p${i}-`)))
    const rts = nss.map((ns) => env.rt(ns))
    // Two sequential attachments first. If they get the same address the plugin assigns a fixed
    // address from its config (like `static`), and uniqueness under concurrency does not apply.
    // Their round trip also creates the store's bookkeeping (lock, last-reserved), which is shared state.
    const warm = [env.rt(nss[0]!), env.rt(nss[1]!)]
    const seq = []
    for (const rt of warm) seq.push(await env.add(rt))
    for (const rt of warm) await env.del(rt)
    const seqIps = seq.map((a) =>
      a.ok
        ? toCanonical(a.result)
            .ips.map((i) => i.address)
            .join(',')
        : '',
    )
    if (seq.every((a) => a.ok) && seqIps[0] && seqIps[0] === seqIps[1])
      return skip(`two sequential ADDs both got ${seqIps[0]}: the address comes from the config, not an allocator`)
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
