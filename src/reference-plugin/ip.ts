import {isIPv4, isIPv6} from 'node:net'

/** IP addresses and prefixes as bigints: enough arithmetic for allocation, containment and formatting. */
export type Family = 4 | 6

export interface Addr {
  family: Family
  value: bigint
}

export interface Cidr extends Addr {
  prefix: number
}

export const bitsOf = (family: Family): number => (family === 4 ? 32 : 128)

export function parseIP(text: string): Addr | undefined {
  if (isIPv4(text)) {
    const v = text.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n)
    return {family: 4, value: v}
  }
  if (!isIPv6(text) || text.includes('%')) return undefined
  let s = text.toLowerCase()
  // A trailing dotted quad (::ffff:1.2.3.4) is two groups.
  const quad = s.match(/(\d+\.\d+\.\d+\.\d+)$/)
  if (quad) {
    const v4 = parseIP(quad[1]!)!.value
    s = s.slice(0, -quad[1]!.length) + `${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined]
  const h = head ? head.split(':') : []
  const t = tail === undefined ? [] : tail ? tail.split(':') : []
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
  if (groups.length !== 8) return undefined
  return {family: 6, value: groups.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n)}
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
