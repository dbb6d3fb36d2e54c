import type {Attachment} from '../types.js'
import type {Reservation, Store} from './store.js'

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

  lastReserved(rangeSet: number): string | undefined {
    return this.last.get(rangeSet)
  }

  setLastReserved(rangeSet: number, ip: string): void {
    this.last.set(rangeSet, ip)
  }

  close(): void {}
}
