// The lab's handle on a node's plugin server: found through its pid file only while that very
// process runs, and stopped by it. (Starting one in a real lab is covered by test/lab/up.ts.)
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

import {nodePluginServer, stopNodePluginServer} from '../../src/lab/plugin-server.js'
import {procAlive, procRef, procStart, type LabNodeState} from '../../src/lab/state.js'
import {runOk} from '../../src/process/exec.js'

const dir = mkdtempSync(join(tmpdir(), 'cnidbg-lab-ps-'))
t.teardown(() => rmSync(dir, {recursive: true, force: true}))
const node = {name: 'node1', runCni: dir} as LabNodeState
const pidFile = join(dir, 'cnidbg-ref', 'pid')
mkdirSync(join(dir, 'cnidbg-ref'))

t.test('no pid file, or one naming a dead or different process: no server', async (t) => {
  t.equal(nodePluginServer(node), undefined)
  writeFileSync(pidFile, '999999999 123\n')
  t.equal(nodePluginServer(node), undefined, 'a pid that does not exist')
  writeFileSync(pidFile, `${process.pid} 1\n`)
  t.equal(nodePluginServer(node), undefined, 'a live pid with another start time (pid reused)')
  t.equal(await stopNodePluginServer(node), undefined, 'nothing to stop')
  t.ok(procAlive(procRef(process.pid)), 'and nothing was signalled')
})

t.test('a live server is found and stopped', async (t) => {
  // A stand-in process, left running by a shell that exits at once.
  const pid = Number((await runOk('sh', ['-c', 'sleep 300 >/dev/null 2>&1 & echo $!'])).stdout.trim())
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Gone already.
    }
  })
  writeFileSync(pidFile, `${pid} ${procStart(pid)}\n`)
  t.match(nodePluginServer(node), {pid})
  const stopped = await stopNodePluginServer(node)
  t.equal(stopped?.pid, pid)
  t.notOk(procAlive(stopped), 'it is gone')
  t.equal(nodePluginServer(node), undefined)
})
