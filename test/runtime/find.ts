import {chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {findPlugin, splitCniPath} from '../../src/runtime/find.js'
import {cnidbgError} from '../helpers/errors.js'

const root = mkdtempSync('/tmp/cnidbgtest-find-')
t.teardown(() => rmSync(root, {force: true, recursive: true}))
const a = join(root, 'a')
const b = join(root, 'b')
mkdirSync(a)
mkdirSync(b)
for (const [dir, name] of [
  [a, 'both'],
  [b, 'both'],
  [b, 'only-b'],
]) {
  writeFileSync(join(dir!, name!), '#!/bin/sh\n')
  chmodSync(join(dir!, name!), 0o755)
}
mkdirSync(join(a, 'a-dir'))

t.test('splitCniPath splits on ":" and drops empty parts', async (t) => {
  t.same(splitCniPath('/opt/cni/bin::/usr/lib/cni:'), ['/opt/cni/bin', '/usr/lib/cni'])
  t.same(splitCniPath(undefined), [])
})

t.test('earlier CNI_PATH dirs win (R4)', async (t) => {
  t.equal(findPlugin('both', [a, b]), join(a, 'both'))
  t.equal(findPlugin('both', [b, a]), join(b, 'both'))
  t.equal(findPlugin('only-b', [a, b]), join(b, 'only-b'))
})

t.test('a directory is not a plugin', async (t) => {
  t.throws(() => findPlugin('a-dir', [a]), cnidbgError('PLUGIN_NOT_FOUND'))
})

t.test('a missing plugin names the path and says what to do', async (t) => {
  const err = t.throws(() => findPlugin('nope', [a, b]), cnidbgError('PLUGIN_NOT_FOUND', 2)) as unknown as {
    message: string
    suggestions: string[]
  }
  t.match(err.message, 'nope')
  t.match(err.message, a)
  t.match(err.suggestions.join(' '), '--cni-path')
})

t.test('a type with a path separator is refused, even if the file exists', async (t) => {
  t.throws(() => findPlugin(join(a, 'both'), [a]), cnidbgError('INVALID_PLUGIN_TYPE'))
  t.throws(() => findPlugin('../a/both', [b]), cnidbgError('INVALID_PLUGIN_TYPE'))
  t.throws(() => findPlugin('', [a]), cnidbgError('INVALID_PLUGIN_TYPE'))
})
