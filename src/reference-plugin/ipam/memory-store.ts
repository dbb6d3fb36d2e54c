import type {Attachment} from '../types.js'
import {sameOwner, type Reservation, type Store} from './store.js'

/** An in-memory Store for unit tests (host-local's backend/testing/fake_store.go). */
export class MemoryStore implements Store {
  readonly reservations = new Map<string, Attachment>()
  readonly last = new Map<number, string>()
  locked = false

  async lock(): Promise<() => void> {
    this.locked = true
    return () => {
      this.locked = false
    }
  }

  reserve(ip: string, owner: Attachment): boolean {
    if (this.reservations.has(ip)) return false
    this.reservations.set(ip, {...owner})
    return true
  }

  release(ip: string): void {
    this.reservations.delete(ip)
  }

  reservedIPs(): string[] {
    return [...this.reservations.keys()]
  }

  list(): Reservation[] {
    return [...this.reservations].map(([ip, o]) => ({ip, ...o}))
  }

  byAttachment(owner: Attachment): string[] {
    return this.list()
      .filter((r) => sameOwner(r, owner))
      .map((r) => r.ip)
  }

  releaseByAttachment(owner: Attachment): string[] {
    const ips = this.byAttachment(owner)
    for (const ip of ips) this.release(ip)
    return ips
  }

  lastReserved(rangeSet: number): string | undefined {
    return this.last.get(rangeSet)
  }

  setLastReserved(rangeSet: number, ip: string): void {
    this.last.set(rangeSet, ip)
  }

  close(): void {}
}
