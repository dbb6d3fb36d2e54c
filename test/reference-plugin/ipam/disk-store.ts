// cnidbg-ipam's on-disk store against planted files: a symlink at the network directory, at a
// reservation, at last_reserved_ip, at the lock or at a scratch name must never make the (root) plugin
// read, write or remove anything outside the store; a directory others can write to is refused.
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

import {CniError} from '../../../src/reference-plugin/errors.js'
import {DiskStore} from '../../../src/reference-plugin/ipam/disk-store.js'
import {releaseHeldBy} from '../../../src/reference-plugin/ipam/store.js'

const root = mkdtempSync(join(tmpdir(), 'cnidbg-store-test-'))
t.teardown(() => rmSync(root, {recursive: true, force: true}))

let n = 0
/** A fresh data dir, and an "outside" directory with a victim file the store must never touch. */
function setup(): {dataDir: string; outside: string; victim: string} {
  const base = join(root, `case${++n}`)
  const dataDir = join(base, 'networks')
  const outside = join(base, 'outside')
  mkdirSync(dataDir, {recursive: true})
  mkdirSync(outside)
  const victim = join(outside, 'victim')
  writeFileSync(victim, 'precious\n')
  return {dataDir, outside, victim}
}

function codeOf(fn: () => unknown): number | string | undefined {
  try {
    fn()
    return undefined
  } catch (error) {
    return error instanceof CniError ? error.code : String(error)
  }
}

t.test('a symlink at the network directory is refused, for ADD and for DEL', async (t) => {
  const {dataDir, outside, victim} = setup()
  symlinkSync(outside, join(dataDir, 'net'))
  t.equal(
    codeOf(() => DiskStore.open(dataDir, 'net', true)),
    5,
    'ADD: code 5',
  )
  t.equal(
    codeOf(() => DiskStore.open(dataDir, 'net', false)),
    5,
    'DEL/CHECK/GC: code 5',
  )
  t.same(readdirSync(outside), ['victim'], 'nothing created outside')
  t.equal(readFileSync(victim, 'utf8'), 'precious\n')
  t.ok(lstatSync(join(dataDir, 'net')).isSymbolicLink(), 'the planted link is left as it was')
})

t.test('a network directory others can write to, or someone else owns, is refused', async (t) => {
  const {dataDir} = setup()
  mkdirSync(join(dataDir, 'open'))
  chmodSync(join(dataDir, 'open'), 0o777)
  t.equal(
    codeOf(() => DiskStore.open(dataDir, 'open', true)),
    5,
    'mode 0777',
  )
  mkdirSync(join(dataDir, 'theirs'), {mode: 0o755})
  chownSync(join(dataDir, 'theirs'), 65534, 65534)
  t.equal(
    codeOf(() => DiskStore.open(dataDir, 'theirs', true)),
    5,
    'owned by nobody',
  )
  const made = DiskStore.open(dataDir, 'fresh', true)
  made.close()
  t.equal(lstatSync(join(dataDir, 'fresh')).mode & 0o022, 0, 'a directory we make is writable by us only')
})

t.test('a planted reservation symlink is neither read nor followed on release', async (t) => {
  const {dataDir, victim} = setup()
  const store = DiskStore.open(dataDir, 'net', true)
  t.teardown(() => store.close())
  writeFileSync(victim, 'c1\r\neth0')
  symlinkSync(victim, join(dataDir, 'net', '10.0.0.5'))
  t.same(store.list(), [], 'the symlink is no one’s reservation')
  t.notOk(store.reserve('10.0.0.5', {containerID: 'c2', ifname: 'eth0'}), 'the address stays taken')
  t.same(releaseHeldBy(store, {containerID: 'c1', ifname: 'eth0'}), [], 'nothing released through it')
  t.equal(readFileSync(victim, 'utf8'), 'c1\r\neth0', 'the victim is untouched')
  t.ok(store.reserve('10.0.0.6', {containerID: 'c2', ifname: 'eth0'}))
  t.same(store.list(), [{ip: '10.0.0.6', containerID: 'c2', ifname: 'eth0'}])
})

t.test('planted scratch names are skipped, never written through', async (t) => {
  const {dataDir, victim} = setup()
  mkdirSync(join(dataDir, 'net'))
  // The scratch names this process will try next (".<kind>.<pid>.<n>"), each a symlink to the victim.
  for (let i = 1; i <= 40; i++) {
    for (const kind of ['.reserve', '.last']) symlinkSync(victim, join(dataDir, 'net', `${kind}.${process.pid}.${i}`))
    symlinkSync(victim, join(dataDir, 'net', `lock.${process.pid}.${i}`))
  }
  const store = DiskStore.open(dataDir, 'net', true)
  t.teardown(() => store.close())
  t.ok(store.reserve('10.0.0.7', {containerID: 'c3', ifname: 'eth0'}))
  store.setLastReserved(0, '10.0.0.7')
  const unlock = await store.lock()
  unlock()
  store.close()
  t.equal(readFileSync(victim, 'utf8'), 'precious\n', 'the victim is untouched')
  t.equal(readFileSync(join(dataDir, 'net', '10.0.0.7'), 'utf8'), 'c3\r\neth0', 'the reservation was made')
  t.equal(readFileSync(join(dataDir, 'net', 'last_reserved_ip.0'), 'utf8'), '10.0.0.7')
})

t.test('a symlink at last_reserved_ip or at the lock is replaced, never followed', async (t) => {
  const {dataDir, victim} = setup()
  mkdirSync(join(dataDir, 'net'))
  writeFileSync(victim, '10.0.0.9\n')
  symlinkSync(victim, join(dataDir, 'net', 'last_reserved_ip.0'))
  symlinkSync(victim, join(dataDir, 'net', 'lock'))
  const store = DiskStore.open(dataDir, 'net', true)
  t.teardown(() => store.close())
  t.equal(store.lastReserved(0), undefined, 'the hint is not read through the link')
  store.setLastReserved(0, '10.0.0.3')
  t.notOk(lstatSync(join(dataDir, 'net', 'last_reserved_ip.0')).isSymbolicLink(), 'replaced by a file')
  const unlock = await store.lock()
  t.notOk(lstatSync(join(dataDir, 'net', 'lock')).isSymbolicLink(), 'the planted lock was taken over')
  unlock()
  t.notOk(existsSync(join(dataDir, 'net', 'lock')), 'and released')
  t.equal(readFileSync(victim, 'utf8'), '10.0.0.9\n', 'the victim is untouched')
})

t.test('DEL and GC of a network that has no directory yet find nothing', async (t) => {
  const {dataDir} = setup()
  const store = DiskStore.open(dataDir, 'none', false)
  t.same(store.list(), [])
  t.same(releaseHeldBy(store, {containerID: 'x', ifname: 'eth0'}), [])
  store.close()
  t.notOk(existsSync(join(dataDir, 'none')))
})

t.test('an owner is read back exactly as written, so its release never misses (no trimming)', async (t) => {
  const {dataDir} = setup()
  const store = DiskStore.open(dataDir, 'exact', true)
  // Legal interface names that String.prototype.trim would shorten: a BOM, Unicode spaces.
  const names = ['eth0e\\\ufeff', '\ufeffeth0', 'e\u3000', 'e\u2003']
  names.forEach((ifname, i) => t.ok(store.reserve(`10.0.0.${i + 10}`, {containerID: 'c1', ifname}), ifname))
  for (const [i, ifname] of names.entries()) {
    t.same(releaseHeldBy(store, {containerID: 'c1', ifname}), [`10.0.0.${i + 10}`], JSON.stringify(ifname))
  }
  t.same(store.list(), [], 'nothing held')
  store.close()
})
