import type {Attachment} from '../types.js'

/** One reservation: an address and the attachment holding it. */
export interface Reservation extends Attachment {
  ip: string
}

/**
 * cnidbg-ipam's state, keyed by (network, containerID, ifname) as SPEC 0.4.0 "General considerations"
 * recommends. Backed by disk-store.ts; memory-store.ts is the fake for unit tests (host-local's
 * backend/store.go has the same split).
 */
export interface Store {
  /** Takes the network's lock (for whole-store operations: GC); resolves to its release function. */
  lock(): Promise<() => void>
  /** Atomically claims `ip` for the attachment. False when someone holds it already. */
  reserve(ip: string, owner: Attachment): boolean
  release(ip: string): void
  /** Every reserved address (the addresses only, no owners: cheap). */
  reservedIPs(): string[]
  /** Every reservation with its owner. */
  list(): Reservation[]
  lastReserved(rangeSet: number): string | undefined
  setLastReserved(rangeSet: number, ip: string): void
  /** Called once the ADD is done with the store (drops scratch files). */
  close(): void
}

export function sameOwner(a: Attachment, b: Attachment): boolean {
  return a.containerID === b.containerID && (a.ifname === b.ifname || a.ifname === '' || b.ifname === '')
}

/**
 * Whether a reservation belongs to one of `valid`, by sameOwner's rule: GC keeps what DEL of a valid
 * attachment would release, such as a host-local reservation written without an ifname.
 */
export function heldByAny(valid: readonly Attachment[]): (r: Attachment) => boolean {
  const ifnames = new Map<string, Set<string>>()
  for (const a of valid) ifnames.set(a.containerID, (ifnames.get(a.containerID) ?? new Set()).add(a.ifname))
  return (r) => {
    const names = ifnames.get(r.containerID)
    return names !== undefined && (r.ifname === '' || names.has('') || names.has(r.ifname))
  }
}

/** The addresses the attachment holds (any store: both derive it from list()). */
export function heldBy(store: Store, owner: Attachment): string[] {
  return store
    .list()
    .filter((r) => sameOwner(r, owner))
    .map((r) => r.ip)
}

/** Releases every address the attachment holds; returns them. */
export function releaseHeldBy(store: Store, owner: Attachment): string[] {
  const ips = heldBy(store, owner)
  for (const ip of ips) store.release(ip)
  return ips
}
