/**
 * The Kubernetes object behind a netfilter rule. kube-proxy names its per-Service chains by a hash
 * (KUBE-SVC-…, KUBE-SEP-…) and writes the Service in the rules' comments: `ns/name:port cluster IP`
 * in KUBE-SERVICES, `ns/name:port -> ip:port` in KUBE-SVC-…, `ns/name:port` in KUBE-SEP-…, and
 * `ns/name:port has no endpoints` on the filter table's REJECT (src/service-proxy/rules.ts writes the
 * same). A drop in a KUBE-* chain is mapped back to its Service here; a rule without such a comment
 * (KUBE-FORWARD's INVALID drop) is mapped through the comment of a rule that jumps to its chain, when
 * the ruleset is given. Pure.
 */
import {tokenize, type IptablesRuleset} from '../kernel/netfilter.js'
import type {TraceFault} from './types.js'

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
