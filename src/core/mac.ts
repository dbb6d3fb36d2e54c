/** MAC addresses as the kernel prints them (lower-case, colon-separated). */
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/

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

/**
 * A random locally administered unicast MAC (first octet x2/x6/xa/xe), like the kernel's
 * random_ether_addr. Callers that need unguessable bytes pass them (node:crypto); the plugin's hot path
 * takes Math.random, since loading node:crypto costs start-up time on every ADD.
 */
export function randomMac(bytes?: Uint8Array): string {
  if (bytes && bytes.length < 6) throw new Error('randomMac needs 6 bytes')
  const b = bytes ? Array.from(bytes.slice(0, 6)) : Array.from({length: 6}, () => Math.floor(Math.random() * 256))
  b[0] = (b[0]! & 0xfe) | 0x02
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':')
}
