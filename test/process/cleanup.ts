/**
 * Ctrl-C cleanup: the undo registry, and the built CLI interrupted (SIGINT, SIGTERM) in the middle
 * of a slow ADD, or while it removes its sandbox: its sandbox, namespaces, marker, temp dirs and the
 * plugin's processes must all be gone when it exits.
 */
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t, {type Test} from 'tap'

import {onCleanup, runCleanups} from '../../src/process/cleanup.js'
import {run, type RunResult} from '../../src/process/exec.js'
import {readMarker, readMarkers, releaseMarker, type Marker} from '../../src/netns/markers.js'
import {listNetns} from '../../src/netns/netns.js'
import {ROOT} from '../helpers/capture.js'
import {alive, assertNothingLeft, eventually, machineState, privateTmpdir} from '../helpers/machine.js'
import {FIXTURE_BIN, workDir, writeConf} from '../helpers/runtime-fixtures.js'

const before = await machineState()
const tmp = privateTmpdir(t)
const work = workDir(t)

t.test('cleanups run newest first, once each, and a failing one does not stop the rest', async (t) => {
  const ran: string[] = []
  onCleanup('a', () => {
    ran.push('a')
  })
  const unregister = onCleanup('b', () => {
    ran.push('b')
  })
  onCleanup('c', () => {
    throw new Error('c fails')
  })
  onCleanup('d', async () => {
    ran.push('d')
  })
  unregister()
  await runCleanups()
  t.same(ran, ['d', 'a'])
  await runCleanups()
  t.same(ran, ['d', 'a'], 'each runs at most once')
})

t.test('the cleanups kill what runs, but leave a removal step (finishOnSignal) to finish', async (t) => {
  // Both wait for a file made only once the cleanups ran: neither can be done before.
  const go = join(work, 'go')
  const script = 'while [ ! -e "$1" ]; do sleep 0.01; done; echo done'
  const killed = run('sh', ['-c', script, 'sh', go])
  const finished = run('sh', ['-c', script, 'sh', go], {finishOnSignal: true})
  await runCleanups()
  writeFileSync(go, '')
  t.equal((await finished).stdout.trim(), 'done', 'the removal step finished')
  t.equal((await killed).signal, 'SIGKILL', 'the other was killed')
})

const bin = join(ROOT, 'bin', 'run.js')
const noDist = existsSync(join(ROOT, 'dist', 'commands', 'exec', 'add.js'))
  ? false
  : 'dist/ is not built: run `npm run build` first'

interface SlowAdd {
  /** The CLI's pid. */
  pid: number
  done: Promise<RunResult>
  /** Its run marker, once the sandbox exists. */
  marker: Marker
  /** The hanging plugin and its child. */
  plugin: number
  child: number
}

/**
 * Starts the built CLI doing `exec add` with a plugin that hangs in ADD (its default 1000 s, under an
 * hour's --timeout); resolves once ADD is running, so the signal sent then always finds it in flight.
 */
async function startSlowAdd(t: Test, name: string, flags: string[]): Promise<SlowAdd> {
  const pidFile = join(work, `${name}.cli`)
  const pluginPids = join(work, `${name}.plugin`)
  const conf = writeConf(work, `${name}.conflist`, {
    cniVersion: '1.0.0',
    name,
    plugins: [{pidFile: pluginPids, type: 'cnidbg-sleep'}],
  })
  // `exec` keeps the pid, so the pid file names the CLI process itself.
  const script = `echo $$ > ${pidFile}; exec node ${bin} exec add --conf ${conf} --cni-path ${FIXTURE_BIN} --timeout 3600 ${flags.join(' ')}`
  const done = run('sh', ['-c', script], {timeoutMs: 60_000})
  t.ok(
    await eventually(() => existsSync(pidFile) && existsSync(pluginPids), 30_000),
    'the CLI started and the plugin is in ADD',
  )
  const pid = Number(readFileSync(pidFile, 'utf8'))
  const [plugin, child] = readFileSync(pluginPids, 'utf8').trim().split(' ').map(Number) as [number, number]
  const marker = readMarkers().find((m) => m.pid === pid)
  t.ok(marker, 'the run marker names the CLI process')
  t.ok(
    marker?.netns.every((n) => listNetns().includes(n)),
    'its namespaces exist',
  )
  return {child, done, marker: marker!, pid, plugin}
}

async function assertAllGone(t: Test, s: SlowAdd): Promise<void> {
  for (const n of s.marker.netns) t.notOk(listNetns().includes(n), `netns ${n} removed`)
  for (const d of s.marker.dirs) t.notOk(existsSync(d), `dir ${d} removed`)
  t.notOk(
    readMarkers().some((m) => m.id === s.marker.id),
    'marker removed',
  )
  t.ok(await eventually(() => !alive(s.plugin)), 'the plugin was killed')
  t.ok(await eventually(() => !alive(s.child)), "the plugin's child was killed")
}

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  t.test(`${signal} during exec add --rm: exit ${code}, everything removed`, {skip: noDist}, async (t) => {
    const s = await startSlowAdd(t, `int-${signal.toLowerCase()}`, ['--rm', '--json'])
    process.kill(s.pid, signal)
    const r = await s.done
    t.equal(r.exitCode, code, r.stderr)
    t.match(r.stderr, new RegExp(`cnidbg: ${signal} received, cleaning up`))
    await assertAllGone(t, s)
  })
}

t.test(
  'SIGINT during exec add --sandbox: the sandbox is not kept (the ADD never finished)',
  {skip: noDist},
  async (t) => {
    const s = await startSlowAdd(t, 'int-kept', ['--sandbox', 'auto', '--json'])
    t.equal(s.marker.persistent, false, 'a run sandbox until the ADD has worked')
    process.kill(s.pid, 'SIGINT')
    const r = await s.done
    t.equal(r.exitCode, 130, r.stderr)
    await assertAllGone(t, s)
  },
)

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  t.test(
    `${signal} while exec add --rm removes its sandbox: the removal finishes before exit ${code}`,
    {skip: noDist},
    async (t) => {
      const name = `td-${signal.toLowerCase()}`
      const cliPid = join(work, `${name}.cli`)
      const pidFile = join(work, `${name}.pid`)
      const termFile = join(work, `${name}.term`)
      const conf = writeConf(work, `${name}.conflist`, {
        cniVersion: '1.0.0',
        name,
        plugins: [{pidFile, termFile, type: 'cnidbg-stubborn'}],
      })
      const script = `echo $$ > ${cliPid}; exec node ${bin} exec add --conf ${conf} --cni-path ${FIXTURE_BIN} --rm --json`
      const done = run('sh', ['-c', script], {timeoutMs: 60_000})
      // The plugin's process writes termFile when the removal's stop (SIGTERM, then SIGKILL after a grace)
      // reaches it: the ADD and the DEL are done, and the sandbox is being removed.
      t.ok(
        await eventually(() => existsSync(termFile), 30_000),
        "the sandbox's removal is stopping the plugin's process",
      )
      const pid = Number(readFileSync(cliPid, 'utf8'))
      const stubborn = Number(readFileSync(pidFile, 'utf8'))
      const marker = readMarkers().find((m) => m.pid === pid)
      t.ok(marker, 'the run marker is still there')
      // On a failure, nothing may stay behind for the tests after this one.
      t.teardown(async () => {
        if (alive(stubborn)) process.kill(stubborn, 'SIGKILL')
        const left = marker && readMarker(marker.id)
        if (left) await releaseMarker(left)
      })
      process.kill(pid, signal)
      const r = await done
      t.equal(r.exitCode, code, r.stderr)
      t.match(r.stderr, new RegExp(`cnidbg: ${signal} received, cleaning up`))
      for (const n of marker?.netns ?? []) t.notOk(listNetns().includes(n), `netns ${n} removed`)
      for (const d of marker?.dirs ?? []) t.notOk(existsSync(d), `dir ${d} removed`)
      t.notOk(marker && readMarker(marker.id), 'marker removed')
      t.notOk(alive(stubborn), "the plugin's process was stopped")
    },
  )
}

t.test('the machine is as before', (t) => assertNothingLeft(t, before, tmp))
