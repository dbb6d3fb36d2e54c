import t from 'tap'

import {liteRun} from '../../src/process/lite-exec.js'
import {alive} from '../helpers/machine.js'

t.test('liteRun: output, exit code and stdin', async (t) => {
  const r = await liteRun('sh', ['-c', 'cat; echo err >&2; exit 3'], {input: 'in'})
  t.same([r.stdout, r.stderr, r.exitCode, r.timedOut], ['in', 'err\n', 3, false])
})

t.test('liteRun: a delegate that leaves a process of its own session holding stdout is let go', async (t) => {
  // Its group is killed a second after it exits, which misses a process that called setsid; the
  // plugin used to wait for the pipe's end for as long as that process ran.
  const r = await liteRun('sh', ['-c', 'setsid sleep 60 & echo $!'], {timeoutMs: 30_000})
  const pid = Number(r.stdout.trim())
  t.teardown(() => {
    if (pid > 0) process.kill(pid, 'SIGKILL')
  })
  t.equal(r.exitCode, 0)
  t.equal(r.timedOut, false)
  t.ok(alive(pid), `liteRun returned while process ${pid}, which held the pipe, still ran`)
})
