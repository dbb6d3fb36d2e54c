/**
 * NetworkPolicy → iptables chains, for the pods of one node. Pure: the API objects and the node's name
 * in, the chains and rules out (policy-apply.ts writes them). IPv4 only, like the lab's pod network;
 * IPv6 peers and blocks are left out and reported in `problems`.
 *
 * The semantics are networking.k8s.io/v1's:
 * - policyTypes defaults to Ingress, plus Egress when spec.egress has a rule (the API server's
 *   defaulting);
 * - a pod that any policy of a direction selects is default-deny in that direction, and what is
 *   allowed is the union of what those policies allow;
 * - a rule with no peers allows every peer, with no ports every port; peers are podSelector (the
 *   policy's namespace), namespaceSelector (every pod of those namespaces), both (those pods of those
 *   namespaces) and ipBlock minus its excepts;
 * - a port is TCP unless it says UDP or SCTP, numeric or named, a range with endPort. A named port is
 *   resolved on the pod that receives the traffic: the selected pod for ingress, the peer for egress.
 * - replies of allowed connections pass (conntrack ESTABLISHED,RELATED).
 *
 * Layout (filter table; the names are in docs/architecture.md):
 * - FORWARD jumps to CNIDBG-NP-FORWARD, which returns replies, then sends a selected pod's traffic,
 *   matched by its address and the node-side veth (`-s IP -i cnidbg+` out of the pod, `-d IP -o
 *   cnidbg+` into it), to the pod's chain, CNIDBG-NP-PE-<hash> (egress) or CNIDBG-NP-PI-<hash>
 *   (ingress);
 * - a pod's chain clears the allow mark, jumps to each selecting policy's chain in turn and returns
 *   as soon as one set the mark; its last rule DROPs, with a comment naming the pod and the policies;
 * - a policy's chain, CNIDBG-NP-I-<hash> or CNIDBG-NP-E-<hash>, holds one MARK rule per (peer, port)
 *   of each of its rules, commented "cnidbg-policy NAMESPACE/NAME ingress rule K".
 * The allow mark is a bit, not an ACCEPT, so a packet that policy lets through still meets the rest
 * of FORWARD (a node's own firewall, kube-proxy's rules).
 */
import type {
  V1ContainerPort,
  V1LabelSelector,
  V1NetworkPolicyIngressRule,
  V1Namespace,
  V1NetworkPolicy,
  V1NetworkPolicyPeer,
  V1NetworkPolicyPort,
  V1Pod,
} from '../kube/client.js'
import {type Cidr, contains, formatCIDR, formatIP, networkOf, parseCIDR, parseIP} from '../core/ip.js'
import {ALLOW_MARK, chainName, CLEAR_MARK, type Rule, TOP_CHAIN} from './policy-rules.js'

export type Direction = 'ingress' | 'egress'
type Proto = 'tcp' | 'udp' | 'sctp'

export interface CompileInputs {
  nodeName: string
  policies: readonly V1NetworkPolicy[]
  pods: readonly V1Pod[]
  /** Namespaces with their labels; a pod's namespace missing here has only kubernetes.io/metadata.name. */
  namespaces: readonly V1Namespace[]
  /** The node-side interfaces of pods, as an iptables interface match (default `cnidbg+`). */
  podIfaces?: string
}

export interface PolicySummary {
  /** NAMESPACE/NAME */
  policy: string
  types: Direction[]
  /** Chains by direction, present for each of `types`. */
  chains: Partial<Record<Direction, string>>
  /** Pods of this node it selects (NAMESPACE/NAME). */
  selects: string[]
}

export interface PodSummary {
  pod: string
  ip: string
  /** The policies selecting it, per direction, and the pod's chain for that direction. */
  ingress: {chain: string; policies: string[]} | null
  egress: {chain: string; policies: string[]} | null
}

export interface CompiledPolicies {
  /** Chains in the order to write them (the top chain first), each with its rules. Empty: no policy here. */
  chains: Array<{name: string; rules: Rule[]}>
  policies: PolicySummary[]
  pods: PodSummary[]
  /** Fields that could not be enforced as written (invalid selector, CIDR, port…), and why. */
  problems: string[]
}

// -----------------------------------------------------------------------------------------------
// Validated views of the API objects.

interface PodPort {
  name: string
  port: number
  proto: Proto
}

interface PodInfo {
  key: string
  namespace: string
  labels: Record<string, string>
  ip: string
  local: boolean
  ports: PodPort[]
}

const PROTOS: Record<string, Proto> = {TCP: 'tcp', UDP: 'udp', SCTP: 'sctp'}
/** IANA_SVC_NAME, as the API validates a named port: at most 15, lower-case, a letter, no `--`. */
const PORT_NAME = /^(?=.*[a-z])(?!.*--)[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/

const isPort = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (typeof x === 'string') out[k] = x
  }
  return out
}

function podIPv4(p: V1Pod): string | undefined {
  const podIPs: unknown = p.status?.podIPs
  const candidates = [p.status?.podIP, ...(Array.isArray(podIPs) ? podIPs : []).map((x) => (x as {ip?: unknown})?.ip)]
  for (const c of candidates) {
    const a = typeof c === 'string' ? parseIP(c) : undefined
    if (a?.family === 4) return formatIP(a)
  }
  return undefined
}

function podInfos(pods: readonly V1Pod[], nodeName: string): PodInfo[] {
  const out: PodInfo[] = []
  for (const p of pods) {
    const namespace = p.metadata?.namespace
    const name = p.metadata?.name
    if (typeof namespace !== 'string' || typeof name !== 'string') continue
    // Policies govern pods on the pod network only; a finished pod holds no address any more.
    if (p.spec?.hostNetwork === true) continue
    if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue
    const ip = podIPv4(p)
    if (!ip) continue
    const ports: PodPort[] = []
    const list = (x: unknown): unknown[] => (Array.isArray(x) ? x : [])
    for (const c of [...list(p.spec?.initContainers), ...list(p.spec?.containers)] as Array<{ports?: unknown}>) {
      for (const cp of list(c?.ports) as V1ContainerPort[]) {
        if (typeof cp !== 'object' || cp === null) continue
        const proto = PROTOS[cp.protocol ?? 'TCP']
        if (typeof cp.name === 'string' && PORT_NAME.test(cp.name) && isPort(cp.containerPort) && proto) {
          ports.push({name: cp.name, port: cp.containerPort, proto})
        }
      }
    }
    out.push({
      key: `${namespace}/${name}`,
      namespace,
      labels: stringMap(p.metadata?.labels),
      ip,
      local: p.spec?.nodeName === nodeName,
      ports,
    })
  }
  return out
}

/**
 * Whether a label selector matches. Throws on a selector the API would reject (unknown operator,
 * values where none belong), which the caller turns into a problem.
 */
export function selectorMatches(sel: V1LabelSelector, labels: Record<string, string>): boolean {
  if (typeof sel !== 'object' || sel === null) throw new Error('a selector must be an object')
  if (sel.matchLabels !== undefined && (typeof sel.matchLabels !== 'object' || sel.matchLabels === null)) {
    throw new Error('matchLabels must be an object')
  }
  if (sel.matchExpressions !== undefined && !Array.isArray(sel.matchExpressions)) {
    throw new Error('matchExpressions must be a list')
  }
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    if (typeof v !== 'string') throw new Error(`matchLabels ${k} is not a string`)
    if (labels[k] !== v) return false
  }
  for (const e of sel.matchExpressions ?? []) {
    if (typeof e !== 'object' || e === null || typeof e.key !== 'string') throw new Error('an expression needs a key')
    const values: unknown = e.values ?? []
    if (!Array.isArray(values) || !values.every((v) => typeof v === 'string')) {
      throw new Error(`${e.key}: values must be a list of strings`)
    }
    const has = Object.hasOwn(labels, e.key)
    switch (e.operator) {
      case 'In':
        if (values.length === 0) throw new Error(`${e.key} In needs values`)
        if (!has || !values.includes(labels[e.key]!)) return false
        break
      case 'NotIn':
        if (values.length === 0) throw new Error(`${e.key} NotIn needs values`)
        if (has && values.includes(labels[e.key]!)) return false
        break
      case 'Exists':
        if (values.length > 0) throw new Error(`${e.key} Exists takes no values`)
        if (!has) return false
        break
      case 'DoesNotExist':
        if (values.length > 0) throw new Error(`${e.key} DoesNotExist takes no values`)
        if (has) return false
        break
      default:
        throw new Error(`unknown operator ${JSON.stringify(e.operator)}`)
    }
  }
  return true
}

/** The effective policyTypes, defaulted as the API server does. */
export function policyTypes(p: V1NetworkPolicy): Direction[] {
  const given: unknown = p.spec?.policyTypes
  const egress: unknown = p.spec?.egress
  if (!Array.isArray(given) || given.length === 0) {
    return Array.isArray(egress) && egress.length > 0 ? ['ingress', 'egress'] : ['ingress']
  }
  const out: Direction[] = []
  if (given.includes('Ingress')) out.push('ingress')
  if (given.includes('Egress')) out.push('egress')
  return out
}

/** `outer` minus each of `holes`, as a list of CIDRs (an ipBlock with except). */
export function subtractCidrs(outer: Cidr, holes: readonly Cidr[]): Cidr[] {
  let parts: Cidr[] = [{...outer, value: networkOf(outer)}]
  const bits = outer.family === 4 ? 32 : 128
  for (const h of holes) {
    const hole = {...h, value: networkOf(h)}
    const next: Cidr[] = []
    for (const p of parts) {
      const within = (a: Cidr, b: Cidr) => a.prefix >= b.prefix && networkOf({...a, prefix: b.prefix}) === networkOf(b)
      if (within(p, hole)) continue
      if (!within(hole, p)) {
        next.push(p)
        continue
      }
      // Split p in halves until the hole is one of them; keep every half that is not the hole's.
      let cur = p
      while (cur.prefix < hole.prefix) {
        const prefix = cur.prefix + 1
        const low: Cidr = {family: cur.family, value: cur.value, prefix}
        const high: Cidr = {family: cur.family, value: cur.value | (1n << BigInt(bits - prefix)), prefix}
        if (within(hole, low)) {
          next.push(high)
          cur = low
        } else {
          next.push(low)
          cur = high
        }
      }
    }
    parts = next
  }
  return parts.sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : a.prefix - b.prefix))
}

// -----------------------------------------------------------------------------------------------

interface PortAtom {
  proto: Proto
  /** `80`, `80:90`, or undefined for every port of the protocol. */
  dport?: string
  /** A named port, resolved per receiving pod. */
  named?: string
}

/** A rule's peer set: `any`, or addresses (a pod's /32 or a block's CIDRs), with the pods it holds. */
type PeerSet = {any: true} | {any: false; cidrs: string[]; pods: PodInfo[]}

function portMatch(proto: Proto, dport?: string): string[] {
  return dport ? ['-p', proto, '-m', proto, '--dport', dport] : ['-p', proto]
}

export function compilePolicies(input: CompileInputs): CompiledPolicies {
  const problems: string[] = []
  const ifaces = input.podIfaces ?? 'cnidbg+'
  const pods = podInfos(input.pods, input.nodeName)
  const nsLabels = new Map<string, Record<string, string>>()
  for (const ns of input.namespaces) {
    const name = ns.metadata?.name
    if (typeof name === 'string')
      nsLabels.set(name, {...stringMap(ns.metadata?.labels), 'kubernetes.io/metadata.name': name})
  }
  const labelsOfNs = (name: string) => nsLabels.get(name) ?? {'kubernetes.io/metadata.name': name}

  const policies = [...input.policies]
    .filter((p) => typeof p.metadata?.namespace === 'string' && typeof p.metadata?.name === 'string')
    .sort((a, b) => key(a).localeCompare(key(b)))

  const summaries: PolicySummary[] = []
  const policyChains: Array<{name: string; rules: Rule[]}> = []
  /** pod key → direction → policies (in name order) */
  const selecting = new Map<string, {ingress: string[]; egress: string[]}>()
  const chainOf = new Map<string, string>()

  for (const pol of policies) {
    const pk = key(pol)
    const namespace = pol.metadata!.namespace!
    const types = policyTypes(pol)
    let selected: PodInfo[]
    try {
      const sel = pol.spec?.podSelector ?? {}
      selected = pods.filter((p) => p.local && p.namespace === namespace && selectorMatches(sel, p.labels))
    } catch (error) {
      problems.push(`${pk}: spec.podSelector: ${(error as Error).message}; the policy selects no pod`)
      continue
    }
    const summary: PolicySummary = {policy: pk, types, chains: {}, selects: selected.map((p) => p.key)}
    summaries.push(summary)
    if (selected.length === 0) continue
    for (const dir of types) {
      const chain = chainName(dir === 'ingress' ? 'I' : 'E', pk)
      summary.chains[dir] = chain
      chainOf.set(`${dir}|${pk}`, chain)
      for (const p of selected) {
        const s = selecting.get(p.key) ?? {ingress: [], egress: []}
        s[dir].push(pk)
        selecting.set(p.key, s)
      }
      const rules: Rule[] = []
      const addRule = (k: number, r: V1NetworkPolicyIngressRule, where: string): void => {
        if (typeof r !== 'object' || r === null) throw new Error('a rule must be an object')
        const peersRaw: unknown = (dir === 'ingress' ? ingressPeers(r) : (r as {to?: unknown}).to) ?? []
        const portsRaw: unknown = r.ports ?? []
        if (!Array.isArray(peersRaw) || !Array.isArray(portsRaw)) throw new Error('peers and ports must be lists')
        const peers = peerSet(peersRaw as V1NetworkPolicyPeer[], namespace, pods, labelsOfNs, where, problems)
        const ports = portAtoms(portsRaw as V1NetworkPolicyPort[], where, problems)
        if (ports === undefined) return
        const comment = `cnidbg-policy ${pk} ${dir} rule ${k}`
        const addrFlag = dir === 'ingress' ? '-s' : '-d'
        const mark = ['-j', 'MARK', '--set-xmark', ALLOW_MARK]
        const peerMatches: string[][] = peers.any ? [[]] : peers.cidrs.map((c) => [addrFlag, c])
        for (const port of ports.length > 0 ? ports : [undefined]) {
          if (!port) {
            for (const m of peerMatches) rules.push({match: m, comment, target: mark})
            continue
          }
          if (port.named === undefined) {
            for (const m of peerMatches)
              rules.push({match: [...m, ...portMatch(port.proto, port.dport)], comment, target: mark})
            continue
          }
          if (dir === 'ingress') {
            // The name is looked up in the selected pod that receives the packet.
            for (const p of selected) {
              for (const pp of p.ports.filter((x) => x.name === port.named && x.proto === port.proto)) {
                for (const m of peerMatches) {
                  rules.push({
                    match: [...m, '-d', `${p.ip}/32`, ...portMatch(pp.proto, String(pp.port))],
                    comment,
                    target: mark,
                  })
                }
              }
            }
          } else {
            // The name is looked up in the peer the packet goes to: pods only (a block's pods too).
            const domain = peers.any ? pods : peers.pods
            for (const p of uniqueByIp(domain)) {
              for (const pp of p.ports.filter((x) => x.name === port.named && x.proto === port.proto)) {
                rules.push({
                  match: ['-d', `${p.ip}/32`, ...portMatch(pp.proto, String(pp.port))],
                  comment,
                  target: mark,
                })
              }
            }
          }
        }
      }
      const given: unknown = dir === 'ingress' ? pol.spec?.ingress : pol.spec?.egress
      const list = (Array.isArray(given) ? given : []) as V1NetworkPolicyIngressRule[]
      for (const [k, r] of list.entries()) {
        const where = `${pk} ${dir} rule ${k}`
        const before = rules.length
        try {
          addRule(k, r, where)
        } catch (error) {
          // A malformed rule allows nothing; the pods stay selected, so they stay default-deny.
          rules.length = before
          problems.push(`${where}: ${(error as Error).message}; the rule allows nothing`)
        }
      }
      policyChains.push({name: chain, rules})
    }
  }

  const top: Rule[] = []
  const podChains: Array<{name: string; rules: Rule[]}> = []
  const podSummaries: PodSummary[] = []
  const localSelected = pods.filter((p) => p.local && selecting.has(p.key)).sort((a, b) => a.key.localeCompare(b.key))
  if (localSelected.length > 0) {
    top.push({
      match: ['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED'],
      comment: 'cnidbg-policy replies of allowed connections',
      target: ['-j', 'RETURN'],
    })
  }
  for (const p of localSelected) {
    const s = selecting.get(p.key)!
    const summary: PodSummary = {pod: p.key, ip: p.ip, ingress: null, egress: null}
    for (const dir of ['egress', 'ingress'] as const) {
      const pols = s[dir]
      if (pols.length === 0) continue
      const chain = chainName(dir === 'ingress' ? 'PI' : 'PE', p.key)
      summary[dir] = {chain, policies: pols}
      top.push({
        match: dir === 'ingress' ? ['-d', `${p.ip}/32`, '-o', ifaces] : ['-s', `${p.ip}/32`, '-i', ifaces],
        comment: `cnidbg-policy pod ${p.key} ${dir}`,
        target: ['-j', chain],
      })
      const rules: Rule[] = [
        {
          match: [],
          comment: `cnidbg-policy pod ${p.key} ${dir} start`,
          target: ['-j', 'MARK', '--set-xmark', CLEAR_MARK],
        },
      ]
      for (const pk of pols) {
        rules.push({match: [], comment: `cnidbg-policy ${pk} ${dir}`, target: ['-j', chainOf.get(`${dir}|${pk}`)!]})
        rules.push({
          match: ['-m', 'mark', '--mark', ALLOW_MARK],
          comment: `cnidbg-policy ${pk} ${dir} allowed`,
          target: ['-j', 'RETURN'],
        })
      }
      rules.push({match: [], comment: denyComment(p.key, dir, pols), target: ['-j', 'DROP']})
      podChains.push({name: chain, rules})
    }
    podSummaries.push(summary)
  }
  if (localSelected.length === 0) return {chains: [], policies: summaries, pods: [], problems}
  // Only chains some pod jumps to: a policy selecting no pod of this node has none.
  const used = new Set(podChains.flatMap((c) => c.rules.map((r) => r.target[1]!)))
  return {
    chains: [{name: TOP_CHAIN, rules: top}, ...podChains, ...policyChains.filter((c) => used.has(c.name))],
    policies: summaries,
    pods: podSummaries,
    problems,
  }
}

/**
 * An ingress rule's peers. client-node's model calls the field `_from` (`from` is a reserved word to
 * its generator): objects a list returns were converted to that name, objects a watch event carries
 * are the API's JSON, with `from`. The cache holds both.
 */
function ingressPeers(r: object): V1NetworkPolicyPeer[] | undefined {
  const x = r as {_from?: V1NetworkPolicyPeer[]; from?: V1NetworkPolicyPeer[]}
  return x._from ?? x.from
}

const key = (p: V1NetworkPolicy): string => `${p.metadata!.namespace!}/${p.metadata!.name!}`

/** The default-deny comment names the policies; those that don't fit are counted. */
export function denyComment(pod: string, dir: Direction, policies: readonly string[]): string {
  const head = `cnidbg-policy default-deny ${dir} ${pod} by `
  for (let n = policies.length; n > 0; n--) {
    const text = head + policies.slice(0, n).join(',') + (n < policies.length ? ` +${policies.length - n} more` : '')
    if (Buffer.byteLength(text) <= 255 || n === 1) return text
  }
  return head
}

function uniqueByIp(pods: readonly PodInfo[]): PodInfo[] {
  const seen = new Set<string>()
  return pods.filter((p) => (seen.has(p.ip) ? false : (seen.add(p.ip), true)))
}

function peerSet(
  peers: readonly V1NetworkPolicyPeer[],
  namespace: string,
  pods: readonly PodInfo[],
  labelsOfNs: (ns: string) => Record<string, string>,
  where: string,
  problems: string[],
): PeerSet {
  if (peers.length === 0) return {any: true}
  const cidrs = new Set<string>()
  const members: PodInfo[] = []
  for (const [i, peer] of peers.entries()) {
    const at = `${where} peer ${i}`
    if (peer.ipBlock) {
      if (peer.podSelector || peer.namespaceSelector) {
        problems.push(`${at}: ipBlock with a selector is invalid; the peer matches nothing`)
        continue
      }
      const outer = typeof peer.ipBlock.cidr === 'string' ? parseCIDR(peer.ipBlock.cidr) : undefined
      if (!outer) {
        problems.push(
          `${at}: ipBlock.cidr ${JSON.stringify(peer.ipBlock.cidr)} is not a CIDR; the peer matches nothing`,
        )
        continue
      }
      if (outer.family !== 4) {
        problems.push(`${at}: IPv6 ipBlock ${formatCIDR(outer)} is not enforced (IPv4 only)`)
        continue
      }
      const holes: Cidr[] = []
      let bad = false
      for (const e of peer.ipBlock.except ?? []) {
        const h = typeof e === 'string' ? parseCIDR(e) : undefined
        if (!h || h.family !== 4) {
          // Leaving out a hole would allow what the policy excepts: drop the whole block instead.
          problems.push(`${at}: except ${JSON.stringify(e)} is not an IPv4 CIDR; the peer matches nothing`)
          bad = true
        } else holes.push(h)
      }
      if (bad) continue
      const parts = subtractCidrs(outer, holes)
      for (const c of parts) cidrs.add(formatCIDR(c))
      members.push(...pods.filter((p) => parts.some((c) => contains(c, parseIP(p.ip)!))))
      continue
    }
    if (!peer.podSelector && !peer.namespaceSelector) {
      problems.push(`${at}: a peer needs podSelector, namespaceSelector or ipBlock; the peer matches nothing`)
      continue
    }
    try {
      let inNs: (p: PodInfo) => boolean
      if (peer.namespaceSelector) {
        const nsSel = peer.namespaceSelector
        inNs = (p) => selectorMatches(nsSel, labelsOfNs(p.namespace))
      } else {
        inNs = (p) => p.namespace === namespace
      }
      const podSel = peer.podSelector ?? {}
      const matched = pods.filter((p) => inNs(p) && selectorMatches(podSel, p.labels))
      members.push(...matched)
      for (const p of matched) cidrs.add(`${p.ip}/32`)
    } catch (error) {
      problems.push(`${at}: ${(error as Error).message}; the peer matches nothing`)
    }
  }
  return {any: false, cidrs: [...cidrs], pods: members}
}

function portAtoms(
  ports: ReadonlyArray<{port?: number | string; endPort?: number; protocol?: string}>,
  where: string,
  problems: string[],
): PortAtom[] | undefined {
  const out: PortAtom[] = []
  for (const [i, p] of ports.entries()) {
    const at = `${where} port ${i}`
    const proto = PROTOS[p.protocol ?? 'TCP']
    if (!proto) {
      problems.push(`${at}: protocol ${JSON.stringify(p.protocol)} is not TCP, UDP or SCTP; the port is left out`)
      continue
    }
    if (p.port === undefined || p.port === null) {
      if (p.endPort !== undefined && p.endPort !== null)
        problems.push(`${at}: endPort without port; the port is left out`)
      else out.push({proto})
      continue
    }
    if (typeof p.port === 'string') {
      if (!PORT_NAME.test(p.port)) {
        problems.push(`${at}: ${JSON.stringify(p.port)} is not a port name; the port is left out`)
        continue
      }
      if (p.endPort !== undefined && p.endPort !== null) {
        problems.push(`${at}: endPort with a named port is invalid; the port is left out`)
        continue
      }
      out.push({proto, named: p.port})
      continue
    }
    if (!isPort(p.port)) {
      problems.push(`${at}: port ${JSON.stringify(p.port)} is not 1-65535; the port is left out`)
      continue
    }
    if (p.endPort !== undefined && p.endPort !== null) {
      if (!isPort(p.endPort) || p.endPort < p.port) {
        problems.push(`${at}: endPort ${JSON.stringify(p.endPort)} is not ${p.port}-65535; the port is left out`)
        continue
      }
      out.push({proto, dport: p.endPort === p.port ? String(p.port) : `${p.port}:${p.endPort}`})
      continue
    }
    out.push({proto, dport: String(p.port)})
  }
  // Every port of a rule left out: the rule allows nothing, not everything.
  if (ports.length > 0 && out.length === 0) return undefined
  return out
}
