import {statSync} from 'node:fs'
import {delimiter, join} from 'node:path'

import {UsageError} from '../core/errors.js'

export const DEFAULT_CNI_PATH = ['/opt/cni/bin', '/usr/lib/cni']

export function splitCniPath(text: string | undefined): string[] {
  return (text ?? '').split(delimiter).filter(Boolean)
}

/**
 * libcni FindInPath (R4): the first regular file `<dir>/<type>` along CNI_PATH, earlier dirs win.
 * A type with a path separator is rejected: the config names a binary, never a path.
 */
export function findPlugin(type: string, cniPath: readonly string[]): string {
  if (!type || type.includes('/'))
    throw new UsageError(`Plugin type "${type}" is not a binary name.`, {code: 'INVALID_PLUGIN_TYPE'})
  for (const dir of cniPath) {
    const candidate = join(dir, type)
    try {
      if (statSync(candidate).isFile()) return candidate
    } catch {
      // not in this dir
    }
  }
  throw new UsageError(`Plugin "${type}" not found in CNI_PATH [${cniPath.join(', ')}].`, {
    code: 'PLUGIN_NOT_FOUND',
    suggestions: [
      'Pass the directory that holds it: --cni-path /opt/cni/bin:/usr/lib/cni (or set CNI_PATH).',
      'Debian ships the upstream plugins in /usr/lib/cni (package containernetworking-plugins).',
    ],
  })
}
