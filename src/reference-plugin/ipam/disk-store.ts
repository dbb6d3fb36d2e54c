import {linkSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync} from 'node:fs'

import {parseIP} from '../ip.js'
import type {Attachment} from '../types.js'
import {acquireLock} from './lock.js'
import type {Reservation, Store} from './store.js'

// host-local's on-disk format (plugins/ipam/host-local/backend/disk): the file is named by the
// address and holds "<containerID>\r\n<ifname>".
const LINE_BREAK = '\r\n'
const SCRATCH = /\.(\d+)\.\d+$/

let seq = 0

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * The store as files under `<dataDir>/<network>/`, compatible with host-local's layout. A reservation
 * is created by writing its content to a scratch file and link(2)ing it to `<ip>`: link fails with
 * EEXIST when the address is taken, and the file appears with its owner already in it, so a process
 * killed at any point leaves either nothing or a reservation that DEL (by containerID+ifname) releases.
 */
export class DiskStore implements Store {
  private scratchPath?: string
  private scratchOwner?: string

  constructor(readonly dir: string) {}

  static open(dataDir: string, network: string, create: boolean): DiskStore {
    const store = new DiskStore(`${dataDir}/${network}`)
    if (create) mkdirSync(store.dir, {recursive: true, mode: 0o755})
    return store
  }

  lock(): Promise<() => void> {
    mkdirSync(this.dir, {recursive: true, mode: 0o755})
    return acquireLock(`${this.dir}/lock`)
  }

  private names(): string[] {
    try {
      return readdirSync(this.dir)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw error
    }
  }

  reservedIPs(): string[] {
    return this.names().filter((n) => parseIP(n) !== undefined)
  }

  private owner(ip: string): Attachment | undefined {
    let text: string
    try {
      text = readFileSync(`${this.dir}/${ip}`, 'utf8')
    } catch {
      return undefined
    }
    const [containerID = '', ifname = ''] = text.split(LINE_BREAK)
    return {containerID: containerID.trim(), ifname: ifname.trim()}
  }

  list(): Reservation[] {
    const out: Reservation[] = []
    for (const ip of this.reservedIPs()) {
      const o = this.owner(ip)
      if (o) out.push({ip, ...o})
    }
    return out
  }

  reserve(ip: string, owner: Attachment): boolean {
    const content = `${owner.containerID}${LINE_BREAK}${owner.ifname}`
    if (this.scratchOwner !== content) {
      this.close()
      this.scratchPath = `${this.dir}/.reserve.${process.pid}.${++seq}`
      writeFileSync(this.scratchPath, content, {mode: 0o644})
      this.scratchOwner = content
    }
    try {
      linkSync(this.scratchPath!, `${this.dir}/${ip}`)
      return true
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw error
    }
  }

  release(ip: string): void {
    try {
      unlinkSync(`${this.dir}/${ip}`)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
  }

  lastReserved(rangeSet: number): string | undefined {
    try {
      const ip = readFileSync(`${this.dir}/last_reserved_ip.${rangeSet}`, 'utf8').trim()
      return parseIP(ip) ? ip : undefined
    } catch {
      return undefined
    }
  }

  setLastReserved(rangeSet: number, ip: string): void {
    // A hint only; written via rename so a reader never sees half of it.
    const tmp = `${this.dir}/.last.${process.pid}.${++seq}`
    writeFileSync(tmp, ip)
    renameSync(tmp, `${this.dir}/last_reserved_ip.${rangeSet}`)
  }

  /** Removes scratch files left by processes that died (kill -9 between write and unlink). */
  sweep(): string[] {
    const removed: string[] = []
    for (const n of this.names()) {
      if (parseIP(n)) continue
      const m = n.match(SCRATCH)
      if (m && !alive(Number(m[1]))) {
        try {
          unlinkSync(`${this.dir}/${n}`)
          removed.push(n)
        } catch {
          // Raced with another sweeper.
        }
      }
    }
    return removed
  }

  close(): void {
    if (this.scratchPath) {
      try {
        unlinkSync(this.scratchPath)
      } catch {
        // Gone already.
      }
    }
    this.scratchPath = undefined
    this.scratchOwner = undefined
  }
}
