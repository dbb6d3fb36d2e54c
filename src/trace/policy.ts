/**
 * policy-denied from live counters: when the static walk could not tell (a rule it does not model
 * stood before the policy chains), the DROP counter of a NetworkPolicy chain that moved while the
 * probe was re-sent names the policy all the same (netfilter-objects.ts maps it).
 */
import type {IptablesRuleset, NfPacket} from '../kernel/netfilter.js'
import {policyHint, policyOfDrop, policyRuleOfDelta} from './netfilter-objects.js'
import {faultAt, type TraceFault, type TraceHop} from './types.js'

/**
 * The fault for the first delta line (`<namespace label> filter -A CNIDBG-NP-… -j DROP: +N packets`)
 * of a policy chain, placed on that namespace's filter hop in the probe's direction; undefined when
 * no policy DROP counted the probe.
 */
export function policyFaultFromDeltas(
  deltas: readonly string[],
  hops: readonly TraceHop[],
  iptOf: (label: string) => IptablesRuleset | undefined,
  pkt: Pick<NfPacket, 'src' | 'dst' | 'proto' | 'dport'>,
  direction: 'forward' | 'return',
  evidence: readonly string[],
): TraceFault | undefined {
  for (const line of deltas) {
    const ref = policyRuleOfDelta(line)
    if (!ref) continue
    const label = line.slice(0, line.indexOf(' filter -A '))
    const hop =
      hops.find((h) => h.stage === 'filter' && h.netns === label && h.direction === direction) ??
      hops.find((h) => h.stage === 'filter' && h.netns === label)
    if (!hop) continue
    const drop = policyOfDrop(iptOf(label), ref)
    if (!drop) continue
    return faultAt(hop, {
      reason: 'policy-denied',
      evidence: [...drop.evidence, ...evidence],
      hint: policyHint(drop, pkt),
      policy: drop.policies[0],
    })
  }
  return undefined
}
