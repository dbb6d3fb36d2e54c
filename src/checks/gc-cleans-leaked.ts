import {buildGcRequest} from '../runtime/request.js'
import {hasGc} from '../runtime/versions.js'
import {type Check, pass, skip, SPEC, violation} from './check.js'

export const gcCleansLeaked: Check = {
  appliesTo: hasGc,
  id: 'gc.cleans-leaked',
  perVersion: true,
  productionCritical: true,
  requirements: ['P92', 'P95'],
  roles: ['interface', 'chained', 'ipam', 'loopback'],
  async run(env) {
    if (env.singleAttachment) return skip(`needs two attachments at once: ${env.singleAttachment}`)
    const a = env.rt(await env.netns('a'))
    const nsB = await env.netns('b')
    const b = env.rt(nsB)
    const before = await env.snapshot()
    const addA = await env.add(a)
    if (!addA.ok) return violation(`ADD failed: ${addA.failure}`, env.evidence())
    const withA = await env.snapshot()
    const addB = await env.add(b)
    if (!addB.ok) return violation(`ADD failed: ${addB.failure}`, env.evidence())
    // B leaks: its container is gone and DEL never ran. Only the plugins can clean it, through GC.
    // The runtime's own GC would DEL B from its cache first; GC the plugin directly so only the plugin can clean it.
    await env.removeNetns(nsB)
    const plugin = env.list.plugins[env.setup.subject]!
    const gcOut = await env.raw({
      env: {CNI_CONTAINERID: '', CNI_IFNAME: '', CNI_NETNS: ''},
      request: buildGcRequest(plugin, {
        cniVersion: env.version,
        name: env.list.name,
        valid: [{containerID: a.containerId, ifname: a.ifname}],
      }),
      verb: 'GC',
    })
    const after = await env.snapshot()
    await env.del(a)
    if (!gcOut.ok) return violation(`GC failed: ${gcOut.failure}`, env.evidence())
    if (gcOut.invocation.stdout.trim())
      return violation('GC succeeded but printed output (P95)', env.evidence(), {severity: 'should'})
    const removedOfA = env.diff(withA, after).filter((l) => l.startsWith('- ') && !l.includes('b1:'))
    if (removedOfA.length)
      return violation('GC removed state of a valid attachment', env.evidence({diff: removedOfA}), {severity: 'must'})
    const leftOfB = env
      .diff(before, after)
      .filter(
        (l) =>
          l.startsWith('+ ') &&
          (l.includes('/var/lib/cni') || l.includes('/run/cni')) &&
          !env.diff(before, withA).includes(l),
      )
    if (leftOfB.length)
      return violation('GC left the leaked attachment’s IPAM/state behind', env.evidence({diff: leftOfB}), {
        severity: 'should',
      })
    return pass()
  },
  severity: 'should',
  spec: SPEC.gc,
  title: 'GC releases a leaked attachment and leaves the valid one untouched',
}
