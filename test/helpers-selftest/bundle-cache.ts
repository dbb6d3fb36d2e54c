// The shared bundle cache (test/helpers/bundle-cache.ts): a bundle that several test files ask for at
// once is made once, and a lock a killed run left behind does not stop the next run from making it.
import {spawnSync} from 'node:child_process'
import {existsSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t, {type Test} from 'tap'

import {bundleKey, bundleLock, CACHE, cachedBundle} from '../helpers/bundle-cache.js'

/** A bundle no other run or test file asks for, its key, and everything of it removed at teardown. */
function unique(t: Test, label: string): {what: string; key: string; ours: () => string[]} {
  const what = `selftest-${label}-${process.pid}-${Math.random().toString(16).slice(2)}`
  const key = bundleKey(what)
  // Other test files use the cache meanwhile: only this key's entries (dir, temp dirs, lock) are ours.
  const ours = () => (existsSync(CACHE) ? readdirSync(CACHE).filter((e) => e.includes(key)) : [])
  t.teardown(() => {
    for (const e of ours()) rmSync(join(CACHE, e), {recursive: true, force: true})
  })
  return {what, key, ours}
}

t.test('callers asking at once get one bundle, made once', async (t) => {
  const {what, key, ours} = unique(t, 'once')
  let makes = 0
  const make = async (dir: string) => {
    makes++
    // Long enough that every other caller asks while this one is still making it.
    await new Promise((r) => setTimeout(r, 300))
    writeFileSync(join(dir, 'what'), what)
  }
  const dirs = await Promise.all([1, 2, 3, 4].map(() => cachedBundle(what, make)))
  t.equal(makes, 1, 'made by one caller; the others waited for it')
  t.same(new Set(dirs), new Set([join(CACHE, key)]), 'all got the one directory')
  t.equal(readFileSync(join(dirs[0]!, 'what'), 'utf8'), what)
  t.same(ours(), [key], 'no lock or temp dir is left')
  t.equal(await cachedBundle(what, make), dirs[0], 'a later caller finds it')
  t.equal(makes, 1)
})

t.test("a killed run's lock is taken over", async (t) => {
  const {key, ours} = unique(t, 'stale')
  const lock = join(CACHE, `.${key}.lock`)
  // A pid that no longer runs: a child that has exited.
  const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], {encoding: 'utf8'}).stdout.trim()
  t.match(dead, /^\d+$/)
  writeFileSync(lock, dead)
  // Never giving up on a live holder: only finding this one dead lets the call return.
  const got = await bundleLock(lock, () => undefined, Infinity)
  t.type(got, 'object', 'the lock is ours')
  t.equal(readFileSync(lock, 'utf8'), String(process.pid), 'with our pid in it')
  if (typeof got === 'object') got.release()
  t.same(ours(), [], 'released')
})

t.test('a make that fails releases the lock and throws', async (t) => {
  const {what, key, ours} = unique(t, 'fail')
  await t.rejects(
    cachedBundle(what, async () => {
      throw new Error('esbuild said no')
    }),
    /esbuild said no/,
  )
  t.same(ours(), [], 'no lock and no half-made bundle are left')
  const made = await cachedBundle(what, async (dir) => writeFileSync(join(dir, 'what'), what))
  t.equal(made, join(CACHE, key), 'the next caller makes it')
})
