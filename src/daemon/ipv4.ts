/**
 * Just enough IPv4 arithmetic for the daemon: parse and compare the pod CIDRs it reads from Node
 * objects. Everything is validated here so that a malformed annotation or podCIDR never reaches an
 * `ip` command line.
 */

export interface Cidr {
  /** Network address as an unsigned 32-bit number (host bits cleared). */
  network: number
  prefix: number
}

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/

export function parseIpv4(text: string): number | undefined {
  const m = IPV4_RE.exec(text.trim())
  if (!m) return undefined
  const octets = m.slice(1, 5).map(Number)
  if (octets.some((o) => o > 255)) return undefined
  return ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

export function isIpv4(text: string): boolean {
  return parseIpv4(text) !== undefined
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

/** Parses `a.b.c.d/len`. Host bits must be zero unless `loose` (then they are cleared). */
export function parseCidr(text: string, loose = false): Cidr | undefined {
  const [addr, len, ...rest] = text.trim().split('/')
  if (addr === undefined || len === undefined || rest.length > 0 || !/^\d{1,2}$/.test(len)) return undefined
  const prefix = Number(len)
  const ip = parseIpv4(addr)
  if (ip === undefined || prefix > 32) return undefined
  const network = (ip & mask(prefix)) >>> 0
  if (network !== ip && !loose) return undefined
  return {network, prefix}
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.network)}/${c.prefix}`
}

/** The canonical text of a CIDR (`10.244.1.0/24`), or undefined when it is not one. */
export function normalizeCidr(text: string): string | undefined {
  const c = parseCidr(text)
  return c ? formatCidr(c) : undefined
}

export function cidrContainsIp(c: Cidr, ip: number): boolean {
  return (ip & mask(c.prefix)) >>> 0 === c.network
}

/** True when `inner` lies entirely inside `outer`. */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && cidrContainsIp(outer, inner.network)
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a)
}

/** The network address of a CIDR as text: flannel's per-node gateway/VTEP address (`10.244.1.0`). */
export function networkAddress(cidrText: string): string {
  const c = parseCidr(cidrText, true)
  if (!c) throw new Error(`not an IPv4 CIDR: ${cidrText}`)
  return formatIpv4(c.network)
}

export function normalizeMac(text: string): string | undefined {
  const mac = text.trim().toLowerCase()
  return MAC_RE.test(mac) ? mac : undefined
}

/** True for a unicast MAC (the I/G bit clear) that is not all zeros. */
export function isUnicastMac(mac: string): boolean {
  const m = normalizeMac(mac)
  if (!m || m === '00:00:00:00:00:00') return false
  return (parseInt(m.slice(0, 2), 16) & 1) === 0
}

/** A random locally administered unicast MAC (first octet x2/x6/xa/xe), like the kernel's random_ether_addr. */
export function randomMac(bytes: Uint8Array): string {
  if (bytes.length < 6) throw new Error('randomMac needs 6 bytes')
  const b = Array.from(bytes.slice(0, 6))
  b[0] = (b[0]! & 0xfe) | 0x02
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':')
}
