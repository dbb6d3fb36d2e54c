import {closeSync, linkSync, mkdirSync, readdirSync, renameSync, unlinkSync} from 'node:fs'

import {CniError, CODE} from '../errors.js'
import {parseIP} from '../../core/ip.js'
import {openOwnDir, readBounded, writeNew} from '../../process/safe-fs.js'
import type {Attachment} from '../types.js'
import {acquireLock} from './lock.js'
import type {Reservation, Store} from './store.js'

// host-local's on-disk format (plugins/ipam/host-local/backend/disk): the file is named by the
// address and holds "<containerID>\r\n<ifname>".
const LINE_BREAK = '\r\n'
const SCRATCH = /\.(\d+)\.\d+$/
// A reservation holds a container ID and an interface name; anything longer was not written by us.
const MAX_FILE = 4096

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
 *
 * The network directory is opened once (O_NOFOLLOW, and it must be ours and writable by no one else)
 * and every file is reached through that open directory (/proc/self/fd/N/<name>), so a symlink planted
 * at the directory, or the directory swapped for one later, cannot send a root write or unlink
 * elsewhere; files in it are read with O_NOFOLLOW and created with O_EXCL (src/process/safe-fs.ts).
 */
export class DiskStore implements Store {
  private scratchPath?: string
  private scratchOwner?: string
  private fd?: number

  constructor(readonly dir: string) {}

  /** The store of `network`; with `create`, its directory is made if missing. Close it when done. */
  static open(dataDir: string, network: string, create: boolean): DiskStore {
    const store = new DiskStore(`${dataDir}/${network}`)
    store.openDir(create)
    return store
  }

  /** Opens the directory (making it first with `create`); leaves the store empty if it does not exist. */
  private openDir(create: boolean): void {
    if (this.fd !== undefined) return
    try {
      if (create) mkdirSync(this.dir, {recursive: true, mode: 0o755})
      this.fd = openOwnDir(this.dir)
    } catch (error) {
      const e = error as NodeJS.ErrnoException
      if (e.code === 'ENOENT' && !create) return
      throw new CniError(
        CODE.IO_FAILURE,
        `refusing the IPAM store ${this.dir}: ${['ENOTDIR', 'ELOOP', 'EEXIST'].includes(e.code ?? '') ? 'a symlink or not a directory' : e.message}`,
        "it must be a directory (not a symlink) owned by the plugin's user and writable by no one else",
      )
    }
  }

  /** A file of the store, reached through the open directory. */
  private at(name: string): string {
    if (this.fd === undefined) throw new CniError(CODE.IO_FAILURE, `the IPAM store ${this.dir} does not exist`)
    return `/proc/self/fd/${this.fd}/${name}`
  }

  lock(): Promise<() => void> {
    this.openDir(true)
    return acquireLock(this.at('lock'), undefined, `${this.dir}/lock`)
  }

  private names(): string[] {
    if (this.fd === undefined) return []
    try {
      return readdirSync(this.at('.'))
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
      if (this.fd === undefined) return undefined
      text = readBounded(this.at(ip), MAX_FILE)
    } catch {
      // Gone, or not a regular file we wrote (a symlink is never followed): no one's reservation.
      return undefined
    }
    // Exactly as written: trimming would strip characters a legal interface name may end with (String
    // trim also takes U+FEFF and the Unicode spaces), and the release that compares the owner with
    // CNI_IFNAME would then miss, leaking the address.
    const [containerID = '', ifname = ''] = text.split(LINE_BREAK)
    return {containerID, ifname: ifname.replace(/\n$/, '')}
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
      this.dropScratch()
      this.scratchPath = this.createScratch('.reserve', content)
      this.scratchOwner = content
    }
    try {
      linkSync(this.scratchPath!, this.at(ip))
      return true
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw error
    }
  }

  /** A new file `<prefix>.<pid>.<n>` (O_EXCL: a name someone planted is skipped, never written through). */
  private createScratch(prefix: string, content: string): string {
    for (let tries = 0; ; tries++) {
      const path = this.at(`${prefix}.${process.pid}.${++seq}`)
      try {
        writeNew(path, content)
        return path
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || tries >= 100) throw error
      }
    }
  }

  release(ip: string): void {
    if (this.fd === undefined) return
    try {
      // unlink(2) removes a symlink itself, never its target.
      unlinkSync(this.at(ip))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
  }

  lastReserved(rangeSet: number): string | undefined {
    if (this.fd === undefined) return undefined
    try {
      const ip = readBounded(this.at(`last_reserved_ip.${rangeSet}`), MAX_FILE).trim()
      return parseIP(ip) ? ip : undefined
    } catch {
      return undefined
    }
  }

  setLastReserved(rangeSet: number, ip: string): void {
    // A hint only; written via rename (which replaces a symlink, never writes through it) so a reader
    // never sees half of it.
    renameSync(this.createScratch('.last', ip), this.at(`last_reserved_ip.${rangeSet}`))
  }

  /** Removes scratch files left by processes that died (kill -9 between write and unlink). */
  sweep(): string[] {
    const removed: string[] = []
    for (const n of this.names()) {
      if (parseIP(n)) continue
      const m = n.match(SCRATCH)
      if (m && !alive(Number(m[1]))) {
        try {
          unlinkSync(this.at(n))
          removed.push(n)
        } catch {
          // Raced with another sweeper.
        }
      }
    }
    return removed
  }

  close(): void {
    this.dropScratch()
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }

  private dropScratch(): void {
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
