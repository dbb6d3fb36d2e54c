import {mkdtempSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {EnvironmentError} from '../core/errors.js'

/** What mkdtemp's error says of the temp dir itself (the prefix is one plain name, so not of it). */
const UNUSABLE: Record<string, string> = {
  EACCES: 'it is not writable',
  EPERM: 'it is not writable',
  EROFS: 'it is on a read-only filesystem',
  ENOSPC: 'its filesystem is full',
  EDQUOT: 'the disk quota is used up',
}

/**
 * A new private directory under the temp dir (TMPDIR, else /tmp), named `prefix` and six random
 * characters. A TMPDIR that names a missing, read-only or full place is the machine's state, so it is
 * reported as such (exit 3, naming TMPDIR), not as an internal error.
 */
export function makeTempDir(prefix: string): string {
  const base = tmpdir()
  try {
    return mkdtempSync(join(base, prefix))
  } catch (error) {
    const why = whyUnusable(base, (error as NodeJS.ErrnoException).code)
    if (!why) throw error
    const from = process.env.TMPDIR ? `TMPDIR (${base})` : base
    throw new EnvironmentError(`Can't create a temporary directory in ${from}: ${why}.`, {
      code: 'TMPDIR_UNUSABLE',
      cause: error,
      suggestions: [
        process.env.TMPDIR
          ? 'Set TMPDIR to a writable directory, or unset it to use /tmp.'
          : 'Make /tmp a writable directory, or set TMPDIR to one.',
      ],
    })
  }
}

/**
 * ENOENT and ENOTDIR may also come from a prefix that is not one name (a bug of ours), so for those the
 * temp dir itself is looked at.
 */
function whyUnusable(base: string, code: string | undefined): string | undefined {
  if (code !== 'ENOENT' && code !== 'ENOTDIR') return UNUSABLE[code ?? '']
  try {
    return statSync(base).isDirectory() ? undefined : 'it is not a directory'
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT'
      ? 'it does not exist'
      : 'a part of its path is not a directory'
  }
}
