// src/kernel/multi-exec.ts: jobs in namespaces from one process, their output and exit codes through a
// private temp dir that is gone afterwards; with no usable TMPDIR, nothing runs and the machine is named.
import {randomBytes} from 'node:crypto'
import {existsSync, readdirSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {runJobsInNetns} from '../../src/kernel/multi-exec.js'
import {createNetns, deleteNetns, netnsPath, onCleanup} from '../../src/netns/index.js'
import {privateTmpdir} from '../helpers/machine.js'

const tmp = privateTmpdir(t)
const name = `cnidbg-mx-${randomBytes(3).toString('hex')}`
const undo = onCleanup('multi-exec test', () => deleteNetns(name))
t.teardown(async () => {
  await deleteNetns(name)
  undo()
})
await createNetns(name)

t.test('each job runs in its namespace; stdout, stderr and exit code come back; the temp dir goes', async (t) => {
  const r = await runJobsInNetns([
    {
      nsPath: netnsPath(name),
      script: 'ip -o link show | cut -d: -f2 | tr -d " "; echo "$1" >&2; exit 3',
      args: ["a 'b'"],
    },
    {nsPath: netnsPath(name), script: 'printf %s "$#"'},
  ])
  t.same(r, [
    {stdout: 'lo\n', stderr: "a 'b'\n", exitCode: 3},
    {stdout: '0', stderr: '', exitCode: 0},
  ])
  t.same(readdirSync(tmp), [], 'its temp dir is removed')
})

t.test('with TMPDIR missing: the machine is named (exit 3) and no job runs', async (t) => {
  const gone = join(tmp, 'gone')
  process.env.TMPDIR = gone
  t.teardown(() => {
    process.env.TMPDIR = tmp
  })
  const ran = join(tmp, 'ran')
  await t.rejects(runJobsInNetns([{nsPath: netnsPath(name), script: 'touch "$1"', args: [ran]}]), {
    cnidbgCode: 'TMPDIR_UNUSABLE',
    oclif: {exit: 3},
    message: `Can't create a temporary directory in TMPDIR (${gone}): it does not exist.`,
  })
  t.notOk(existsSync(ran), 'the job did not run')
})
