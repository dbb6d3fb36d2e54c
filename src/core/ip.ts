/**
 * The one IP/CIDR module (IPv4 and IPv6): addresses and prefixes as bigints, enough arithmetic for
 * allocation, containment and formatting, and the text-level helpers the daemon, trace and the
 * runtime checks use. Dependency-free and cheap to load: the reference plugin runs it on every ADD.
 */
export type Family = 4 | 6

export interface Addr {
  family: Family
  value: bigint
}

export interface Cidr extends Addr {
  prefix: number
}

export const bitsOf = (family: Family): number => (family === 4 ? 32 : 128)

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)'
const V4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`)
const GROUP = /^[0-9a-f]{1,4}$/

function parseV4(text: string): bigint | undefined {
  const m = V4.exec(text)
  return m ? m.slice(1).reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n) : undefined
}

function groupsOf(text: string): string[] | undefined {
  if (text === '') return []
  const g = text.split(':')
  return g.every((x) => GROUP.test(x)) ? g : undefined
}

function parseV6(text: string): bigint | undefined {
  let s = text.toLowerCase()
  // A trailing dotted quad (::ffff:1.2.3.4) is two groups.
  const colon = s.lastIndexOf(':')
  if (s.includes('.', colon)) {
    const v4 = parseV4(s.slice(colon + 1))
    if (v4 === undefined) return undefined
    s = `${s.slice(0, colon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`
  }
  const halves = s.split('::')
  if (halves.length > 2) return undefined
  const head = groupsOf(halves[0]!)
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : []
  if (!head || !tail) return undefined
  // "::" stands for one or more zero groups; without it there are exactly eight.
  const zeros = halves.length === 2 ? 8 - head.length - tail.length : 0
  if (halves.length === 2 ? zeros < 1 : head.length !== 8) return undefined
  const groups = [...head, ...Array<string>(zeros).fill('0'), ...tail]
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n)
}

/**
 * Parses a textual address (no zone). Hand-written rather than node:net's isIPv6: that one compiles a
 * huge regular expression on first use, 12 ms of a plugin's start-up, and IPAM parses every store
 * file name.
 */
export function parseIP(text: string): Addr | undefined {
  if (text.includes(':')) {
    const v = parseV6(text)
    return v === undefined ? undefined : {family: 6, value: v}
  }
  const v = parseV4(text)
  return v === undefined ? undefined : {family: 4, value: v}
}

/** Formats like Go's net.IP.String (RFC 5952 for IPv6), so store file names match host-local's. */
export function formatIP(a: Addr): string {
  if (a.family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => ((a.value >> s) & 0xffn).toString()).join('.')
  }
  const g: number[] = []
  for (let i = 7; i >= 0; i--) g.push(Number((a.value >> BigInt(i * 16)) & 0xffffn))
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && g[j] === 0) j++
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = g.map((x) => x.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`
}

export function parseCIDR(text: string): Cidr | undefined {
  const slash = text.indexOf('/')
  if (slash < 0) return undefined
  const addr = parseIP(text.slice(0, slash))
  const p = text.slice(slash + 1)
  if (!addr || !/^\d{1,3}$/.test(p)) return undefined
  const prefix = Number(p)
  if (prefix > bitsOf(addr.family)) return undefined
  return {...addr, prefix}
}

export function formatCIDR(c: Cidr): string {
  return `${formatIP(c)}/${c.prefix}`
}

function hostMask(c: Cidr): bigint {
  return (1n << BigInt(bitsOf(c.family) - c.prefix)) - 1n
}

/** The first address of the prefix. */
export const networkOf = (c: Cidr): bigint => c.value & ~hostMask(c)
/** The last address of the prefix (the IPv4 broadcast address). */
export const lastOf = (c: Cidr): bigint => networkOf(c) | hostMask(c)

export function contains(c: Cidr, a: Addr): boolean {
  return a.family === c.family && a.value >= networkOf(c) && a.value <= lastOf(c)
}

export const hasHostBits = (c: Cidr): boolean => (c.value & hostMask(c)) !== 0n

export function canonicalCIDR(c: Cidr): Cidr {
  return {...c, value: networkOf(c)}
}

export const sameAddr = (a: Addr, b: Addr): boolean => a.family === b.family && a.value === b.value

// Text-level helpers. Every value read from a config, a Node object or a kernel dump goes through
// these, so a malformed one never reaches a command line.

/** True for any address this module parses (IPv4 or IPv6, no zone). */
export const isIP = (text: unknown): text is string => typeof text === 'string' && parseIP(text) !== undefined
export const isIPv4 = (text: string): boolean => parseIP(text)?.family === 4
export const isCIDR = (text: unknown): boolean => typeof text === 'string' && parseCIDR(text) !== undefined

/**
 * A network prefix as Node.spec.podCIDR and route tables give it: host bits must be zero, or with
 * `loose` they are cleared (an interface's `address/len`). `family` narrows what is accepted.
 */
export function parseNetwork(text: string, opts: {loose?: boolean; family?: Family} = {}): Cidr | undefined {
  const c = parseCIDR(text.trim())
  if (!c || (opts.family && c.family !== opts.family) || (hasHostBits(c) && !opts.loose)) return undefined
  return canonicalCIDR(c)
}

/** The canonical text of a network (`10.244.1.0/24`), or undefined when the text is not one. */
export function normalizeNetwork(text: string, family?: Family): string | undefined {
  const c = parseNetwork(text, {family})
  return c ? formatCIDR(c) : undefined
}

/** True when `inner` lies entirely inside `outer`. */
export function containsCIDR(outer: Cidr, inner: Cidr): boolean {
  return inner.family === outer.family && inner.prefix >= outer.prefix && contains(outer, inner)
}

export const cidrsOverlap = (a: Cidr, b: Cidr): boolean => containsCIDR(a, b) || containsCIDR(b, a)

/**
 * A prefix as routing tables and firewalls print it: `addr`, `addr/len`, or IPv4 `addr/m.m.m.m`. A
 * bare address is a host prefix (/32 or /128).
 */
export function parsePrefixText(text: string): Cidr | undefined {
  const slash = text.indexOf('/')
  if (slash < 0) {
    const a = parseIP(text)
    return a && {...a, prefix: bitsOf(a.family)}
  }
  const mask = parseIP(text.slice(slash + 1))
  if (!mask) return parseCIDR(text)
  const a = parseIP(text.slice(0, slash))
  if (!a || a.family !== 4 || mask.family !== 4) return undefined
  // A dotted mask must be contiguous ones: its complement plus one is a power of two.
  const hostPart = ~mask.value & 0xffffffffn
  if ((hostPart & (hostPart + 1n)) !== 0n) return undefined
  return {...a, prefix: 32 - hostPart.toString(2).replace(/^0+/, '').length}
}

/** Whether the address lies in the prefix text; false for anything unparsable. */
export function prefixContains(prefixText: string, ipText: string): boolean {
  const c = parsePrefixText(prefixText)
  const a = parseIP(ipText)
  return !!c && !!a && contains(c, a)
}

function requirePrefix(text: string): Cidr {
  const c = parsePrefixText(text)
  if (!c) throw new Error(`not an IP prefix: ${text}`)
  return c
}

/** The network address: 10.244.1.0/24 → 10.244.1.0 (flannel's per-node gateway and VTEP address). */
export function networkAddress(prefixText: string): string {
  const c = requirePrefix(prefixText)
  return formatIP({family: c.family, value: networkOf(c)})
}

/** The first host address: 10.244.1.0/24 → 10.244.1.1 (the ptp-style gateway). */
export function firstHost(prefixText: string): string {
  const c = requirePrefix(prefixText)
  return formatIP({family: c.family, value: networkOf(c) + 1n})
}

/** The prefix length; a bare address is a host prefix, and unparsable text counts as one too. */
export function prefixLength(text: string): number {
  return parsePrefixText(text)?.prefix ?? 32
}
