// The lab's background processes: started detached through src/netns (spawnDetached), found again by
// pid and start time, and stopped as a process group.
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import t from 'tap'

import {backgroundEnv, logTail, resolveLibexec} from '../../src/lab/processes.js'
import {procAlive, procRef, stopProc} from '../../src/lab/state.js'
import {spawnDetached} from '../../src/process/exec.js'
import {cnidbgError} from '../helpers/errors.js'
import {REPO} from '../helpers/lab.js'
import {eventually} from '../helpers/machine.js'

function tmp(t: {teardown(fn: () => void): void}): string {
  const dir = mkdtempSync('/tmp/cnidbgtest-labproc-')
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  return dir
}

t.test(
  'spawnDetached: outlives nothing of ours, logs to a file, leads its own process group; stopProc ends the group',
  async (t) => {
    const dir = tmp(t)
    const log = join(dir, 'logs', 'x.log')
    // The shell starts a child of its own: stopping the group must take both.
    const pid = spawnDetached('sh', ['-c', 'echo started; sleep 300 & echo "child $!"; wait'], {
      logFile: log,
      env: backgroundEnv(),
      extendEnv: false,
    })
    const ref = procRef(pid)
    t.teardown(() => stopProc(ref, 100))
    t.ok(await eventually(() => /child \d+/.test(logTail(log))), 'output goes to the log file (its dir created)')
    const child = Number(/child (\d+)/.exec(readFileSync(log, 'utf8'))![1])
    const pgid = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]
    t.equal(Number(pgid), pid, 'process group leader')
    t.ok(procAlive(ref))
    t.ok(await stopProc(ref, 2000), 'stopped')
    t.notOk(procAlive(ref))
    t.ok(
      await eventually(() => !procAlive(procRef(child)) || procRef(child).start === null),
      'its child went with the group',
    )
    t.notOk(await stopProc(ref), 'stopping it again is a no-op')
  },
)

t.test('spawnDetached throws when the program cannot start', async (t) => {
  const dir = tmp(t)
  t.throws(() => spawnDetached('/nonexistent/cnidbg-prog', [], {logFile: join(dir, 'x.log')}))
})

t.test('background processes get a clean environment (no NODE_OPTIONS from a test runner)', async (t) => {
  const old = process.env.NODE_OPTIONS
  process.env.NODE_OPTIONS = '--import=/some/hook.mjs'
  t.teardown(() => {
    if (old === undefined) delete process.env.NODE_OPTIONS
    else process.env.NODE_OPTIONS = old
  })
  const env = backgroundEnv()
  t.notOk('NODE_OPTIONS' in env)
  t.ok(env.PATH)
})

t.test('resolveLibexec: CNIDBG_LAB_LIBEXEC layout, and a clear error when nothing is built', async (t) => {
  const dir = tmp(t)
  const old = process.env.CNIDBG_LAB_LIBEXEC
  t.teardown(() => {
    if (old === undefined) delete process.env.CNIDBG_LAB_LIBEXEC
    else process.env.CNIDBG_LAB_LIBEXEC = old
  })
  process.env.CNIDBG_LAB_LIBEXEC = dir
  t.throws(() => resolveLibexec(), cnidbgError('LAB_NOT_BUILT', 3))
  writeFileSync(join(dir, 'apiserver-main.mjs'), '')
  writeFileSync(join(dir, 'supervisor-main.mjs'), '')
  t.throws(() => resolveLibexec(), cnidbgError('LAB_NOT_BUILT', 3), 'the forwarder is part of the lab')
  writeFileSync(join(dir, 'forwarder-main.mjs'), '')
  t.same(resolveLibexec(), {
    apiserver: join(dir, 'apiserver-main.mjs'),
    supervisor: join(dir, 'supervisor-main.mjs'),
    forwarder: join(dir, 'forwarder-main.mjs'),
    pluginDir: join(dir, 'plugins'),
    // deploy/'s pods run the package's CLI; the manifests are the package's.
    cnidbg: join(REPO, 'bin', 'run.js'),
    deployDir: join(REPO, 'deploy'),
  })
  t.equal(resolveLibexec({pluginDir: '/p'}).pluginDir, '/p', 'explicit paths win')
})
