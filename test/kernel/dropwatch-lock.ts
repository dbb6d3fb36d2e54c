/**
 * The tracefs lock (dropwatch.ts) when its maker died between its mkdir and writing its pid: a lock
 * with an empty or garbled pid file. Its own file: the lock's place comes from CNIDBG_RUN_DIR when
 * dropwatch.ts is loaded, so it is set first and the module imported after.
 */
import {existsSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

const dir = mkdtempSync(join(tmpdir(), 'cnidbgtest-lock-'))
t.teardown(() => rmSync(dir, {force: true, recursive: true}))
process.env.CNIDBG_RUN_DIR = join(dir, 'runs')
const {DropWatch} = await import('../../src/kernel/dropwatch.js')
const lock = join(dir, `tracefs.lock.${statSync('/proc/self/ns/mnt').ino}`)

for (const [name, pid] of [
  ['empty', ''],
  ['garbled', 'not a pid'],
] as const) {
  t.test(`a lock whose pid file is ${name}, made a minute ago, is taken over`, async (t) => {
    mkdirSync(lock)
    writeFileSync(join(lock, 'pid'), pid)
    // Longer ago than any maker takes to write its pid after its mkdir.
    const then = new Date(Date.now() - 60_000)
    utimesSync(lock, then, then)
    const w = await DropWatch.start()
    if (typeof w === 'string' && !/lock/.test(w)) {
      t.comment(`no tracing here: ${w}`)
      rmSync(lock, {force: true, recursive: true})
      return
    }
    t.not(typeof w, 'string', `a watch starts: ${String(w)}`)
    if (typeof w !== 'string') await w.stop()
    t.notOk(existsSync(lock), 'and the lock is let go')
    rmSync(lock, {force: true, recursive: true})
  })
}
