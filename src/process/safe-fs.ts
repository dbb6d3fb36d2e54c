import {closeSync, constants, fstatSync, mkdirSync, openSync, readSync, statSync, writeSync} from 'node:fs'
import {dirname, resolve} from 'node:path'

/**
 * File access for directories another local user may have planted something in (the IPAM store, the
 * plugin server's directory, a result cache dir given to `cnidbg cache`), and for configs. cnidbg and
 * its plugin run as root, so following a planted symlink would make them read, write or truncate any
 * file on the node, and opening a planted FIFO would block them for good. Nothing here reads without a
 * bound, opens a FIFO it was not asked to read, or writes into a file it did not just create
 * (O_EXCL); only readFileBounded, for configs, follows a symlink in the last component.
 */

const {O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY} = constants

/** A refusal of this module: an errno-style code and message, like node:fs's own, and the bare reason. */
export type SafeFsError = NodeJS.ErrnoException & {reason: string}

function fsError(code: string, reason: string, path: string): SafeFsError {
  return Object.assign(new Error(`${code}: ${reason}, '${path}'`), {code, path, reason})
}

/**
 * Reads a regular file of at most `max` bytes. A symlink (ELOOP), a FIFO or any other non-regular file
 * (EFTYPE), a file owned by someone other than `owner` (EPERM) and a longer file (EFBIG) are refused.
 */
export function readBounded(path: string, max: number, owner?: number): string {
  const fd = openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw fsError('EFTYPE', 'not a regular file', path)
    if (owner !== undefined && st.uid !== owner) throw fsError('EPERM', `owned by uid ${st.uid}`, path)
    return readFd(fd, st.size, max, path)
  } finally {
    closeSync(fd)
  }
}

/**
 * Reads a file a person named or a config dir lists, of at most `max` bytes. Symlinks are followed (a
 * ConfigMap volume's files are symlinks), but only a regular file is read, or with `pipe` a FIFO (what
 * a shell's `<(…)` passes), never a device such as /dev/zero; without `pipe` a FIFO is refused without
 * blocking in open(2), where no signal handler runs (EFTYPE). Longer than `max` is EFBIG.
 */
export function readFileBounded(path: string, max: number, opts: {pipe?: boolean} = {}): string {
  const fd = openSync(path, O_RDONLY | (opts.pipe ? 0 : O_NONBLOCK))
  try {
    const st = fstatSync(fd)
    if (!st.isFile() && !(opts.pipe && st.isFIFO()))
      throw fsError('EFTYPE', opts.pipe ? 'not a regular file or a pipe' : 'not a regular file', path)
    return readFd(fd, st.size, max, path)
  } finally {
    closeSync(fd)
  }
}

/** Reads `fd` to its end, at most `max` bytes (its size is a hint only: a /proc file says 0). */
function readFd(fd: number, size: number, max: number, path: string): string {
  let buf = Buffer.alloc(Math.min(max + 1, Math.max(size + 1, 4096)))
  let n = 0
  for (;;) {
    if (n === buf.length) {
      if (n > max) throw fsError('EFBIG', `longer than ${max} bytes`, path)
      const bigger = Buffer.alloc(Math.min(max + 1, buf.length * 2))
      buf.copy(bigger)
      buf = bigger
    }
    const got = readSync(fd, buf, n, buf.length - n, null)
    if (got === 0) return buf.toString('utf8', 0, n)
    n += got
  }
}

/** Creates `path` (never an existing file, never through a symlink) holding `content`. */
export function writeNew(path: string, content: string, mode = 0o644): void {
  const fd = openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode)
  try {
    const buf = Buffer.from(content)
    for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off)
  } finally {
    closeSync(fd)
  }
}

/**
 * Opens a directory that must be ours: not a symlink, owned by our effective uid, and writable by no
 * one else (who could otherwise plant files in it, or swap it out). Returns its fd.
 */
export function openOwnDir(path: string): number {
  const fd = openSync(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
  try {
    const st = fstatSync(fd)
    const euid = process.geteuid?.() ?? st.uid
    if (st.uid !== euid) throw fsError('EPERM', `owned by uid ${st.uid}, not ${euid}`, path)
    if (st.mode & 0o022) throw fsError('EPERM', `writable by others (mode ${(st.mode & 0o777).toString(8)})`, path)
    return fd
  } catch (error) {
    closeSync(fd)
    throw error
  }
}

/**
 * `mkdir -p`: makes `path` and its missing parents, one level at a time, each with `mode`. Node's
 * mkdirSync(path, {recursive: true}) loops for good, on the CPU and deaf to signals, where a level
 * can't be made and mkdir(2) keeps saying ENOENT (/proc/nope/x): here that ENOENT is the error. An
 * existing ancestor that is not a directory is ENOTDIR. Symlinks are followed, as mkdir -p does.
 */
export function mkdirParents(path: string, mode = 0o777): void {
  const missing: string[] = []
  for (let p = resolve(path); ; p = dirname(p)) {
    let isDir: boolean
    try {
      isDir = statSync(p).isDirectory()
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(p) === p) throw error
      missing.push(p)
      continue
    }
    if (!isDir) throw fsError('ENOTDIR', 'a part of the path is not a directory', p)
    break
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir, {mode})
    } catch (error) {
      // Made by someone else meanwhile: as good, if it is a directory.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(dir).isDirectory()) throw error
    }
  }
}
