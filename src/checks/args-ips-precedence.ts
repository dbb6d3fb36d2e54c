import {formatIP, parseCIDR} from '../core/ip.js'
import {toCanonical} from '../runtime/result.js'
import type {JsonObject} from '../runtime/types.js'
import {type Check, pass, skip, SPEC, violation} from './check.js'

/** An address inside the config's first IPv4 subnet, well away from the start of the range. */
function pickAddresses(ipam: JsonObject | undefined): [string, string] | undefined {
  const ranges = ipam?.ranges as Array<Array<{subnet?: string}>> | undefined
  const subnet = (ipam?.subnet as string | undefined) ?? ranges?.[0]?.[0]?.subnet
  const c = subnet === undefined ? undefined : parseCIDR(subnet)
  if (!c || c.family !== 4 || c.prefix > 24) return undefined
  const base = formatIP(c).split('.').map(Number)
  const at = (n: number) => `${base[0]}.${base[1]}.${base[2]}.${n}`
  return [at(200), at(201)]
}

export const argsIpsPrecedence: Check = {
  id: 'args.ips-precedence',
  perVersion: false,
  requirements: ['P112', 'P114'],
  roles: ['interface', 'ipam'],
  async run(env) {
    const ipam = env.list.plugins[env.setup.subject]!.ipam as JsonObject | undefined
    const pair = pickAddresses(ipam)
    if (!pair) return skip('no IPv4 subnet (/24 or larger) in the ipam config to request addresses from')
    const [wanted, other] = pair
    const ctr = await env.netns()
    // CONVENTIONS: args.cni.ips wins over CNI_ARGS IP= for a plugin that understands args (P114).
    const rt = env.rt(ctr, {
      args: [
        ['IgnoreUnknown', '1'],
        ['IP', other],
      ],
    })
    const list = env.withList((l) => {
      l.plugins[env.setup.subject]!.args = {cni: {ips: [wanted]}}
    })
    const add = await env.add(rt, list)
    await env.del(rt, list)
    if (!add.ok) return pass(`requested IPs are not supported (ADD failed: ${add.failure})`)
    const ips = toCanonical(add.result).ips.map((i) => i.address.split('/')[0])
    if (ips.includes(other))
      return violation(
        `the result has the CNI_ARGS address ${other}; args.cni.ips (${wanted}) must win`,
        env.evidence({expected: wanted, observed: ips.join(', ')}),
      )
    if (!ips.includes(wanted)) return pass('requested IPs are not honoured by this plugin (allowed)')
    return pass()
  },
  severity: 'must',
  spec: SPEC.cniArgs,
  title: 'args.cni.ips is honoured and wins over CNI_ARGS IP=',
}
