import {linkSync, readFileSync, renameSync, unlinkSync} from 'node:fs'

import {CniError, CODE} from '../errors.js'
import {readBounded, writeNew} from '../../process/safe-fs.js'

/**
 * A lock file whose holder can die: `<path>` holds "<pid> <start time>", created with link(2) so it
 * appears complete or not at all. A holder that is gone (kill -9) is taken over. It serialises the
 * whole-store operations (GC); allocations never rest on it, each address is claimed with link(2).
 */

/**
 * The start time of process `pid` (field 22 of /proc/<pid>/stat), or undefined when it does not run:
 * a process that has exited is gone even while its parent has not waited for it (state Z or X), so a
 * lock holder or a plugin server's client that died is seen as dead at once.
 */
export function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[19]
  } catch {
    return undefined
  }
}

/** True when the process that wrote `content` still runs (same pid and same start time). */
export function holderAlive(content: string): boolean {
  const [pidText, start] = content.trim().split(' ')
  const pid = Number(pidText)
  if (!Number.isInteger(pid) || pid <= 0) return false
  const now = startTime(pid)
  return now !== undefined && now === start
}

let seq = 0
const scratch = (path: string): string => `${path}.${process.pid}.${++seq}`
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function readOr(path: string): string | undefined {
  try {
    // "<pid> <start time>\n": a symlink, a FIFO or anything longer is no live lock of ours, so it
    // reads as a dead holder's (taken over: moved aside and removed, never followed).
    return readBounded(path, 256)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return undefined
    // Only what is certainly no lock of ours counts as a dead holder's; an error reading a live
    // holder's lock (EMFILE, EIO…) must not let two holders in at once.
    if (code === 'ELOOP' || code === 'EFTYPE' || code === 'EFBIG') return ''
    throw error
  }
}

/**
 * Takes the lock at `path`, waiting up to `timeoutMs` (then code 11: try again); `shown` names it in
 * messages. The scratch file is created with O_EXCL, never through a planted symlink.
 */
export async function acquireLock(path: string, timeoutMs = 15_000, shown = path): Promise<() => void> {
  const me = `${process.pid} ${startTime(process.pid) ?? ''}\n`
  let mine = scratch(path)
  for (let tries = 0; ; tries++, mine = scratch(path)) {
    try {
      writeNew(mine, me)
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || tries >= 100) throw error
    }
  }
  const deadline = Date.now() + timeoutMs
  let delay = 1
  try {
    for (;;) {
      try {
        linkSync(mine, path)
        break
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      }
      const held = readOr(path)
      if (held !== undefined && !holderAlive(held)) {
        takeOver(path, held)
        continue
      }
      if (Date.now() > deadline) {
        throw new CniError(
          CODE.TRY_AGAIN,
          `timed out waiting for the IPAM lock ${shown}`,
          `held by pid ${held?.split(' ')[0] ?? '?'}; retry, or remove the file if that process is stuck`,
        )
      }
      await sleep(delay + Math.random() * delay)
      delay = Math.min(delay * 2, 20)
    }
  } finally {
    unlinkSync(mine)
  }
  return () => {
    // Only remove it if it is still ours (a takeover race could, in theory, have replaced it).
    if (readOr(path) === me) {
      try {
        unlinkSync(path)
      } catch {
        // Gone already.
      }
    }
  }
}

/**
 * Moves a dead holder's lock aside. rename(2) is atomic, so of several processes that all saw the
 * same dead holder only one moves the file; if what it moved turns out to be a live lock that a
 * faster process had just taken, it puts that back.
 */
function takeOver(path: string, stale: string): void {
  const aside = scratch(`${path}.stale`)
  try {
    renameSync(path, aside)
  } catch {
    return
  }
  if (readOr(aside) !== stale) {
    try {
      linkSync(aside, path)
    } catch {
      // Someone took the lock meanwhile; the allocations stay safe (link(2) per address).
    }
  }
  try {
    unlinkSync(aside)
  } catch {
    // Gone already.
  }
}
