/**
 * The spec versions both reference plugins speak, as data. Kept here rather than imported from
 * src/runtime so the plugin bundle stays independent of the CLI.
 */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const
export const CURRENT_VERSION = '1.1.0'

function parts(v: string): number[] {
  return v.split('.').map((n) => Number.parseInt(n, 10) || 0)
}

export function atLeast(v: string, min: string): boolean {
  const a = parts(v)
  const b = parts(min)
  for (let i = 0; i < 3; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0)
    if (d !== 0) return d > 0
  }
  return true
}

export const isSupported = (v: string): boolean => (SUPPORTED_VERSIONS as readonly string[]).includes(v)
/** 0.3.x/0.4.0 results carry ips[].version; 1.x results must not. */
export const hasIpVersionField = (v: string): boolean => !atLeast(v, '1.0.0')
export const hasCheck = (v: string): boolean => atLeast(v, '0.4.0')
export const hasGc = (v: string): boolean => atLeast(v, '1.1.0')
export const hasStatus = (v: string): boolean => atLeast(v, '1.1.0')
/** interfaces[].mtu/socketPath/pciID and routes[].mtu/advmss/priority/table/scope. */
export const hasExtendedFields = (v: string): boolean => atLeast(v, '1.1.0')
