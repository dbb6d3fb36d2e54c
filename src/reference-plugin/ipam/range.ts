import {CniError, CODE} from '../errors.js'
import {
  bitsOf,
  contains,
  formatCIDR,
  formatIP,
  hasHostBits,
  lastOf,
  networkOf,
  parseCIDR,
  parseIP,
  type Addr,
  type Cidr,
} from '../../core/ip.js'

/** One pool, host-local style: `{subnet, rangeStart?, rangeEnd?, gateway?}`, after defaults. */
export interface Range {
  subnet: Cidr
  start: bigint
  end: bigint
  gateway?: Addr
}

/** The pools one address is allocated from (the inner list of `ranges`). */
export type RangeSet = Range[]

export interface RawRange {
  subnet?: unknown
  rangeStart?: unknown
  rangeEnd?: unknown
  gateway?: unknown
}

function bad(where: string, msg: string, fix?: string): CniError {
  return new CniError(CODE.INVALID_CONFIG, `${where}: ${msg}`, fix)
}

/**
 * Validates one range and fills in host-local's defaults: the gateway is the subnet's first host,
 * the range runs from there to the last host (IPv4 keeps its broadcast address out).
 */
export function canonicalRange(raw: RawRange, where: string, lenient = false): Range {
  const text = raw.subnet
  const parsed = typeof text === 'string' ? parseCIDR(text) : undefined
  if (!parsed)
    throw bad(where, `subnet ${JSON.stringify(text ?? null)} is not a prefix in CIDR form`, 'e.g. "10.244.1.0/24"')
  if (hasHostBits(parsed) && !lenient) {
    const net = formatCIDR({...parsed, value: networkOf(parsed)})
    throw bad(where, `subnet ${text} has host bits set`, `use the network address: "${net}"`)
  }
  const subnet = {...parsed, value: networkOf(parsed)}
  const bits = bitsOf(subnet.family)
  if (bits - subnet.prefix < 2) throw bad(where, `subnet ${text} is too small to allocate from`, 'use a /30 or larger')
  const ipIn = (key: 'rangeStart' | 'rangeEnd' | 'gateway'): Addr | undefined => {
    const v = raw[key]
    if (v === undefined || v === '') return undefined
    const a = typeof v === 'string' ? parseIP(v) : undefined
    if (!a || !contains(subnet, a))
      throw bad(where, `${key} ${JSON.stringify(v)} is not an address inside ${formatCIDR(subnet)}`)
    return a
  }
  const first = networkOf(subnet) + 1n
  const last = subnet.family === 4 ? lastOf(subnet) - 1n : lastOf(subnet)
  const start = ipIn('rangeStart')?.value ?? first
  const end = ipIn('rangeEnd')?.value ?? last
  if (start > end) throw bad(where, `rangeStart ${formatIP({family: subnet.family, value: start})} is after rangeEnd`)
  const gateway = ipIn('gateway') ?? {family: subnet.family, value: first}
  return {subnet, start, end, gateway}
}

export function rangeContains(r: Range, a: Addr): boolean {
  return a.family === r.subnet.family && a.value >= r.start && a.value <= r.end
}

export function setContains(set: RangeSet, a: Addr): boolean {
  return set.some((r) => rangeContains(r, a))
}

/** Gateways, network and IPv4 broadcast addresses are never handed out. */
export function isReservedIn(set: RangeSet, a: Addr): boolean {
  return set.some(
    (r) =>
      (r.gateway && r.gateway.value === a.value && r.gateway.family === a.family) ||
      (a.family === r.subnet.family &&
        (a.value === networkOf(r.subnet) || (a.family === 4 && a.value === lastOf(r.subnet)))),
  )
}

/** Throws code 7 when sets mix families inside one set or overlap each other (host-local's rules). */
export function validateRangeSets(sets: RangeSet[]): void {
  const all = sets.flatMap((s, i) => s.map((r) => ({r, i})))
  for (const [i, s] of sets.entries()) {
    if (s.length === 0) throw bad(`ranges[${i}]`, 'is empty')
    if (s.some((r) => r.subnet.family !== s[0]!.subnet.family)) throw bad(`ranges[${i}]`, 'mixes IPv4 and IPv6 ranges')
  }
  for (let a = 0; a < all.length; a++) {
    for (let b = a + 1; b < all.length; b++) {
      const x = all[a]!.r
      const y = all[b]!.r
      if (x.subnet.family === y.subnet.family && x.start <= y.end && y.start <= x.end) {
        throw bad('ranges', `${formatCIDR(x.subnet)} and ${formatCIDR(y.subnet)} overlap`)
      }
    }
  }
}

/**
 * Candidates in host-local's order: after the last reserved address, wrapping around once. Lazy,
 * so an IPv6 /64 costs nothing until it is actually walked.
 */
export function* candidates(set: RangeSet, last?: Addr): Generator<Addr> {
  let ri = 0
  let from = set[0]!.start
  if (last) {
    const k = set.findIndex((r) => rangeContains(r, last))
    if (k >= 0) {
      ri = k
      from = last.value + 1n
    }
  }
  const family = set[0]!.subnet.family
  for (let n = 0; n <= set.length; n++) {
    const r = set[(ri + n) % set.length]!
    const lo = n === 0 ? from : r.start
    const hi = n === set.length ? from - 1n : r.end
    for (let v = lo; v <= hi; v++) {
      const a: Addr = {family, value: v}
      if (!isReservedIn(set, a)) yield a
    }
  }
}

/** How many addresses the set can hand out in total (gateways, network and broadcast excluded). */
export function capacity(set: RangeSet): bigint {
  let n = 0n
  const reserved = new Set<bigint>()
  for (const r of set) {
    n += r.end - r.start + 1n
    const special = [r.gateway?.value, networkOf(r.subnet), r.subnet.family === 4 ? lastOf(r.subnet) : undefined]
    for (const v of special) {
      if (v !== undefined && v >= r.start && v <= r.end && !reserved.has(v)) {
        reserved.add(v)
        n -= 1n
      }
    }
  }
  return n
}
