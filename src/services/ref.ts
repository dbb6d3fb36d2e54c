/** The reference plugin as `cnidbg ref install` puts it on a node. */
import {existsSync, mkdirSync, rmdirSync} from 'node:fs'
import {dirname, resolve} from 'node:path'

import {EnvironmentError, UsageError} from '../core/errors.js'
import {installRefPlugins, type RefInstallOptions, type RefInstallResult} from '../reference-plugin/install.js'

export type {RefInstallOptions, RefInstallResult} from '../reference-plugin/install.js'

// A path that can't be a directory there: the flag is wrong (exit 2).
const PATH_ERRORS: Record<string, string> = {
  EEXIST: 'a file is in the way',
  EISDIR: 'a directory is in the way',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is a file, not a directory',
}
// The path is right but this machine won't let us write there (exit 3).
const MACHINE_ERRORS: Record<string, string> = {
  EACCES: 'permission denied',
  EDQUOT: 'disk quota exceeded',
  ENOSPC: 'no space left on the device',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ETXTBSY: 'a running program is in the way (text file busy)',
}

/**
 * Node's recursive mkdir reports ENOENT for any failure below the first missing directory (e.g. on
 * a read-only file system): make that one directory alone to learn the real reason.
 */
function realMkdirError(e: NodeJS.ErrnoException): NodeJS.ErrnoException {
  if (e.code !== 'ENOENT' || e.syscall !== 'mkdir' || typeof e.path !== 'string') return e
  let p = resolve(e.path)
  while (dirname(p) !== p && !existsSync(dirname(p))) p = dirname(p)
  try {
    mkdirSync(p)
    rmdirSync(p)
    return e
  } catch (error) {
    return error as NodeJS.ErrnoException
  }
}

/** A filesystem error from installing as a one-line error naming the flag, or undefined if it is not one. */
function installError(err: unknown, dirs: {binDir: string; confDir: string}): Error | undefined {
  if (!(err instanceof Error)) return undefined
  const e = realMkdirError(err as NodeJS.ErrnoException)
  const code = e.code ?? ''
  const why = PATH_ERRORS[code] ?? MACHINE_ERRORS[code]
  if (!why || typeof e.path !== 'string') return undefined
  // The flag whose directory holds the path (the longer one, if one dir is inside the other).
  const under = (d: string) => (resolve(e.path as string) + '/').startsWith(resolve(d) + '/')
  const conf =
    under(dirs.confDir) && (!under(dirs.binDir) || resolve(dirs.confDir).length > resolve(dirs.binDir).length)
  const flag = conf ? '--conf-dir' : '--bin-dir'
  const dir = flag === '--conf-dir' ? dirs.confDir : dirs.binDir
  const message = `Can't install into ${flag} ${dir}: ${e.path}: ${why} (${code}).`
  const suggestions = [`Pick another directory: ${flag} DIR`]
  if (PATH_ERRORS[code]) return new UsageError(message, {cause: err, code: 'INSTALL_PATH', suggestions})
  suggestions.unshift(
    'Run as root, on a writable file system with free space (the default dirs are /opt/cni/bin and /etc/cni/net.d)',
  )
  return new EnvironmentError(message, {cause: err, code: 'INSTALL_NOT_WRITABLE', suggestions})
}

/** Installs the plugins and the conflist; a directory that can't take them is one clear error. */
export function installRef(opts: RefInstallOptions): RefInstallResult {
  try {
    return installRefPlugins(opts)
  } catch (error) {
    throw installError(error, {binDir: opts.binDir, confDir: opts.confDir}) ?? error
  }
}
