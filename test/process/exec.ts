import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {runInNewContext} from 'node:vm'
import {setFlagsFromString} from 'node:v8'

import t from 'tap'

import {CommandFailed, run, runOk, runUntilReady} from '../../src/process/exec.js'
import {alive, eventually} from '../helpers/machine.js'

const tmp = mkdtempSync('/tmp/cnidbgtest-exec-')
t.teardown(() => rmSync(tmp, {force: true, recursive: true}))

// A full GC before measuring, so the RSS numbers show what is still held, not what is garbage.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

t.test('captures stdout, stderr, exit code and feeds stdin', async (t) => {
  const r = await run('sh', ['-c', 'cat; echo err >&2; exit 3'], {input: 'hello'})
  t.equal(r.stdout, 'hello')
  t.equal(r.stderr, 'err\n')
  t.equal(r.exitCode, 3)
  t.equal(r.signal, null)
  t.equal(r.timedOut, false)
  t.equal(r.outputLimitExceeded, false)
  t.equal(r.spawnError, undefined)
  t.type(r.durationMs, 'number', 'the duration is reported (its value is not asserted: clocks are coarse)')
})

t.test('env: with extendEnv false only the given variables are passed', async (t) => {
  const r = await run('/usr/bin/env', [], {env: {A: '1', B: 'two'}, extendEnv: false})
  // tap's process tracking injects NODE_OPTIONS and _TAPJS_* (some multi-line) into every child,
  // so check for ours and for the absence of ours-by-inheritance rather than the exact list.
  const lines = r.stdout.split('\n')
  t.ok(lines.includes('A=1') && lines.includes('B=two'), 'the variables passed')
  t.notOk(
    lines.some((l) => /^(PATH|HOME|USER)=/.test(l)),
    'none of ours inherited',
  )
  const ext = await run('/usr/bin/env', [], {env: {CNIDBG_T: 'x'}})
  t.match(ext.stdout, /^CNIDBG_T=x$/m)
  t.match(ext.stdout, /^PATH=/m, 'extends our environment by default')
})

t.test('a program that cannot be started is a spawnError, not a throw', async (t) => {
  const r = await run('/nonexistent/cnidbg-nope', ['x'])
  t.equal(r.exitCode, null)
  t.match(r.spawnError, /ENOENT/)
  t.equal(r.timedOut, false)
  const plain = join(tmp, 'not-executable')
  writeFileSync(plain, '#!/bin/sh\n', {mode: 0o644})
  const noexec = await run(plain, [])
  t.match(noexec.spawnError, /EACCES/)
})

t.test('runOk throws CommandFailed with the command and its stderr', async (t) => {
  const err = await runOk('sh', ['-c', 'echo broken >&2; exit 1']).catch((e: unknown) => e)
  t.type(err, CommandFailed)
  t.match((err as Error).message, /sh -c .*: broken/)
  t.equal((err as CommandFailed).result.exitCode, 1)
  await t.rejects(runOk('/nonexistent/x', []), /ENOENT/)
  t.equal((await runOk('true', [])).exitCode, 0)
})

t.test('a timeout kills the whole process group, grandchildren included', async (t) => {
  const pids = join(tmp, 'pids')
  // sh starts a child (sleep) that starts nothing, and a subshell whose own child sleeps: two levels down.
  const script = `sleep 1000 & a=$!; (sleep 1000 & echo $! > ${pids}.b; wait) & echo "$$ $a" > ${pids}; wait`
  // The timeout must not fire before the shell has written both pid files: 5 s is far more than two
  // forks take even on a machine loaded by the rest of the suite, and this file's other tests run meanwhile.
  const r = await run('sh', ['-c', script], {timeoutMs: 5000})
  t.equal(r.timedOut, true)
  t.equal(r.signal, 'SIGKILL')
  t.equal(r.exitCode, null)
  const [shell, child] = readFileSync(pids, 'utf8').trim().split(' ').map(Number) as [number, number]
  const grandchild = Number(readFileSync(`${pids}.b`, 'utf8').trim())
  for (const [what, pid] of [
    ['shell', shell],
    ['child', child],
    ['grandchild', grandchild],
  ] as const) {
    t.ok(await eventually(() => !alive(pid)), `${what} ${pid} is gone`)
  }
})

t.test('no timeout by default', async (t) => {
  const r = await run('sh', ['-c', 'sleep 0.3; echo done'])
  t.equal(r.timedOut, false)
  t.equal(r.stdout, 'done\n')
})

t.test('a 100 MB flood is cut off at the limit; our memory stays bounded', async (t) => {
  gc()
  const before = process.memoryUsage().rss
  const r = await run('sh', ['-c', "head -c 104857600 /dev/zero | tr '\\0' x; sleep 1000"], {timeoutMs: 60_000})
  t.equal(r.outputLimitExceeded, true)
  t.equal(r.timedOut, false, 'killed for the flood, not the timeout')
  t.ok(r.stdout.length <= 16 * 1024 * 1024, `kept ${r.stdout.length} bytes, at most the 16 MiB default`)
  const held = r.stdout.length
  const peak = process.memoryUsage().rss
  gc()
  const after = process.memoryUsage().rss
  const grewMb = (after - before) / 1024 / 1024
  t.comment(
    `rss before ${(before / 2 ** 20).toFixed(0)} MiB, right after ${(peak / 2 ** 20).toFixed(0)} MiB, after gc ${(after / 2 ** 20).toFixed(0)} MiB; holding ${held} chars`,
  )
  t.ok(grewMb < 64, `rss grew ${grewMb.toFixed(1)} MiB (a 100 MB capture would be ≥ 100)`)
})

t.test('a smaller maxOutputBytes is honoured, on stderr too', async (t) => {
  const r = await run('sh', ['-c', "head -c 1000000 /dev/zero | tr '\\0' y >&2; sleep 1000"], {
    maxOutputBytes: 64 * 1024,
    timeoutMs: 30_000,
  })
  t.equal(r.outputLimitExceeded, true)
  t.equal(r.timedOut, false)
  t.ok(r.stderr.length <= 64 * 1024)
})

t.test('a child that exits while its background child holds stdout does not hang us', async (t) => {
  const r = await run('sh', ['-c', 'sleep 1000 & echo started'], {timeoutMs: 30_000})
  t.equal(r.timedOut, false)
  t.equal(r.exitCode, 0)
  t.equal(r.stdout, 'started\n')
})

t.test('a background child in its own session (setsid) holding stdout: let go, and said so', async (t) => {
  // The group kill after the exit misses it; we used to wait for the pipe's end for as long as it ran.
  const r = await run('sh', ['-c', 'setsid sleep 60 & echo $!'], {timeoutMs: 30_000})
  const pid = Number(r.stdout.trim())
  t.teardown(() => {
    if (pid > 0) process.kill(pid, 'SIGKILL')
  })
  t.equal(r.exitCode, 0)
  t.equal(r.outputHeldOpen, true)
  t.ok(alive(pid), `run returned while process ${pid}, which held the pipe, still ran`)
  const plain = await run('sh', ['-c', 'echo done'])
  t.equal(plain.outputHeldOpen, undefined, 'not said of a program that closed its output')
})

t.test('runUntilReady: onReady runs while the program does, then the program is let go', async (t) => {
  let seen = ''
  const pid = await runUntilReady('sh', ['-c', 'echo ready && read -r _'], (pid) => {
    seen = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    t.ok(alive(pid), 'the program is still running when onReady is called')
    return pid
  })
  t.match(seen, /^sh\0-c\0echo ready/, 'the pid is the program')
  t.notOk(alive(pid), 'closing its stdin ended it, and it was waited for')
})

t.test('runUntilReady: exiting, failing to start or being slow before ready is an error', async (t) => {
  let called = false
  const onReady = () => {
    called = true
  }
  await t.rejects(runUntilReady('sh', ['-c', 'echo the mount failed >&2; exit 3'], onReady), /the mount failed/)
  await t.rejects(runUntilReady('/nonexistent/cnidbg-nope', [], onReady), /ENOENT/)
  const file = join(tmp, 'grandchild')
  await t.rejects(
    runUntilReady('sh', ['-c', `sleep 1000 & echo $! > ${file}; wait`], onReady, {timeoutMs: 500}),
    /not ready after 500ms/,
  )
  const grandchild = Number(readFileSync(file, 'utf8'))
  t.ok(await eventually(() => !alive(grandchild)), 'its process group was killed')
  t.notOk(called, 'onReady never ran')
})

t.test('runUntilReady: an onReady that throws rejects, and the program is stopped', async (t) => {
  let pid = 0
  await t.rejects(
    runUntilReady('sh', ['-c', 'echo ready; sleep 1000'], (p) => {
      pid = p
      throw new Error('not the namespace we wanted')
    }),
    /not the namespace we wanted/,
  )
  t.notOk(alive(pid), 'killed and waited for, although it never reads its stdin')
})
