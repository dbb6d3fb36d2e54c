import {spawn} from 'node:child_process'
import {mkdtempSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {run} from '../../src/process/exec.js'
import {mkdirParents, readBounded, readFileBounded} from '../../src/process/safe-fs.js'
import {ROOT} from '../helpers/capture.js'

const dir = mkdtempSync('/tmp/cnidbgtest-safe-fs-')
t.teardown(() => rmSync(dir, {force: true, recursive: true}))
const file = join(dir, 'a.conf')
writeFileSync(file, '{"name":"a"}')
const link = join(dir, 'link.conf')
symlinkSync(file, link)

t.test('readBounded: a regular file, never through a symlink', async (t) => {
  t.equal(readBounded(file, 100), '{"name":"a"}')
  t.throws(() => readBounded(link, 100), {code: 'ELOOP'})
  t.throws(() => readBounded(file, 5), {code: 'EFBIG'})
})

t.test('readFileBounded: follows a symlink, refuses devices and files over the bound', async (t) => {
  t.equal(readFileBounded(link, 100), '{"name":"a"}', 'a ConfigMap-style symlink is read')
  t.throws(() => readFileBounded('/dev/zero', 100), {code: 'EFTYPE', message: /not a regular file/})
  t.throws(() => readFileBounded('/dev/zero', 100, {pipe: true}), {code: 'EFTYPE', message: /or a pipe/})
  t.throws(() => readFileBounded(dir, 100), {code: 'EFTYPE'}, 'a directory')
  const huge = join(dir, 'huge.conf')
  writeFileSync(huge, '')
  truncateSync(huge, 1024 ** 3)
  t.throws(() => readFileBounded(huge, 1024 * 1024), {code: 'EFBIG'}, 'a 1 GiB file: no more than the bound is read')
})

t.test('readFileBounded with pipe reads what a shell <(…) passes: a FIFO with its writer', async (t) => {
  const fifo = join(dir, 'fifo')
  const mk = spawn('mkfifo', [fifo])
  await new Promise((resolve) => mk.on('exit', resolve))
  // The writer opens the FIFO, as the shell's process substitution does, and writes the config.
  const writer = spawn('sh', ['-c', 'printf "%s" "$1" > "$2"', 'sh', '{"name":"piped"}', fifo])
  t.teardown(() => writer.kill('SIGKILL'))
  t.equal(readFileBounded(fifo, 100, {pipe: true}), '{"name":"piped"}')
})

t.test('mkdirParents makes the missing levels with the mode, and refuses a file on the way', async (t) => {
  const deep = join(dir, 'm', 'a', 'b')
  mkdirParents(deep, 0o700)
  for (const d of [join(dir, 'm'), join(dir, 'm', 'a'), deep]) t.equal(statSync(d).mode & 0o777, 0o700, d)
  t.doesNotThrow(() => mkdirParents(deep), 'an existing dir is fine')
  t.throws(() => mkdirParents(join(file, 'x', 'y')), {code: 'ENOTDIR', path: file}, 'a file as an ancestor')
  t.throws(() => mkdirParents(file), {code: 'ENOTDIR'}, 'a file as the path')
})

t.test('mkdirParents under /proc: ENOENT at once, where a recursive mkdirSync spins for good', async (t) => {
  // In a child under a timeout that SIGKILLs it: a regression hangs on the CPU, and no signal stops it.
  const code = `import {mkdirParents} from ${JSON.stringify(join(ROOT, 'src/process/safe-fs.ts'))}
try { mkdirParents('/proc/nope/x') } catch (e) { process.stdout.write(e.code) }`
  const loader = join(ROOT, 'scripts', 'test-loader.mjs')
  const r = await run(process.execPath, [`--import=${loader}`, '--input-type=module', '-e', code], {timeoutMs: 60_000})
  t.notOk(r.timedOut, 'ended by itself')
  t.equal(r.stdout, 'ENOENT', r.stderr)
})
