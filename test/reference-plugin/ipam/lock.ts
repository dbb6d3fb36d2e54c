// Whether a process still runs, as cnidbg-ipam's lock (a holder that died is taken over) and the
// plugin server (a client that left is not served) both ask it: by pid and start time.
import {spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {createInterface} from 'node:readline'

import t from 'tap'

import {holderAlive, startTime} from '../../../src/reference-plugin/ipam/lock.js'

/** State and start time of `pid`, read straight from /proc/<pid>/stat. */
const stat = (pid: number): {state?: string; start?: string} => {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return {state: f[0], start: f[19]}
  } catch {
    return {}
  }
}

t.test('a live process is alive, with its own start time only', async (t) => {
  const start = startTime(process.pid)
  t.match(start, /^\d+$/)
  t.ok(holderAlive(`${process.pid} ${start}\n`), 'its own lock is held')
  t.notOk(holderAlive(`${process.pid} ${Number(start) + 1}\n`), 'another start time: another process')
})

t.test('a process that exited is gone though its parent has not waited for it yet', async (t) => {
  // The forked child exits at once and its parent never waits: it stays a zombie. Perl (in every
  // Debian, as perl-base), not sh: a shell may reap a finished background job before its exec, which
  // made this a race on a loaded machine.
  const parent = spawn('perl', ['-e', '$| = 1; my $p = fork(); exit 0 unless $p; print "$p\\n"; sleep 60'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  t.teardown(() => {
    parent.kill('SIGKILL')
  })
  const [line] = await createInterface({input: parent.stdout!})
    [Symbol.asyncIterator]()
    .next()
    .then((r) => [r.value])
  const pid = Number(line)
  t.ok(pid > 0, `the child's pid: ${line}`)
  // It has exited once /proc says so; only its parent's wait would remove it.
  for (let i = 0; i < 600 && stat(pid).state !== 'Z'; i++) await new Promise((r) => setTimeout(r, 50))
  const {state, start} = stat(pid)
  t.equal(state, 'Z', 'the child is a zombie')
  t.equal(startTime(pid), undefined, 'no start time: it does not run')
  t.notOk(holderAlive(`${pid} ${start}\n`), 'a lock it held, with its very start time, is a dead holder’s')
})
