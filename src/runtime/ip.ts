/** Small, dependency-free IP/CIDR helpers (node:net validates the address part). */
import {isIP} from 'node:net'

export function isPlainIp(s: unknown): s is string {
  return typeof s === 'string' && isIP(s) !== 0
}

export function parseCidr(s: unknown): {address: string; prefix: number; family: 4 | 6} | undefined {
  if (typeof s !== 'string') return undefined
  const slash = s.indexOf('/')
  if (slash === -1) return undefined
  const address = s.slice(0, slash)
  const prefixText = s.slice(slash + 1)
  const fam = isIP(address)
  if (fam === 0 || !/^\d{1,3}$/.test(prefixText)) return undefined
  const prefix = Number(prefixText)
  if (prefix > (fam === 4 ? 32 : 128)) return undefined
  return {address, family: fam as 4 | 6, prefix}
}

export const isCidr = (s: unknown): boolean => parseCidr(s) !== undefined
