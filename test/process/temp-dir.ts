import {statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {EXIT} from '../../src/core/exit-codes.js'
import {makeTempDir} from '../../src/process/temp-dir.js'

/** Runs `fn` with TMPDIR set to `dir` (or unset), putting it back after. */
function withTmpdir<T>(dir: string | undefined, fn: () => T): T {
  const was = process.env.TMPDIR
  if (dir === undefined) delete process.env.TMPDIR
  else process.env.TMPDIR = dir
  try {
    return fn()
  } finally {
    if (was === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = was
  }
}

t.test('a private directory under TMPDIR, named by the prefix', async (t) => {
  const base = t.testdir({})
  const dir = withTmpdir(base, () => makeTempDir('cnidbg-x-'))
  t.match(dir, new RegExp(`^${base}/cnidbg-x-[A-Za-z0-9]{6}$`))
  const st = statSync(dir)
  t.ok(st.isDirectory())
  t.equal(st.mode & 0o777, 0o700, 'only its owner may enter it')
})

t.test('an unusable TMPDIR is the environment, exit 3, naming TMPDIR and what is wrong', async (t) => {
  const base = t.testdir({})
  const file = join(base, 'a-file')
  writeFileSync(file, '')
  const cases: Array<[string, string]> = [
    [join(base, 'missing'), 'it does not exist'],
    [file, 'it is not a directory'],
  ]
  for (const [dir, why] of cases) {
    const err = withTmpdir(dir, () => t.throws(() => makeTempDir('cnidbg-x-')))
    t.match(err, {
      message: `Can't create a temporary directory in TMPDIR (${dir}): ${why}.`,
      cnidbgCode: 'TMPDIR_UNUSABLE',
      oclif: {exit: EXIT.ENVIRONMENT},
      suggestions: ['Set TMPDIR to a writable directory, or unset it to use /tmp.'],
    })
  }
})

t.test('any other failure is not dressed up as the environment', async (t) => {
  // A prefix naming a directory that does not exist inside a good TMPDIR is the caller's bug.
  const base = t.testdir({})
  const err = withTmpdir(base, () => t.throws(() => makeTempDir('no-such-dir/x-')))
  t.match(err, {code: 'ENOENT'})
  t.notOk((err as {cnidbgCode?: string}).cnidbgCode)
})
