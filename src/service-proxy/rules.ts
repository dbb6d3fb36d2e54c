/**
 * The rules of kube-proxy's iptables mode for ClusterIP Services, as data (restore.ts renders them).
 * The layout, chain names and comments are kube-proxy's (pkg/proxy/iptables/proxier.go), so that
 * what cnidbg reads on a lab node is what it would read on a cluster's node:
 *
 * nat:  PREROUTING, OUTPUT  → KUBE-SERVICES   ("kubernetes service portals")
 *       KUBE-SERVICES       → KUBE-SVC-<hash> per service port with endpoints ("ns/svc:port cluster IP")
 *       KUBE-SVC-<hash>     → KUBE-MARK-MASQ for sources outside the cluster CIDR, then one rule per
 *                              endpoint, "-m statistic --mode random --probability 1/(n-i)" on all
 *                              but the last ("ns/svc:port -> ip:port")
 *       KUBE-SEP-<hash>     → KUBE-MARK-MASQ for the endpoint itself (hairpin), then DNAT to ip:port
 *       KUBE-MARK-MASQ      sets mark 0x4000; POSTROUTING → KUBE-POSTROUTING masquerades marked packets
 * filter: FORWARD, OUTPUT (new connections) → KUBE-SERVICES, which REJECTs a service port with no
 *       endpoints ("ns/svc:port has no endpoints").
 *
 * Chain names: "KUBE-SVC-" + the first 16 characters of base32(sha256(servicePortName + protocol)),
 * "KUBE-SEP-" + the same of sha256(servicePortName + protocol + "ip:port"), where servicePortName is
 * "ns/svc:port" (or "ns/svc" for an unnamed port) and protocol is lower case.
 *
 * Left out, because the lab serves ClusterIP Services only: NodePorts (KUBE-NODEPORTS), external and
 * load-balancer IPs (KUBE-EXT-, KUBE-FW-), traffic policies (KUBE-SVL-), and KUBE-FORWARD.
 */
import {createHash} from 'node:crypto'

import {servicePortName, type ProxyModel, type ServicePort} from './model.js'
import type {RestoreTable} from './restore.js'

export const MASQ_MARK = '0x4000'
export const SVC_PREFIX = 'KUBE-SVC-'
export const SEP_PREFIX = 'KUBE-SEP-'

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** RFC 4648 base32 (standard alphabet), without padding. */
export function base32(bytes: Uint8Array): string {
  let out = ''
  let acc = 0
  let bits = 0
  for (const b of bytes) {
    acc = (acc << 8) | b
    bits += 8
    while (bits >= 5) {
      out += B32[(acc >>> (bits - 5)) & 31]
      bits -= 5
    }
    acc &= (1 << bits) - 1
  }
  if (bits > 0) out += B32[(acc << (5 - bits)) & 31]
  return out
}

const hash16 = (s: string) => base32(createHash('sha256').update(s).digest()).slice(0, 16)

export function serviceChain(p: ServicePort): string {
  return SVC_PREFIX + hash16(servicePortName(p) + p.protocol)
}

export function endpointChain(p: ServicePort, ep: {ip: string; port: number}): string {
  return SEP_PREFIX + hash16(`${servicePortName(p)}${p.protocol}${ep.ip}:${ep.port}`)
}

/** kube-proxy's probability word: 1/n with 10 decimals. */
export function probability(n: number): string {
  return (1 / n).toFixed(10)
}

/** What the node holds now, from iptables-save (see parseExisting). */
export interface Existing {
  /** Chains per table. */
  chains: {filter: Set<string>; nat: Set<string>}
  /** "table chain target" of every rule that jumps somewhere. */
  jumps: Set<string>
}

export interface RuleOptions {
  /** The pod network; sources outside it are masqueraded (kube-proxy's --cluster-cidr). */
  clusterCidr: string
}

/** The chains every sync declares (and so flushes). */
const FILTER_CHAINS = ['KUBE-SERVICES']
const NAT_CHAINS = ['KUBE-SERVICES', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ']

/** kube-proxy's jump rules from the built-in chains, inserted first when missing. */
const JUMPS: {table: 'filter' | 'nat'; chain: string; target: string; words: string[]}[] = [
  {
    table: 'filter',
    chain: 'FORWARD',
    target: 'KUBE-SERVICES',
    words: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes service portals'],
  },
  {
    table: 'filter',
    chain: 'OUTPUT',
    target: 'KUBE-SERVICES',
    words: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes service portals'],
  },
  {
    table: 'nat',
    chain: 'OUTPUT',
    target: 'KUBE-SERVICES',
    words: ['-m', 'comment', '--comment', 'kubernetes service portals'],
  },
  {
    table: 'nat',
    chain: 'PREROUTING',
    target: 'KUBE-SERVICES',
    words: ['-m', 'comment', '--comment', 'kubernetes service portals'],
  },
  {
    table: 'nat',
    chain: 'POSTROUTING',
    target: 'KUBE-POSTROUTING',
    words: ['-m', 'comment', '--comment', 'kubernetes postrouting rules'],
  },
]

/**
 * The restore that makes a node's rules those of `model`, given what it holds (`existing`): our
 * chains declared and refilled, missing jumps inserted, and KUBE-SVC-/KUBE-SEP- chains no Service
 * needs any more removed. Pure; the same model and state give the same text.
 */
export function buildRules(model: ProxyModel, opts: RuleOptions, existing?: Existing): RestoreTable[] {
  const filter: RestoreTable = {name: 'filter', chains: [...FILTER_CHAINS], rules: []}
  const nat: RestoreTable = {name: 'nat', chains: [...NAT_CHAINS], rules: []}
  for (const j of JUMPS) {
    if (existing?.jumps.has(`${j.table} ${j.chain} ${j.target}`)) continue
    ;(j.table === 'filter' ? filter : nat).rules.push(['-I', j.chain, ...j.words, '-j', j.target])
  }
  nat.rules.push(
    ['-A', 'KUBE-POSTROUTING', '-m', 'mark', '!', '--mark', `${MASQ_MARK}/${MASQ_MARK}`, '-j', 'RETURN'],
    // Cleared, so that a packet that goes through the stack again is not masqueraded twice.
    ['-A', 'KUBE-POSTROUTING', '-j', 'MARK', '--xor-mark', MASQ_MARK],
    [
      '-A',
      'KUBE-POSTROUTING',
      '-m',
      'comment',
      '--comment',
      'kubernetes service traffic requiring SNAT',
      '-j',
      'MASQUERADE',
      '--random-fully',
    ],
    ['-A', 'KUBE-MARK-MASQ', '-j', 'MARK', '--or-mark', MASQ_MARK],
  )
  const wanted = new Set<string>()
  for (const p of model.ports) {
    const name = servicePortName(p)
    const match = ['-m', p.protocol, '-p', p.protocol, '-d', p.clusterIP, '--dport', String(p.port)]
    if (p.endpoints.length === 0) {
      filter.rules.push([
        '-A',
        'KUBE-SERVICES',
        '-m',
        'comment',
        '--comment',
        `${name} has no endpoints`,
        ...match,
        '-j',
        'REJECT',
      ])
      continue
    }
    const svc = serviceChain(p)
    wanted.add(svc)
    nat.chains.push(svc)
    nat.rules.push(['-A', 'KUBE-SERVICES', '-m', 'comment', '--comment', `${name} cluster IP`, ...match, '-j', svc])
    nat.rules.push([
      '-A',
      svc,
      '-m',
      'comment',
      '--comment',
      `${name} cluster IP`,
      ...match,
      '!',
      '-s',
      opts.clusterCidr,
      '-j',
      'KUBE-MARK-MASQ',
    ])
    const seps = p.endpoints.map((ep) => ({ep, chain: endpointChain(p, ep)}))
    if (p.affinitySeconds !== undefined) {
      for (const {ep, chain} of seps) {
        nat.rules.push([
          '-A',
          svc,
          '-m',
          'comment',
          '--comment',
          `${name} -> ${ep.ip}:${ep.port}`,
          '-m',
          'recent',
          '--name',
          chain,
          '--rcheck',
          '--seconds',
          String(p.affinitySeconds),
          '--reap',
          '-j',
          chain,
        ])
      }
    }
    seps.forEach(({ep, chain}, i) => {
      const pick =
        i < seps.length - 1
          ? ['-m', 'statistic', '--mode', 'random', '--probability', probability(seps.length - i)]
          : []
      nat.rules.push(['-A', svc, '-m', 'comment', '--comment', `${name} -> ${ep.ip}:${ep.port}`, ...pick, '-j', chain])
    })
    for (const {ep, chain} of seps) {
      wanted.add(chain)
      nat.chains.push(chain)
      nat.rules.push(['-A', chain, '-m', 'comment', '--comment', name, '-s', ep.ip, '-j', 'KUBE-MARK-MASQ'])
      const sticky = p.affinitySeconds !== undefined ? ['-m', 'recent', '--name', chain, '--set'] : []
      nat.rules.push([
        '-A',
        chain,
        '-m',
        'comment',
        '--comment',
        name,
        ...sticky,
        '-m',
        p.protocol,
        '-p',
        p.protocol,
        '-j',
        'DNAT',
        '--to-destination',
        `${ep.ip}:${ep.port}`,
      ])
    }
  }
  // Chains of Services or endpoints that are gone: declared (which flushes them), then deleted, after
  // every rule that jumped to them has been replaced above.
  for (const c of [...(existing?.chains.nat ?? [])].sort()) {
    if ((c.startsWith(SVC_PREFIX) || c.startsWith(SEP_PREFIX)) && !wanted.has(c)) {
      nat.chains.push(c)
      nat.rules.push(['-X', c])
    }
  }
  return [filter, nat]
}

/** The chains and jumps of an `iptables-save` text. */
export function parseExisting(save: string): Existing {
  const ex: Existing = {chains: {filter: new Set(), nat: new Set()}, jumps: new Set()}
  let table = ''
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1).trim()
    else if (line.startsWith(':') && (table === 'filter' || table === 'nat')) {
      ex.chains[table].add(line.slice(1).split(' ')[0])
    } else if (line.startsWith('-A ')) {
      const words = line.split(/\s+/)
      const j = words.indexOf('-j')
      if (j > 0 && words[j + 1]) ex.jumps.add(`${table} ${words[1]} ${words[j + 1]}`)
    }
  }
  return ex
}
