/**
 * A small netfilter evaluator: which verdict would the ruleset give the probe packet? It reads
 * `iptables-save -c` (with counters) and `nft -j list ruleset`, and walks the chains a packet takes
 * at one hook point. It understands the matches CNI plugins and kube-proxy use for pod traffic
 * (addresses, interfaces with `+`/`*` wildcards, protocol, ports, multiport, conntrack state,
 * icmp type, mark, and the MARK target that sets it: a packet starts with mark 0); anything else
 * makes a rule "uncertain": it is skipped, but a DROP behind an uncertain match is reported so live
 * counters can confirm it.
 */
import {isIPv4, prefixContains} from '../core/ip.js'
import {shellWord} from '../core/quote.js'

export type NfProto = 'icmp' | 'tcp' | 'udp'
export type NfHook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting'

export interface NfPacket {
  src: string
  dst: string
  proto: NfProto
  sport?: number
  dport?: number
  iif?: string
  oif?: string
  /** Conntrack state of this packet: the first packet of a probe is NEW, replies ESTABLISHED. */
  ctstate: 'NEW' | 'ESTABLISHED'
  /** ICMP type number (8 echo request, 0 echo reply). */
  icmpType?: number
  /** TCP flags of the packet (SYN for a NEW connection, SYN,ACK for its reply). */
  tcpFlags?: string[]
  /** The packet's mark (skb->mark); 0 when absent. MARK rules the walk passes change it. */
  mark?: number
}

export interface NfRuleRef {
  source: 'iptables' | 'nft'
  family: string
  table: string
  chain: string
  /** The rule as the tool prints it (iptables-save line without counters, or an nft summary). */
  rule: string
  packets?: number
  bytes?: number
  /** nft rule handle. */
  handle?: number
  /** 'policy' when the chain policy decided. */
  kind: 'rule' | 'policy'
  target: string
}

export interface NfVerdict {
  verdict: 'accept' | 'drop'
  /** The rule (or policy) that dropped, or undefined for accept. */
  by?: NfRuleRef
  /** DROP/REJECT rules that might have matched but use matches we don't evaluate. */
  uncertain: NfRuleRef[]
}

// ---------------------------------------------------------------------------------------------
// iptables-save

interface IptRule {
  table: string
  chain: string
  text: string
  tokens: string[]
  packets?: number
  bytes?: number
}

export interface IptablesRuleset {
  tables: Map<string, {policies: Map<string, string>; rules: Map<string, IptRule[]>}>
}

/** Splits an iptables-save line into words, keeping "quoted strings" whole. */
export function tokenize(line: string): string[] {
  const out: string[] = []
  let cur = ''
  let quoted = false
  let has = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quoted) {
      if (c === '\\' && i + 1 < line.length) {
        cur += line[++i]
      } else if (c === '"') {
        quoted = false
      } else {
        cur += c
      }
    } else if (c === '"') {
      quoted = true
      has = true
    } else if (c === ' ' || c === '\t') {
      if (has || cur) out.push(cur)
      cur = ''
      has = false
    } else {
      cur += c
      has = true
    }
  }
  if (has || cur) out.push(cur)
  return out
}

export function parseIptablesSave(text: string): IptablesRuleset {
  const tables: IptablesRuleset['tables'] = new Map()
  let table: string | undefined
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    if (line.startsWith('*')) {
      table = line.slice(1)
      if (!tables.has(table)) tables.set(table, {policies: new Map(), rules: new Map()})
      continue
    }
    if (!table || line === 'COMMIT') continue
    const t = tables.get(table)!
    if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/)
      if (name) {
        t.policies.set(name, policy ?? '-')
        if (!t.rules.has(name)) t.rules.set(name, [])
      }
      continue
    }
    let rest = line
    let packets: number | undefined
    let bytes: number | undefined
    const cm = /^\[(\d+):(\d+)\]\s+/.exec(rest)
    if (cm) {
      packets = Number(cm[1])
      bytes = Number(cm[2])
      rest = rest.slice(cm[0].length)
    }
    const tokens = tokenize(rest)
    if (tokens[0] !== '-A' || !tokens[1]) continue
    const chain = tokens[1]
    if (!t.rules.has(chain)) t.rules.set(chain, [])
    t.rules.get(chain)!.push({table, chain, text: rest, tokens: tokens.slice(2), packets, bytes})
  }
  return {tables}
}

const IPT_HOOK_CHAINS: Record<NfHook, Array<[string, string]>> = {
  prerouting: [
    ['raw', 'PREROUTING'],
    ['mangle', 'PREROUTING'],
  ],
  input: [
    ['mangle', 'INPUT'],
    ['filter', 'INPUT'],
    ['security', 'INPUT'],
  ],
  forward: [
    ['mangle', 'FORWARD'],
    ['filter', 'FORWARD'],
    ['security', 'FORWARD'],
  ],
  output: [
    ['raw', 'OUTPUT'],
    ['mangle', 'OUTPUT'],
    ['filter', 'OUTPUT'],
    ['security', 'OUTPUT'],
  ],
  postrouting: [['mangle', 'POSTROUTING']],
}

const PROTO_NUM: Record<string, number> = {icmp: 1, tcp: 6, udp: 17}

function ifaceMatches(pattern: string, name: string | undefined): boolean {
  if (name === undefined) return false
  if (pattern.endsWith('+') || pattern.endsWith('*')) return name.startsWith(pattern.slice(0, -1))
  return pattern === name
}

function addrMatches(list: string, ip: string): boolean {
  return list.split(',').some((c) => prefixContains(c, ip))
}

function portMatches(spec: string, port: number | undefined): boolean {
  if (port === undefined) return false
  return spec.split(',').some((p) => {
    const [lo, hi] = p.split(':')
    const a = lo === '' || lo === undefined ? 0 : Number(lo)
    const b = hi === undefined ? a : hi === '' ? 65535 : Number(hi)
    return port >= a && port <= b
  })
}

function protoMatches(p: string, proto: NfProto): boolean {
  const v = p.toLowerCase()
  if (v === 'all' || v === '0') return true
  return v === proto || Number(v) === PROTO_NUM[proto]
}

const ICMP_TYPES: Record<string, number> = {
  'echo-reply': 0,
  pong: 0,
  'destination-unreachable': 3,
  'echo-request': 8,
  ping: 8,
  'time-exceeded': 11,
  any: -1,
}

type MatchResult = 'match' | 'nomatch' | 'uncertain'

/** Evaluates the match part of one iptables rule. */
function iptMatch(tokens: string[], pkt: NfPacket): {result: MatchResult; target?: string; targetArgs: string[]} {
  let result: MatchResult = 'match'
  const fail = () => {
    result = 'nomatch'
  }
  const unsure = () => {
    if (result === 'match') result = 'uncertain'
  }
  let i = 0
  let neg = false
  let target: string | undefined
  let targetArgs: string[] = []
  const apply = (ok: boolean) => {
    if (ok === neg) fail()
    neg = false
  }
  while (i < tokens.length) {
    const t = tokens[i]!
    if (t === '!') {
      neg = true
      i++
      continue
    }
    const val = tokens[i + 1]
    switch (t) {
      case '-s':
      case '--source':
        apply(addrMatches(val ?? '', pkt.src))
        i += 2
        continue
      case '-d':
      case '--destination':
        apply(addrMatches(val ?? '', pkt.dst))
        i += 2
        continue
      case '-i':
      case '--in-interface':
        apply(ifaceMatches(val ?? '', pkt.iif))
        i += 2
        continue
      case '-o':
      case '--out-interface':
        apply(ifaceMatches(val ?? '', pkt.oif))
        i += 2
        continue
      case '-p':
      case '--protocol':
        apply(protoMatches(val ?? '', pkt.proto))
        i += 2
        continue
      case '-m':
      case '--match':
        i += 2
        neg = false
        continue
      case '--dport':
      case '--destination-port':
      case '--dports':
      case '--destination-ports':
        apply(portMatches(val ?? '', pkt.dport))
        i += 2
        continue
      case '--sport':
      case '--source-port':
      case '--sports':
      case '--source-ports':
        apply(portMatches(val ?? '', pkt.sport))
        i += 2
        continue
      case '--ports':
        apply(portMatches(val ?? '', pkt.dport) || portMatches(val ?? '', pkt.sport))
        i += 2
        continue
      case '--ctstate':
      case '--state':
        apply((val ?? '').split(',').includes(pkt.ctstate))
        i += 2
        continue
      case '--icmp-type': {
        const want = (val ?? '').split('/')[0]!
        const n = ICMP_TYPES[want] ?? Number(want)
        apply(pkt.proto === 'icmp' && (n === -1 || n === pkt.icmpType))
        i += 2
        continue
      }
      case '--syn':
        apply(pkt.proto === 'tcp' && (pkt.tcpFlags ?? []).join(',') === 'SYN')
        i += 1
        continue
      case '--tcp-flags': {
        const mask = (val ?? '').split(',')
        const comp = (tokens[i + 2] ?? '').split(',')
        const flags = new Set(pkt.tcpFlags ?? [])
        const all = mask.includes('ALL') ? ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG'] : mask
        const ok = pkt.proto === 'tcp' && all.every((f) => flags.has(f) === (comp.includes(f) || comp.includes('ALL')))
        apply(ok)
        i += 3
        continue
      }
      case '--mark': {
        // Probe packets start with mark 0; a MARK rule the walk passed may have set bits since.
        const [v, m] = (val ?? '0').split('/')
        const value = Number(v)
        const mask = m === undefined ? 0xffffffff : Number(m)
        apply(((pkt.mark ?? 0) & mask) >>> 0 === (value & mask) >>> 0)
        i += 2
        continue
      }
      case '--comment':
      case '--limit':
      case '--limit-burst':
        i += 2
        neg = false
        continue
      case '-f':
      case '--fragment':
        apply(false)
        i += 1
        continue
      case '-j':
      case '--jump':
      case '-g':
      case '--goto':
        target = t === '-g' || t === '--goto' ? `goto:${val}` : val
        targetArgs = tokens.slice(i + 2)
        i = tokens.length
        continue
      default: {
        // A match we don't model (set, addrtype, physdev, …): it may or may not match.
        unsure()
        neg = false
        i += val !== undefined && !val.startsWith('-') && val !== '!' ? 2 : 1
        continue
      }
    }
  }
  return {result, target, targetArgs}
}

/**
 * One iptables-save rule's words against a packet: whether it matches ('uncertain' for a match not
 * modelled, such as `statistic`) and its target with the words after it. For walks this module does
 * not do itself (trace's walk of kube-proxy's nat chains, src/trace/service.ts).
 */
export function matchIptablesRule(
  tokens: string[],
  pkt: NfPacket,
): {result: 'match' | 'nomatch' | 'uncertain'; target?: string; targetArgs: string[]} {
  return iptMatch(tokens, pkt)
}

const IPT_TERMINAL = new Set(['ACCEPT', 'DROP', 'REJECT', 'RETURN'])

function iptRef(r: IptRule, target: string): NfRuleRef {
  return {
    source: 'iptables',
    family: 'ip',
    table: r.table,
    chain: r.chain,
    rule: r.text,
    packets: r.packets,
    bytes: r.bytes,
    kind: 'rule',
    target,
  }
}

type ChainOutcome = {kind: 'accept' | 'drop' | 'return' | 'end'; by?: NfRuleRef}

function iptWalk(
  rs: IptablesRuleset,
  table: string,
  chain: string,
  pkt: NfPacket,
  uncertain: NfRuleRef[],
  depth: number,
): ChainOutcome {
  const t = rs.tables.get(table)
  if (!t || depth > 32) return {kind: 'end'}
  for (const rule of t.rules.get(chain) ?? []) {
    const m = iptMatch(rule.tokens, pkt)
    if (m.result === 'nomatch' || !m.target) continue
    const target = m.target
    if (m.result === 'uncertain') {
      if (target === 'DROP' || target === 'REJECT') uncertain.push(iptRef(rule, target))
      continue
    }
    if (target === 'ACCEPT') return {kind: 'accept'}
    if (target === 'DROP' || target === 'REJECT') return {kind: 'drop', by: iptRef(rule, target)}
    if (target === 'RETURN') return {kind: 'return'}
    const isGoto = target.startsWith('goto:')
    const sub = isGoto ? target.slice(5) : target
    if (t.rules.has(sub) && !IPT_TERMINAL.has(sub)) {
      const r = iptWalk(rs, table, sub, pkt, uncertain, depth + 1)
      if (r.kind === 'accept' || r.kind === 'drop') return r
      if (isGoto) return {kind: 'return'}
    }
    if (target === 'MARK') setMark(pkt, m.targetArgs)
    // Other targets (LOG, MARK, CT, MASQUERADE…) don't end traversal.
  }
  return {kind: 'end'}
}

/**
 * The MARK target's effect on the packet (xt_MARK): `--set-xmark value/mask` is mark = (mark & ~mask)
 * ^ value, `--set-mark value/mask` is (mark & ~mask) | value; `--and-mark`, `--or-mark` and
 * `--xor-mark` as their names say. A policy chain marks what it allows and a later rule matches the
 * mark (the daemon's NetworkPolicy chains, kube-proxy's KUBE-MARK-MASQ), so the walk must carry it.
 */
function setMark(pkt: NfPacket, args: readonly string[]): void {
  const [flag, spec] = args
  if (spec === undefined) return
  const [v, m] = spec.split('/')
  const value = Number(v)
  const mask = m === undefined ? 0xffffffff : Number(m)
  if (!Number.isFinite(value) || !Number.isFinite(mask)) return
  const cur = pkt.mark ?? 0
  let next: number
  switch (flag) {
    case '--set-xmark':
      next = (cur & ~mask) ^ value
      break
    case '--set-mark':
      next = (cur & ~mask) | value
      break
    case '--and-mark':
      next = cur & value
      break
    case '--or-mark':
      next = cur | value
      break
    case '--xor-mark':
      next = cur ^ value
      break
    default:
      return
  }
  pkt.mark = next >>> 0
}

/** The iptables verdict at one hook for one packet. */
export function evaluateIptables(rs: IptablesRuleset, hook: NfHook, given: NfPacket): NfVerdict {
  const uncertain: NfRuleRef[] = []
  // MARK rules change the packet as it walks: a copy, so the caller's stays as given.
  const pkt = {...given}
  for (const [table, chain] of IPT_HOOK_CHAINS[hook]) {
    const t = rs.tables.get(table)
    if (!t || !t.policies.has(chain)) continue
    const r = iptWalk(rs, table, chain, pkt, uncertain, 0)
    if (r.kind === 'drop') return {verdict: 'drop', by: r.by, uncertain}
    if (r.kind === 'accept') continue
    const policy = t.policies.get(chain)
    if (policy === 'DROP') {
      return {
        verdict: 'drop',
        by: {
          source: 'iptables',
          family: 'ip',
          table,
          chain,
          rule: `-P ${chain} DROP`,
          kind: 'policy',
          target: 'DROP',
        },
        uncertain,
      }
    }
  }
  return {verdict: 'accept', uncertain}
}

/** The rule's counters by its text, for before/after deltas. */
export function iptablesCounters(rs: IptablesRuleset): Map<string, number> {
  const out = new Map<string, number>()
  for (const [table, t] of rs.tables) {
    for (const rules of t.rules.values()) {
      for (const r of rules) out.set(`${table} ${r.text}`, (out.get(`${table} ${r.text}`) ?? 0) + (r.packets ?? 0))
    }
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// nftables (`nft -j list ruleset`)

interface NftChain {
  family: string
  table: string
  name: string
  hook?: string
  prio?: number
  policy?: string
  type?: string
}

interface NftRule {
  family: string
  table: string
  chain: string
  handle?: number
  expr: unknown[]
}

export interface NftRuleset {
  chains: NftChain[]
  rules: NftRule[]
  tables: Array<{family: string; name: string}>
}

export function parseNftJson(json: unknown): NftRuleset {
  const out: NftRuleset = {chains: [], rules: [], tables: []}
  const items = (json as {nftables?: unknown[]} | undefined)?.nftables
  if (!Array.isArray(items)) return out
  for (const item of items) {
    if (!item || typeof item !== 'object') continue
    const o = item as Record<string, Record<string, unknown>>
    if (o.table) out.tables.push({family: String(o.table.family), name: String(o.table.name)})
    if (o.chain) {
      const c = o.chain
      out.chains.push({
        family: String(c.family),
        table: String(c.table),
        name: String(c.name),
        hook: typeof c.hook === 'string' ? c.hook : undefined,
        prio: typeof c.prio === 'number' ? c.prio : 0,
        policy: typeof c.policy === 'string' ? c.policy : undefined,
        type: typeof c.type === 'string' ? c.type : undefined,
      })
    }
    if (o.rule) {
      const r = o.rule
      out.rules.push({
        family: String(r.family),
        table: String(r.table),
        chain: String(r.chain),
        handle: typeof r.handle === 'number' ? r.handle : undefined,
        expr: Array.isArray(r.expr) ? r.expr : [],
      })
    }
  }
  return out
}

const IPT_TABLES = new Set(['filter', 'nat', 'mangle', 'raw', 'security'])
const IPT_BUILTIN = new Set(['INPUT', 'FORWARD', 'OUTPUT', 'PREROUTING', 'POSTROUTING'])

/**
 * iptables-nft keeps its rules in nftables tables too (family ip, table filter, chain FORWARD…).
 * Those are evaluated from iptables-save, so they are skipped here to avoid counting them twice.
 */
function isIptablesNftTable(rs: NftRuleset, family: string, table: string): boolean {
  if (family !== 'ip' || !IPT_TABLES.has(table)) return false
  return rs.chains.some((c) => c.family === family && c.table === table && IPT_BUILTIN.has(c.name))
}

type NftValue = string | number | string[] | undefined

function nftLeft(left: unknown, pkt: NfPacket): {value: NftValue; proto?: NfProto | 'ip'} | 'unknown' {
  if (!left || typeof left !== 'object') return 'unknown'
  const l = left as Record<string, Record<string, unknown>>
  if (l.payload) {
    const proto = String(l.payload.protocol ?? '')
    const field = String(l.payload.field ?? '')
    if (proto === 'ip') {
      if (field === 'saddr') return {value: pkt.src, proto: 'ip'}
      if (field === 'daddr') return {value: pkt.dst, proto: 'ip'}
      if (field === 'protocol') return {value: pkt.proto, proto: 'ip'}
      return 'unknown'
    }
    if (proto === 'tcp' || proto === 'udp' || proto === 'th') {
      const p = proto === 'th' ? undefined : (proto as NfProto)
      if (field === 'dport') return {value: pkt.dport ?? -1, proto: p}
      if (field === 'sport') return {value: pkt.sport ?? -1, proto: p}
      if (proto === 'tcp' && field === 'flags') return {value: pkt.tcpFlags ?? [], proto: 'tcp'}
      return 'unknown'
    }
    if (proto === 'icmp' && field === 'type') return {value: pkt.icmpType ?? -1, proto: 'icmp'}
    return 'unknown'
  }
  if (l.meta) {
    switch (String(l.meta.key)) {
      case 'iifname':
      case 'iif':
        return {value: pkt.iif ?? ''}
      case 'oifname':
      case 'oif':
        return {value: pkt.oif ?? ''}
      case 'l4proto':
        return {value: pkt.proto}
      case 'protocol':
      case 'nfproto':
        return {value: 'ip'}
      case 'mark':
        return {value: 0}
      default:
        return 'unknown'
    }
  }
  if (l.ct && String(l.ct.key) === 'state') {
    return {value: [pkt.ctstate === 'NEW' ? 'new' : 'established']}
  }
  return 'unknown'
}

const NFT_ICMP: Record<string, number> = {'echo-reply': 0, 'echo-request': 8, 'destination-unreachable': 3}

function nftAtomMatches(right: unknown, value: NftValue): boolean | 'unknown' {
  if (Array.isArray(value)) {
    // Flag-like values (ct state): the rule matches if any listed state is the packet's.
    const atoms = Array.isArray(right) ? right : [right]
    return atoms.some((a) => typeof a === 'string' && value.includes(a.toLowerCase()))
  }
  if (typeof right === 'number') return value === right
  if (typeof right === 'string') {
    if (typeof value === 'number') {
      if (right in NFT_ICMP) return NFT_ICMP[right] === value
      return Number(right) === value
    }
    if (typeof value === 'string') {
      if (isIPv4(value) && (isIPv4(right) || right.includes('/'))) return prefixContains(right, value)
      if (right.endsWith('*')) return value.startsWith(right.slice(0, -1))
      if (right === 'icmp' || right === 'tcp' || right === 'udp') return right === value
      return right === value
    }
    return false
  }
  if (right && typeof right === 'object') {
    const r = right as Record<string, unknown>
    if (r.prefix && typeof value === 'string') {
      const p = r.prefix as {addr?: string; len?: number}
      return prefixContains(`${p.addr}/${p.len}`, value)
    }
    if (Array.isArray(r.range)) {
      const [lo, hi] = r.range as [unknown, unknown]
      if (typeof value === 'number') return value >= Number(lo) && value <= Number(hi)
      return 'unknown'
    }
    if (Array.isArray(r.set)) {
      let unknown = false
      for (const el of r.set) {
        const m = nftAtomMatches(el, value)
        if (m === true) return true
        if (m === 'unknown') unknown = true
      }
      return unknown ? 'unknown' : false
    }
  }
  return 'unknown'
}

function nftRuleText(r: NftRule): string {
  const parts: string[] = []
  for (const e of r.expr) {
    const o = e as Record<string, unknown>
    const k = Object.keys(o)[0]
    if (!k) continue
    if (k === 'match') {
      const m = o.match as {op?: string; left?: unknown; right?: unknown}
      parts.push(`${describeLeft(m.left)} ${m.op === '==' ? '' : `${m.op} `}${JSON.stringify(m.right)}`)
    } else if (k === 'counter') {
      continue
    } else if (k === 'jump' || k === 'goto') {
      parts.push(`${k} ${(o[k] as {target?: string}).target}`)
    } else {
      parts.push(k)
    }
  }
  return parts.join(' ')
}

function describeLeft(left: unknown): string {
  const l = (left ?? {}) as Record<string, Record<string, unknown>>
  if (l.payload) return `${l.payload.protocol} ${l.payload.field}`
  if (l.meta) return `meta ${l.meta.key}`
  if (l.ct) return `ct ${l.ct.key}`
  return JSON.stringify(left)
}

function nftRef(r: NftRule, target: string, counter?: {packets?: number; bytes?: number}): NfRuleRef {
  return {
    source: 'nft',
    family: r.family,
    table: r.table,
    chain: r.chain,
    rule: nftRuleText(r),
    handle: r.handle,
    packets: counter?.packets,
    bytes: counter?.bytes,
    kind: 'rule',
    target,
  }
}

function nftWalk(rs: NftRuleset, chain: NftChain, pkt: NfPacket, uncertain: NfRuleRef[], depth: number): ChainOutcome {
  if (depth > 32) return {kind: 'end'}
  const rules = rs.rules.filter((r) => r.family === chain.family && r.table === chain.table && r.chain === chain.name)
  for (const rule of rules) {
    let result: MatchResult = 'match'
    let counter: {packets?: number; bytes?: number} | undefined
    let verdict: ChainOutcome | undefined
    for (const e of rule.expr) {
      if (result === 'nomatch') break
      const o = e as Record<string, unknown>
      const key = Object.keys(o)[0]
      if (key === 'match') {
        const m = o.match as {op?: string; left?: unknown; right?: unknown}
        const left = nftLeft(m.left, pkt)
        if (left === 'unknown') {
          result = 'uncertain'
          continue
        }
        // `udp dport 53` implies `meta l4proto udp`.
        if (left.proto && left.proto !== 'ip' && left.proto !== pkt.proto) {
          result = 'nomatch'
          continue
        }
        const hit = nftAtomMatches(m.right, left.value)
        if (hit === 'unknown') {
          result = 'uncertain'
          continue
        }
        const ok = m.op === '!=' ? !hit : hit
        if (!ok) result = 'nomatch'
      } else if (key === 'counter') {
        counter = o.counter as {packets?: number; bytes?: number}
      } else if (key === 'accept') {
        verdict = {kind: 'accept'}
        break
      } else if (key === 'drop' || key === 'reject') {
        verdict = {kind: 'drop', by: nftRef(rule, key.toUpperCase(), counter)}
        break
      } else if (key === 'return') {
        verdict = {kind: 'return'}
        break
      } else if (key === 'jump' || key === 'goto') {
        const target = (o[key] as {target?: string}).target
        const sub = rs.chains.find((c) => c.family === chain.family && c.table === chain.table && c.name === target)
        if (result !== 'match' || !sub) break
        const r = nftWalk(rs, sub, pkt, uncertain, depth + 1)
        if (r.kind === 'accept' || r.kind === 'drop') verdict = r
        else if (key === 'goto') verdict = {kind: 'return'}
        break
      } else if (key === 'xt') {
        // iptables-nft compat expression (e.g. -m conntrack): can't evaluate it here.
        result = 'uncertain'
      } else if (key === 'log' || key === 'limit' || key === 'mangle' || key === 'continue' || key === 'notrack') {
        continue
      } else {
        result = 'uncertain'
      }
    }
    if (result === 'nomatch' || !verdict) continue
    if (result === 'uncertain') {
      if (verdict.kind === 'drop' && verdict.by) uncertain.push(verdict.by)
      continue
    }
    return verdict
  }
  return {kind: 'end'}
}

/** The native nftables verdict at one hook (all base chains at that hook must let the packet through). */
export function evaluateNft(rs: NftRuleset, hook: NfHook, pkt: NfPacket): NfVerdict {
  const uncertain: NfRuleRef[] = []
  const base = rs.chains
    .filter((c) => c.hook === hook && (c.family === 'ip' || c.family === 'inet'))
    .filter((c) => !isIptablesNftTable(rs, c.family, c.table))
    .sort((a, b) => (a.prio ?? 0) - (b.prio ?? 0))
  for (const chain of base) {
    const r = nftWalk(rs, chain, pkt, uncertain, 0)
    if (r.kind === 'drop') return {verdict: 'drop', by: r.by, uncertain}
    if (r.kind !== 'accept' && chain.policy === 'drop') {
      return {
        verdict: 'drop',
        by: {
          source: 'nft',
          family: chain.family,
          table: chain.table,
          chain: chain.name,
          rule: `policy drop`,
          kind: 'policy',
          target: 'DROP',
        },
        uncertain,
      }
    }
  }
  return {verdict: 'accept', uncertain}
}

/** Counters of native nft rules by family/table/chain/handle, for before/after deltas. */
export function nftCounters(json: unknown): Map<string, number> {
  const rs = parseNftJson(json)
  const out = new Map<string, number>()
  for (const r of rs.rules) {
    const keys = r.expr.map((e) => Object.keys(e as object)[0])
    const verdict = keys.find((k) => k === 'drop' || k === 'reject' || k === 'accept' || k === 'jump') ?? ''
    for (const e of r.expr) {
      const c = (e as {counter?: {packets?: number}}).counter
      if (c) out.set(`${r.family} ${r.table} ${r.chain} handle ${r.handle} ${verdict}`.trim(), c.packets ?? 0)
    }
  }
  return out
}

/** Both evaluators, iptables first. */
export function evaluateNetfilter(
  ipt: IptablesRuleset | undefined,
  nft: NftRuleset | undefined,
  hooks: readonly NfHook[],
  pkt: NfPacket,
): NfVerdict {
  const uncertain: NfRuleRef[] = []
  for (const hook of hooks) {
    for (const v of [ipt && evaluateIptables(ipt, hook, pkt), nft && evaluateNft(nft, hook, pkt)]) {
      if (!v) continue
      uncertain.push(...v.uncertain)
      if (v.verdict === 'drop') return {verdict: 'drop', by: v.by, uncertain}
    }
  }
  return {verdict: 'accept', uncertain}
}

/** The command that removes the rule (or opens the policy), for the fix hint. Prefix with the netns wrapper. */
export function removalCommand(ref: NfRuleRef): string {
  // A person pastes this into a shell, and the rule's words (a comment, a set or chain name) are
  // whoever wrote the rule's: each word is quoted for the shell, as iptables-save quoted it for
  // iptables-restore (tokenize reads those quotes).
  const line = (words: readonly string[]) => words.map(shellWord).join(' ')
  if (ref.source === 'iptables') {
    if (ref.kind === 'policy') return line(['iptables', '-t', ref.table, '-P', ref.chain, 'ACCEPT'])
    return line(['iptables', '-t', ref.table, ...tokenize(ref.rule.replace(/^-A /, '-D '))])
  }
  if (ref.kind === 'policy') {
    return line(['nft', `chain ${ref.family} ${ref.table} ${ref.chain} { policy accept; }`])
  }
  return line(['nft', 'delete', 'rule', ref.family, ref.table, ref.chain, 'handle', String(ref.handle)])
}

/** One line describing a rule for evidence. */
export function describeRule(ref: NfRuleRef): string {
  const counters = ref.packets !== undefined ? ` [${ref.packets} pkts]` : ''
  if (ref.source === 'iptables') return `iptables -t ${ref.table}: ${ref.rule}${counters}`
  return `nft ${ref.family} ${ref.table} ${ref.chain}${ref.handle !== undefined ? ` handle ${ref.handle}` : ''}: ${ref.rule}${counters}`
}
