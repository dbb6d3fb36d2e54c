/**
 * A SIGKILLed run can't clean up: its sandbox stays, with a stale marker. `cnidbg sandbox ls` must
 * show it as stale and `cnidbg sandbox gc` must remove it (the built CLI, as a user would).
 */
import {closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import SandboxGc from '../../../src/commands/sandbox/gc.js'
import {run} from '../../../src/process/exec.js'
import {markerState, processesInNamespaces, readMarkers} from '../../../src/netns/markers.js'
import {listNetns} from '../../../src/netns/netns.js'
import type {SandboxListResult} from '../../../src/services/sandbox.js'
import {ROOT, runCommand} from '../../helpers/capture.js'
import {alive, assertNothingLeft, eventually, machineState, privateTmpdir} from '../../helpers/machine.js'
import {FIXTURE_BIN, workDir, writeConf} from '../../helpers/runtime-fixtures.js'

const before = await machineState()
const tmp = privateTmpdir(t)
const work = workDir(t)
const bin = join(ROOT, 'bin', 'run.js')
const noDist = existsSync(join(ROOT, 'dist', 'commands', 'sandbox', 'gc.js'))
  ? false
  : 'dist/ is not built: run `npm run build` first'

t.test('SIGKILL leaves a stale sandbox; sandbox ls shows it; sandbox gc removes it', {skip: noDist}, async (t) => {
  const pidFile = join(work, 'cli.pid')
  const pluginPids = join(work, 'plugin.pids')
  const conf = writeConf(work, 'kill.conflist', {
    cniVersion: '1.0.0',
    name: 'kill',
    plugins: [{pidFile: pluginPids, sleepSeconds: 5, type: 'cnidbg-sleep'}],
  })
  const done = run(
    'sh',
    ['-c', `echo $$ > ${pidFile}; exec node ${bin} exec add --conf ${conf} --cni-path ${FIXTURE_BIN} --rm`],
    {timeoutMs: 60_000},
  )
  t.ok(await eventually(() => existsSync(pidFile) && existsSync(pluginPids), 30_000), 'ADD is running')
  const pid = Number(readFileSync(pidFile, 'utf8'))
  const [plugin] = readFileSync(pluginPids, 'utf8').trim().split(' ').map(Number) as [number, number]
  const marker = readMarkers().find((m) => m.pid === pid)!
  t.ok(marker, 'the CLI wrote its run marker')

  process.kill(pid, 'SIGKILL')
  const r = await done
  t.equal(r.signal, 'SIGKILL')
  // What is left (checked at once: a concurrent `sandbox gc` elsewhere may reap it any moment).
  const m = readMarkers().find((x) => x.id === marker.id)
  t.ok(m, 'the marker is still there')
  t.equal(m && markerState(m), 'stale', 'and stale: its process is gone')
  t.ok(
    marker.netns.some((n) => listNetns().includes(n)),
    'its namespaces are still there',
  )
  t.ok(existsSync(marker.dirs[0]!), 'its temp dir is still there')
  // The orphaned plugin is ours to stop (we started the CLI that started it): its whole group.
  if (alive(plugin)) process.kill(-plugin, 'SIGKILL')

  const ls = await run('node', [bin, 'sandbox', 'ls', '--json'], {timeoutMs: 60_000})
  t.equal(ls.exitCode, 0, ls.stderr)
  const listed = (JSON.parse(ls.stdout) as {result: SandboxListResult}).result.sandboxes.find((s) => s.id === marker.id)
  t.match(listed, {id: marker.id, label: 'exec add --rm', pid, state: 'stale'}, 'sandbox ls --json shows it stale')
  const human = await run('node', [bin, 'sandbox', 'ls'], {timeoutMs: 60_000})
  t.match(human.stdout, new RegExp(`${marker.id}\\s+\\S*stale`))

  const gc = await run('node', [bin, 'sandbox', 'gc', '--json'], {timeoutMs: 60_000})
  t.equal(gc.exitCode, 0, gc.stderr)
  const report = (JSON.parse(gc.stdout) as {result: {removed: string[]}}).result
  t.ok(report.removed.length > 0, `gc reports what it removed: ${report.removed.join(', ')}`)
  for (const n of marker.netns) t.notOk(listNetns().includes(n), `${n} removed`)
  t.notOk(existsSync(marker.dirs[0]!), 'temp dir removed')
  t.notOk(
    readMarkers().some((x) => x.id === marker.id),
    'marker removed',
  )
})

t.test('sandbox gc stops a plugin left running by a SIGKILLed exec add --sandbox', {skip: noDist}, async (t) => {
  const pidFile = join(work, 'cli2.pid')
  const pluginPids = join(work, 'plugin2.pids')
  const conf = writeConf(work, 'hang.conflist', {
    cniVersion: '1.0.0',
    name: 'hang',
    plugins: [{pidFile: pluginPids, sleepSeconds: 1000, type: 'cnidbg-sleep'}],
  })
  const done = run(
    'sh',
    [
      '-c',
      `echo $$ > ${pidFile}; exec node ${bin} exec add --conf ${conf} --cni-path ${FIXTURE_BIN} --sandbox --timeout 1000`,
    ],
    {timeoutMs: 60_000},
  )
  // The files are written with `echo >`: wait for whole lines, not for the files to exist.
  const text = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '')
  t.ok(
    await eventually(() => /^\d+\n$/.test(text(pidFile)) && /^\d+ \d+\n$/.test(text(pluginPids)), 30_000),
    'ADD is hanging',
  )
  const pid = Number(text(pidFile))
  const plugin = text(pluginPids).trim().split(' ').map(Number)
  // Safety net only: whatever the outcome, nothing of ours outlives the test.
  t.teardown(() => {
    for (const p of [pid, ...plugin]) if (p > 1 && alive(p)) process.kill(p, 'SIGKILL')
  })
  const marker = readMarkers().find((m) => m.pid === pid)
  if (!marker) return t.fail('the CLI wrote no run marker')
  t.pass('the CLI wrote its run marker')
  const netns = marker.netns.filter((n) => listNetns().includes(n))
  t.ok(netns.length > 0, `the sandbox's namespaces: ${netns.join(' ')}`)
  const inside = processesInNamespaces(netns)
  t.ok(
    plugin.every((p) => inside.includes(p)),
    `the plugin and its child are found inside by namespace inode (${inside.join(' ')})`,
  )
  const mnts = plugin.map((p) => readlinkSync(`/proc/${p}/ns/mnt`))
  // Held open until the end, so the mount namespace outlives its processes and no namespace made
  // meanwhile by anyone on the machine can take its number: a process found in it below is in it.
  const held = plugin.map((p) => openSync(`/proc/${p}/ns/mnt`, 'r'))
  t.teardown(() => held.forEach((fd) => closeSync(fd)))
  t.notOk(mnts.includes(readlinkSync('/proc/self/ns/mnt')), 'the plugin runs in a private mount namespace')

  process.kill(pid, 'SIGKILL')
  t.equal((await done).signal, 'SIGKILL')
  t.ok(plugin.every(alive), 'the plugin outlives the CLI')

  const gc = await run('node', [bin, 'sandbox', 'gc', '--json'], {timeoutMs: 60_000})
  t.equal(gc.exitCode, 0, gc.stderr)
  const report = (JSON.parse(gc.stdout) as {result: {removed: string[]}}).result
  for (const p of plugin) {
    t.notOk(alive(p), `process ${p} is gone`)
    t.ok(report.removed.includes(`process ${p}`), `and reported: ${p}`)
  }
  for (const n of netns) t.notOk(listNetns().includes(n), `${n} removed`)
  const stillIn = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return mnts.includes(readlinkSync(`/proc/${d}/ns/mnt`))
      } catch {
        return false
      }
    })
  t.same(stillIn, [], "no process is left in the plugin's mount namespace")
})

t.test('sandbox gc as a command: envelope and human output', async (t) => {
  const j = await runCommand<{removed: string[]; kept: string[]}>(SandboxGc, 'sandbox:gc', ['--json'])
  t.equal(j.exitCode, 0, j.stderr)
  t.match(JSON.parse(j.stdout), {
    command: 'sandbox gc',
    result: {kept: Array, removed: Array},
    schemaVersion: 1,
    status: 0,
  })
  const h = await runCommand(SandboxGc, 'sandbox:gc', [])
  t.match(h.stdout, /Nothing stale to remove\.|removed /)
})

t.test('the machine is as before', (t) => assertNothingLeft(t, before, tmp))
