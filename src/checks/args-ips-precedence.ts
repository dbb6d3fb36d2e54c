import {formatIP, lastOf, networkOf, parseCIDR, parseIP} from '../core/ip.js'
import {toCanonical} from '../runtime/result.js'
import type {JsonObject} from '../runtime/types.js'
import {type Check, pass, skip, SPEC, violation} from './check.js'
import {knownDeparture} from './departures.js'

interface Range {
  subnet?: string
  rangeStart?: string
  rangeEnd?: string
  gateway?: string
}

/**
 * Two addresses the plugin may hand out: the last two of the config's first IPv4 range (its
 * rangeEnd, or the subnet's last host), not its gateway and not before its rangeStart.
 */
export function pickAddresses(ipam: JsonObject | undefined): [string, string] | undefined {
  const ranges = ipam?.ranges as Range[][] | undefined
  const range: Range | undefined =
    typeof ipam?.subnet === 'string'
      ? (ipam as Range)
      : ranges?.flat().find((r) => parseCIDR(r.subnet ?? '')?.family === 4)
  const c = range?.subnet === undefined ? undefined : parseCIDR(range.subnet)
  if (!range || !c || c.family !== 4) return undefined
  const v4 = (text: string | undefined): bigint | undefined => {
    const a = text === undefined ? undefined : parseIP(text)
    return a?.family === 4 ? a.value : undefined
  }
  const first = v4(range.rangeStart) ?? networkOf(c) + 2n
  const gateway = v4(range.gateway) ?? networkOf(c) + 1n
  const picked: string[] = []
  for (let n = v4(range.rangeEnd) ?? lastOf(c) - 1n; n >= first && picked.length < 2; n--)
    if (n !== gateway) picked.push(formatIP({family: 4, value: n}))
  return picked.length === 2 ? [picked[0]!, picked[1]!] : undefined
}

export const argsIpsPrecedence: Check = {
  id: 'args.ips-precedence',
  perVersion: false,
  requirements: ['P112', 'P114'],
  roles: ['interface', 'ipam'],
  async run(env) {
    const plugin = env.list.plugins[env.setup.subject]!
    const ipam = plugin.ipam as JsonObject | undefined
    const pair = pickAddresses(ipam)
    if (!pair) return skip('no IPv4 range with two free addresses in the ipam config to request them from')
    const [wanted, other] = pair
    const list = env.withList((l) => {
      l.plugins[env.setup.subject]!.args = {cni: {ips: [wanted]}}
    })
    // First args.cni.ips alone: a plugin that does not take requested IPs is allowed (P112 is a convention).
    const alone = env.rt(await env.netns())
    const control = await env.add(alone, list)
    await env.del(alone, list)
    if (!control.ok) return pass(`requested IPs are not supported (ADD with args.cni.ips failed: ${control.failure})`)
    if (!toCanonical(control.result).ips.some((i) => i.address.split('/')[0] === wanted))
      return pass('requested IPs are not honoured by this plugin (allowed)')
    // CONVENTIONS: args.cni.ips wins over CNI_ARGS IP= for a plugin that understands args (P114).
    const rt = env.rt(await env.netns(), {
      args: [
        ['IgnoreUnknown', '1'],
        ['IP', other],
      ],
    })
    const add = await env.add(rt, list)
    await env.del(rt, list)
    // The IPAM that allocates is the one that reads both: the plugin under test, or its delegate.
    const allocator = env.role === 'ipam' ? plugin.type : String(ipam?.type ?? plugin.type)
    const known = knownDeparture(allocator, 'P114', env.version)
    if (!add.ok)
      return violation(
        `ADD with args.cni.ips alone works, but with CNI_ARGS IP=${other} as well it fails: ${add.failure}${known ? ` (known: ${allocator} ${known.what})` : ''}`,
        env.evidence({expected: `${wanted}, CNI_ARGS ignored`, observed: add.failure}),
        {upstreamDeparture: known !== undefined},
      )
    const ips = toCanonical(add.result).ips.map((i) => i.address.split('/')[0])
    if (ips.includes(other) || !ips.includes(wanted))
      return violation(
        `the result has ${ips.join(', ') || 'no address'}; args.cni.ips (${wanted}) must win over CNI_ARGS IP=${other}`,
        env.evidence({expected: wanted, observed: ips.join(', ')}),
      )
    return pass()
  },
  severity: 'must',
  spec: SPEC.cniArgs,
  title: 'args.cni.ips is honoured and wins over CNI_ARGS IP=',
}
