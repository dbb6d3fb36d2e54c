/**
 * CNI spec versions as data, so version rules live in one place: loop over them and branch on
 * capability predicates, never compare version strings inline. Mirrors containernetworking/plugins
 * pkg/testutils/testing.go.
 */
export const ALL_SPEC_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const
export type SpecVersion = (typeof ALL_SPEC_VERSIONS)[number]
export const CURRENT_VERSION: SpecVersion = '1.1.0'

export function isSpecVersion(v: string): v is SpecVersion {
  return (ALL_SPEC_VERSIONS as readonly string[]).includes(v)
}

/** Semver compare for x.y.z strings; non-numeric parts compare as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((n) => Number.parseInt(n, 10) || 0)
  const pb = b.split('.').map((n) => Number.parseInt(n, 10) || 0)
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

export const atLeast = (v: string, min: string): boolean => compareVersions(v, min) >= 0

/** 0.1.0/0.2.0 results use ip4/ip6 instead of interfaces/ips. */
export const hasLegacyResult = (v: string): boolean => !atLeast(v, '0.3.0')
/** 0.3.x/0.4.0 results carry ips[].version. */
export const hasIpVersionField = (v: string): boolean => atLeast(v, '0.3.0') && !atLeast(v, '1.0.0')
export const hasChaining = (v: string): boolean => atLeast(v, '0.3.0')
export const hasCheck = (v: string): boolean => atLeast(v, '0.4.0')
export const hasPrevResultOnDel = (v: string): boolean => atLeast(v, '0.4.0')
export const hasGc = (v: string): boolean => atLeast(v, '1.1.0')
export const hasStatus = (v: string): boolean => atLeast(v, '1.1.0')
/** The 1.1.0 result fields: interfaces[].mtu/socketPath/pciID, routes[].mtu/advmss/priority/table/scope. */
export const hasExtendedResultFields = (v: string): boolean => atLeast(v, '1.1.0')
