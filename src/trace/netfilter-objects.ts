/**
 * Netfilter rules mapped back to the Kubernetes objects that made them. A drop trace finds is a rule
 * in some chain; when that chain is one a controller owns, the object it was written for is what a
 * user changes, not the rule (the controller would put it back). Pure.
 *
 * Services: kube-proxy names its per-Service chains by a hash (KUBE-SVC-…, KUBE-SEP-…) and writes the
 * Service in the rules' comments: `ns/name:port cluster IP` in KUBE-SERVICES, `ns/name:port ->
 * ip:port` in KUBE-SVC-…, `ns/name:port` in KUBE-SEP-…, and `ns/name:port has no endpoints` on the
 * filter table's REJECT (src/service-proxy/rules.ts writes the same). A rule without such a comment
 * (KUBE-FORWARD's INVALID drop) is mapped through the comment of a rule that jumps to its chain, when
 * the ruleset is given.
 *
 * NetworkPolicy: the node daemon's chains (src/daemon/policy-compile.ts, the layout in
 * docs/architecture.md). Trace may not import the daemon, so the few words of that layout it reads
 * are repeated here; test/trace/netfilter-objects.ts holds them to what the daemon's compiler writes.
 * - Every chain is CNIDBG-NP-…; a pod's chain (PI ingress, PE egress) jumps to the chain of each
 *   policy selecting it, commented "cnidbg-policy NAMESPACE/NAME DIRECTION", and ends in a DROP
 *   commented "cnidbg-policy default-deny DIRECTION POD by P1,P2[ +N more]".
 * - A policy's chain (I, E) holds one MARK rule per allowed (peer, port), commented
 *   "cnidbg-policy NAMESPACE/NAME DIRECTION rule K".
 * So a packet dropped there was allowed by none of the policies the pod chain names.
 */
import {describeRule, tokenize, type IptablesRuleset, type NfPacket, type NfRuleRef} from '../kernel/netfilter.js'
import {shellWord} from '../core/quote.js'
import type {TraceFault} from './types.js'

// --- Services

export interface ServiceRef {
  namespace: string
  name: string
  /** The port's name, when the comment names one. */
  port?: string
}

/** Kubernetes names: DNS labels and subdomains (lower case, digits, '-' and '.'). */
const SERVICE_COMMENT = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)(?::(\S+))?(?:\s|$)/

/** The Service a kube-proxy comment names, if it names one. */
export function serviceOfComment(comment: string): ServiceRef | undefined {
  const m = SERVICE_COMMENT.exec(comment)
  if (!m) return undefined
  return {namespace: m[1]!, name: m[3]!, ...(m[5] ? {port: m[5]} : {})}
}

/** `-A CHAIN … --comment "…" …` (an iptables-save rule, possibly behind a prefix): its chain and comment. */
function chainAndComment(line: string): {chain: string; comment?: string} | undefined {
  const at = line.indexOf('-A ')
  if (at < 0) return undefined
  const words = tokenize(line.slice(at))
  const chain = words[1]
  if (!chain) return undefined
  const c = words.indexOf('--comment')
  return {chain, ...(c > 0 && words[c + 1] !== undefined ? {comment: words[c + 1]} : {})}
}

/**
 * The Service behind a rule of a KUBE-* chain: its own comment, else (with the ruleset) the comment
 * of a rule of the same table that jumps to its chain. Rules of other chains map to nothing.
 */
export function serviceOfRule(line: string, rs?: IptablesRuleset, table = 'nat'): ServiceRef | undefined {
  const r = chainAndComment(line)
  if (!r || !r.chain.startsWith('KUBE-')) return undefined
  const own = r.comment ? serviceOfComment(r.comment) : undefined
  if (own || !rs) return own
  for (const rules of rs.tables.get(table)?.rules.values() ?? []) {
    for (const x of rules) {
      const j = x.tokens.indexOf('-j')
      if (j < 0 || x.tokens[j + 1] !== r.chain) continue
      const c = x.tokens.indexOf('--comment')
      const svc = c > 0 ? serviceOfComment(x.tokens[c + 1] ?? '') : undefined
      if (svc) return svc
    }
  }
  return undefined
}

/** The first Service named by a rule in these evidence lines (`iptables -t filter: -A KUBE-… [n pkts]`). */
export function serviceOfEvidence(lines: readonly string[]): ServiceRef | undefined {
  for (const l of lines) {
    const table = /iptables -t (\w+):/.exec(l)?.[1]
    const s = serviceOfRule(l, undefined, table)
    if (s) return s
  }
  return undefined
}

export function serviceName(s: ServiceRef): string {
  return `${s.namespace}/${s.name}`
}

/** A fault whose evidence is a rule of a KUBE-* chain names that rule's Service (`fault.service`). */
export function withNetfilterObject(f: TraceFault): TraceFault {
  if (f.service) return f
  const svc = serviceOfEvidence(f.evidence)
  return svc ? {...f, service: serviceName(svc)} : f
}

// --- NetworkPolicies

/** The daemon's chain prefix (policy-rules.ts CHAIN_PREFIX). */
export const POLICY_CHAIN_PREFIX = 'CNIDBG-NP-'

export type PolicyDirection = 'ingress' | 'egress'

/** A drop in a NetworkPolicy chain, mapped back to the policies. */
export interface PolicyDrop {
  direction: PolicyDirection
  /** NAMESPACE/NAME of the pod the chain guards (the destination for ingress, the source for egress). */
  pod: string
  /** NAMESPACE/NAME of every policy selecting that pod in that direction, in the chain's order. */
  policies: string[]
  /** The DROP rule with its counters, then one line per policy: its chain and what it allows. */
  evidence: string[]
}

/** The comment of a rule as iptables-save printed it, decoded as the daemon encodes it. */
function commentOf(ruleText: string): string | undefined {
  const words = tokenize(ruleText)
  const i = words.indexOf('--comment')
  const raw = i >= 0 ? words[i + 1] : undefined
  if (raw === undefined) return undefined
  try {
    return decodeURIComponent(raw)
  } catch {
    return raw
  }
}

function targetOf(ruleText: string): string | undefined {
  const words = tokenize(ruleText)
  const i = words.lastIndexOf('-j')
  return i >= 0 ? words[i + 1] : undefined
}

/** Whether a rule found by the evaluator (or a counter line) sits in a NetworkPolicy chain. */
export function isPolicyChain(chain: string): boolean {
  return chain.startsWith(POLICY_CHAIN_PREFIX)
}

/**
 * The NetworkPolicies behind a drop in one of the daemon's chains, or undefined for any other rule.
 * `ipt` is the node's filter table (iptables-save -c) the rule was read from: the pod chain's jumps
 * give every selecting policy (the DROP's comment may have had to cut the list), the policy chains
 * what each allows.
 */
export function policyOfDrop(ipt: IptablesRuleset | undefined, by: NfRuleRef): PolicyDrop | undefined {
  if (by.source !== 'iptables' || by.table !== 'filter' || !isPolicyChain(by.chain)) return undefined
  const filter = ipt?.tables.get('filter')
  const comment = commentOf(by.rule) ?? ''
  const m = /^cnidbg-policy default-deny (ingress|egress) (\S+) by (.*)$/.exec(comment)
  const chainRules = filter?.rules.get(by.chain) ?? []
  const jumps: Array<{policy: string; chain: string}> = []
  let direction = m?.[1] as PolicyDirection | undefined
  for (const r of chainRules) {
    const c = commentOf(r.text)
    const target = targetOf(r.text)
    const j = c && /^cnidbg-policy (\S+\/\S+) (ingress|egress)$/.exec(c)
    if (!j || !target || !isPolicyChain(target)) continue
    jumps.push({policy: j[1]!, chain: target})
    direction ??= j[2] as PolicyDirection
  }
  const named = m
    ? m[3]!
        .replace(/ \+\d+ more$/, '')
        .split(',')
        .filter(Boolean)
    : []
  const policies = jumps.length ? jumps.map((j) => j.policy) : named
  if (!direction || policies.length === 0) return undefined
  const evidence = [describeRule(by)]
  for (const j of jumps) {
    const allows = (filter?.rules.get(j.chain) ?? []).filter((r) => targetOf(r.text) === 'MARK')
    const counted = allows.reduce((n, r) => n + (r.packets ?? 0), 0)
    evidence.push(
      allows.length === 0
        ? `NetworkPolicy ${j.policy}: chain ${j.chain} allows no ${direction} at all`
        : `NetworkPolicy ${j.policy}: chain ${j.chain} has ${allows.length} allow rule${allows.length === 1 ? '' : 's'} (${counted} packets matched so far), none for this packet: ${allows
            .slice(0, 3)
            .map((r) => r.text.replace(/ -m comment --comment ("[^"]*"|\S+)/, '').replace(/ -j MARK .*$/, ''))
            .join(' | ')}${allows.length > 3 ? ' | …' : ''}`,
    )
  }
  return {direction, pod: m?.[2] ?? podOfChain(chainRules) ?? '?', policies, evidence}
}

/** The pod a pod chain guards, from its first rule's comment ("cnidbg-policy pod NS/NAME DIR start"). */
function podOfChain(rules: ReadonlyArray<{text: string}>): string | undefined {
  for (const r of rules) {
    const c = commentOf(r.text)
    const m = c && /^cnidbg-policy pod (\S+) (ingress|egress) start$/.exec(c)
    if (m) return m[1]
  }
  return undefined
}

/**
 * The rule behind a counter delta line (`<label> filter -A CHAIN …: +N packets`, observe.ts) when it
 * is a DROP of a NetworkPolicy chain, as the evaluator would have named it.
 */
export function policyRuleOfDelta(line: string): NfRuleRef | undefined {
  const m = / filter (-A (CNIDBG-NP-\S+) .*-j DROP): \+(\d+) packets$/.exec(line)
  if (!m) return undefined
  return {source: 'iptables', family: 'ip', table: 'filter', chain: m[2]!, rule: m[1]!, kind: 'rule', target: 'DROP'}
}

/** `kubectl -n NS VERB networkpolicy NAME` for a NAMESPACE/NAME. */
function kubectlPolicy(verb: string, policy: string): string {
  const slash = policy.indexOf('/')
  // The names come from a rule comment on the node: printed for a person to paste, so quoted when odd.
  return `kubectl -n ${shellWord(policy.slice(0, slash))} ${verb} networkpolicy ${shellWord(policy.slice(slash + 1))}`
}

/**
 * What to change: a rule in one of the policies that admits the peer, or the policy removed; the
 * policies themselves, to read what they allow.
 */
export function policyHint(drop: PolicyDrop, pkt: Pick<NfPacket, 'src' | 'dst' | 'proto' | 'dport'>): string {
  const first = drop.policies[0]!
  const peer = drop.direction === 'ingress' ? `from ${pkt.src}` : `to ${pkt.dst}`
  const what = `${pkt.proto}${pkt.dport !== undefined ? ` port ${pkt.dport}` : ''}`
  const rule =
    drop.direction === 'ingress' ? 'an ingress rule (from: a podSelector' : 'an egress rule (to: a podSelector'
  const named =
    drop.policies.length === 1
      ? `NetworkPolicy ${first} selects ${drop.pod} and allows no ${drop.direction} ${peer} (${what})`
      : `none of the NetworkPolicies selecting ${drop.pod} (${drop.policies.join(', ')}) allows ${drop.direction} ${peer} (${what})`
  return (
    `${named}: add ${rule}, namespaceSelector or ipBlock that matches it, and the port) with ` +
    `${kubectlPolicy('edit', first)}, or remove the policy with ${kubectlPolicy('delete', first)}; ` +
    `what ${drop.policies.length === 1 ? 'it allows' : 'they allow'}: ${drop.policies.map((p) => kubectlPolicy('describe', p)).join('; ')}`
  )
}
