/** Small IPv4 helpers: the trace engine compares addresses against CIDRs in many places. */

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

export function isIPv4(s: string): boolean {
  const m = IPV4.exec(s)
  return m !== null && m.slice(1).every((o) => Number(o) <= 255)
}

export function ipToInt(ip: string): number {
  const m = IPV4.exec(ip)
  if (!m) throw new Error(`not an IPv4 address: ${ip}`)
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0
}

export function intToIp(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

/** Parses `a.b.c.d`, `a.b.c.d/len` or `a.b.c.d/m.m.m.m`; a bare address is a /32. */
export function parseCidr(cidr: string): {addr: number; len: number} | undefined {
  const [a, l] = cidr.split('/')
  if (!a || !isIPv4(a)) return undefined
  let len = 32
  if (l !== undefined) {
    if (isIPv4(l)) {
      const mask = ipToInt(l)
      len = 32 - Math.log2((~mask >>> 0) + 1)
      if (!Number.isInteger(len)) return undefined
    } else {
      len = Number(l)
      if (!Number.isInteger(len) || len < 0 || len > 32) return undefined
    }
  }
  return {addr: ipToInt(a), len}
}

function maskOf(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0
}

export function cidrContains(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr)
  if (!c || !isIPv4(ip)) return false
  const m = maskOf(c.len)
  return (c.addr & m) >>> 0 === (ipToInt(ip) & m) >>> 0
}

/** The network address of a CIDR: 10.244.1.0/24 → 10.244.1.0 (flannel's VTEP address for that node). */
export function networkAddress(cidr: string): string {
  const c = parseCidr(cidr)
  if (!c) throw new Error(`not an IPv4 CIDR: ${cidr}`)
  return intToIp((c.addr & maskOf(c.len)) >>> 0)
}

export function prefixLength(cidr: string): number {
  return parseCidr(cidr)?.len ?? 32
}

/** The first usable address, e.g. 10.244.1.1 for 10.244.1.0/24 (the ptp-style gateway). */
export function firstHost(cidr: string): string {
  return intToIp((ipToInt(networkAddress(cidr)) + 1) >>> 0)
}
