import {spawn} from 'node:child_process'
import {mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {readBounded, readFileBounded} from '../../src/process/safe-fs.js'

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
