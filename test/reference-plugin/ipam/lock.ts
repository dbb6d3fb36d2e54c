// Whether a process still runs, as cnidbg-ipam's lock (a holder that died is taken over) and the
// plugin server (a client that left is not served) both ask it: by pid and start time.
import t from 'tap'

import {holderAlive, startTime} from '../../../src/reference-plugin/ipam/lock.js'
import {procStat, zombie} from '../../helpers/machine.js'

t.test('a live process is alive, with its own start time only', async (t) => {
  const start = startTime(process.pid)
  t.match(start, /^\d+$/)
  t.ok(holderAlive(`${process.pid} ${start}\n`), 'its own lock is held')
  t.notOk(holderAlive(`${process.pid} ${Number(start) + 1}\n`), 'another start time: another process')
})

t.test('a process that exited is gone though its parent has not waited for it yet', async (t) => {
  const {pid, start} = await zombie(t)
  t.equal(procStat(pid).state, 'Z', 'the child is a zombie')
  t.equal(startTime(pid), undefined, 'no start time: it does not run')
  t.notOk(holderAlive(`${pid} ${start}\n`), 'a lock it held, with its very start time, is a dead holder’s')
})
