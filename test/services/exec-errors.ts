/**
 * `cnidbg exec` on bad input and misbehaving plugins: each problem is one error naming
 * it, with the documented exit code, and nothing is left behind: no namespace, no marker under
 * /run/cnidbg/runs, no temp dir. Hanging and flooding plugins are killed.
 */
import {randomBytes} from 'node:crypto'
import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {setFlagsFromString} from 'node:v8'
import {runInNewContext} from 'node:vm'

import t, {type Test} from 'tap'

import {
  createNetns,
  listNetns,
  NETNS_PREFIX,
  netnsPath,
  newRunId,
  ownMarker,
  readMarker,
  releaseMarker,
  writeMarker,
} from '../../src/netns/index.js'
import {listCacheEntries} from '../../src/runtime/cache.js'
import {execAdd, execCheck, execDel, execGc, execStatus, type ExecOptions} from '../../src/services/exec.js'
import {cnidbgError} from '../helpers/errors.js'
import {
  alive,
  assertNothingLeft,
  eventually,
  machineState,
  ownMarkers,
  privateTmpdir,
  procStat,
} from '../helpers/machine.js'
import {
  execOpts,
  FIXTURES,
  fixtureConf,
  haveUpstream,
  readSpyLog,
  spy,
  workDir,
  writeConf,
} from '../helpers/runtime-fixtures.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const tmp = privateTmpdir(t)
const work = workDir(t)
/** What a mistyped NETNS may name: a file that is no namespace. */
const plainFile = join(work, 'plain-file')
writeFileSync(plainFile, '')
const bridgeConf = join(FIXTURES, 'bridge.conflist')
const skipUpstream = haveUpstream('bridge', 'host-local') ? false : 'no upstream plugins in /usr/lib/cni'

/** Runs `fn` and then checks that nothing it made is still around. */
async function leavesNothing(t: Test, fn: () => Promise<unknown>): Promise<void> {
  const before = await machineState()
  await fn()
  await assertNothingLeft(t, before, tmp)
}

// [what, options, expected code, expected exit, message pattern]
const usage: Array<[string, Partial<ExecOptions>, string, RegExp]> = [
  [
    'malformed config',
    {conf: writeConf(work, 'broken.conflist', '{"cniVersion": "1.0.0", "name": "x",'), rm: true},
    'INVALID_CONFIG',
    /broken\.conflist: not valid JSON/,
  ],
  [
    'malformed config on stdin',
    {conf: '-', confText: '{"cniVersion": 1', rm: true},
    'INVALID_CONFIG',
    /<stdin>: not valid JSON/,
  ],
  [
    'missing config file',
    {conf: join(work, 'nope.conflist'), rm: true},
    'CONFIG_NOT_FOUND',
    /Can't read config .*nope\.conflist: ENOENT/,
  ],
  [
    'a type with a path',
    {
      conf: writeConf(work, 'path.conflist', {
        cniVersion: '1.0.0',
        name: 'p',
        plugins: [{type: '/usr/lib/cni/bridge'}],
      }),
      rm: true,
    },
    'INVALID_CONFIG',
    /contains a path separator/,
  ],
  [
    'missing plugin',
    {
      conf: writeConf(work, 'missing.conflist', {
        cniVersion: '1.0.0',
        name: 'm',
        plugins: [{type: 'bridge'}, {type: 'cnidbg-no-such-plugin'}],
      }),
      rm: true,
    },
    'PLUGIN_NOT_FOUND',
    /Plugin "cnidbg-no-such-plugin" not found in CNI_PATH/,
  ],
  [
    'unsupported version',
    {conf: writeConf(work, 'v9.conflist', {...fixtureConf('bridge.conflist'), cniVersion: '9.9.9'}), rm: true},
    'UNSUPPORTED_VERSION',
    /no supported CNI version in \["9\.9\.9"\]/,
  ],
  [
    'missing netns path',
    {netns: '/run/netns/cnidbg-h2-no-such-netns', sandbox: true},
    'NETNS_NOT_FOUND',
    /Network namespace \/run\/netns\/cnidbg-h2-no-such-netns does not exist/,
  ],
  [
    'missing netns name',
    {netns: 'cnidbg-h2-nope', rm: true},
    'NETNS_NOT_FOUND',
    /\/run\/netns\/cnidbg-h2-nope does not exist/,
  ],
  [
    'a plain file as the netns',
    {netns: plainFile, sandbox: true},
    'NETNS_NOT_FOUND',
    /plain-file is not a network namespace\.$/,
  ],
  ['a directory as the netns', {netns: work, sandbox: true}, 'NETNS_NOT_FOUND', /is not a network namespace\.$/],
  // Namespace files too, on the same nsfs, but of another kind: not where a plugin may put eth0.
  [
    'a UTS namespace as the netns',
    {netns: `/proc/${process.pid}/ns/uts`, rm: true},
    'NETNS_NOT_FOUND',
    /\/ns\/uts is not a network namespace\.$/,
  ],
  [
    'a mount namespace as the netns',
    {netns: '/proc/self/ns/mnt', sandbox: true},
    'NETNS_NOT_FOUND',
    /\/ns\/mnt is not a network namespace\.$/,
  ],
  ['no netns at all', {}, 'MISSING_NETNS', /Give a netns path/],
  [
    'container ID starting with "-"',
    {containerId: '-bad', rm: true},
    'INVALID_CONTAINER_ID',
    /Container ID "-bad" is invalid/,
  ],
  ['container ID with a space', {containerId: 'a b', rm: true}, 'INVALID_CONTAINER_ID', /is invalid/],
  [
    'container ID with a slash',
    {containerId: 'a/b', netns: 'auto', sandbox: true},
    'INVALID_CONTAINER_ID',
    /is invalid/,
  ],
  ['empty ifname', {ifname: '', rm: true}, 'INVALID_IFNAME', /Interface name "" is invalid/],
  [
    'ifname over 15 characters',
    {ifname: 'eth0123456789abc', rm: true},
    'INVALID_IFNAME',
    /is invalid: 1–15 characters/,
  ],
  ['ifname with a slash', {ifname: 'a/b', rm: true}, 'INVALID_IFNAME', /is invalid/],
  ['ifname with a colon', {ifname: 'eth0:1', rm: true}, 'INVALID_IFNAME', /is invalid/],
  ['ifname ".."', {ifname: '..', rm: true}, 'INVALID_IFNAME', /is invalid/],
  ['bad CNI_ARGS', {args: 'K8S_POD_NAME', rm: true}, 'INVALID_ARGS', /Invalid CNI_ARGS pair "K8S_POD_NAME"/],
  ['bad CAP_ARGS', {capArgs: '{"portMappings": [', rm: true}, 'INVALID_CAP_ARGS', /CAP_ARGS is not valid JSON/],
]

for (const [what, over, code, message] of usage) {
  t.test(`bad input: ${what} → ${code}, exit 2, nothing left`, {skip: skipUpstream}, (t) =>
    leavesNothing(t, () => t.rejects(execAdd(execOpts(bridgeConf, over)), cnidbgError(code, 2, message))),
  )
}

t.test('no ip(8) on PATH → MISSING_BINARY, exit 3, before anything is made', (t) =>
  leavesNothing(t, async () => {
    const path = process.env.PATH
    process.env.PATH = '/nonexistent'
    t.teardown(() => {
      process.env.PATH = path
    })
    const err = await execAdd(execOpts(bridgeConf, {rm: true})).catch((e: unknown) => e)
    process.env.PATH = path
    t.match(err, cnidbgError('MISSING_BINARY', 3, /Required programs? not found on PATH: ip/))
    t.match((err as {suggestions: string[]}).suggestions, [/apt-get install -y iproute2/])
  }),
)

t.test('not root → NOT_ROOT, exit 3', (t) =>
  leavesNothing(t, async () => {
    const getuid = process.getuid
    process.getuid = () => 1000
    t.teardown(() => {
      process.getuid = getuid
    })
    await t.rejects(execAdd(execOpts(bridgeConf, {rm: true})), cnidbgError('NOT_ROOT', 3, /needs root/))
    process.getuid = getuid
  }),
)

t.test('a hanging plugin is killed at the timeout, with its children; rollback runs; nothing left', (t) =>
  leavesNothing(t, async () => {
    const pidFile = join(work, 'sleep.pids')
    const conf = writeConf(work, 'sleep.conflist', {
      cniVersion: '1.0.0',
      name: 'sleepy',
      plugins: [{pidFile, type: 'cnidbg-sleep'}],
    })
    const r = await execAdd(execOpts(conf, {rm: true, timeoutSeconds: 1}))
    t.equal(r.ok, false)
    t.match(r.failure, /cnidbg-sleep ADD timed out after 1s; its process group was killed/)
    t.equal(r.invocations[0]?.timedOut, true)
    t.equal(r.invocations[0]?.signal, 'SIGKILL')
    t.equal(r.rolledBack, true, 'the rollback DEL ran (and the plugin answered it)')
    t.same(
      r.invocations.map((i) => i.verb),
      ['ADD', 'DEL'],
    )
    const [plugin, child] = readFileSync(pidFile, 'utf8').trim().split(' ').map(Number) as [number, number]
    t.ok(await eventually(() => !alive(plugin)), `plugin ${plugin} is gone`)
    t.ok(await eventually(() => !alive(child)), `its child ${child} is gone`)
  }),
)

t.test('a plugin printing 100 MB is cut off with a clear error; memory stays bounded; nothing left', (t) =>
  leavesNothing(t, async () => {
    const conf = writeConf(work, 'flood.conflist', {
      cniVersion: '1.0.0',
      name: 'flood',
      plugins: [{type: 'cnidbg-flood'}],
    })
    gc()
    const before = process.memoryUsage().rss
    const r = await execAdd(execOpts(conf, {rm: true, timeoutSeconds: 60}))
    gc()
    const grew = (process.memoryUsage().rss - before) / 2 ** 20
    t.equal(r.ok, false)
    t.match(r.failure, /cnidbg-flood ADD printed more than 16 MiB; it was killed and its output cut off/)
    t.equal(r.invocations[0]?.outputLimitExceeded, true)
    t.equal(r.invocations[0]?.timedOut, false, 'killed for the flood, long before the timeout')
    t.ok(
      r.invocations[0]!.stdout.length < 8192,
      `the invocation keeps only the start (${r.invocations[0]!.stdout.length} chars)`,
    )
    t.match(r.problems, [{plugin: 'cnidbg-flood', requirement: 'P2', severity: 'must'}])
    t.comment(`rss grew ${grew.toFixed(1)} MiB while a plugin printed 100 MB`)
    t.ok(grew < 64, `rss grew ${grew.toFixed(1)} MiB, well under the 100 MB printed`)
  }),
)

t.test('a result nested 20,000 levels deep is a P2 problem of the plugin, not a crash of cnidbg; nothing left', (t) =>
  leavesNothing(t, async () => {
    const conf = writeConf(work, 'deep.conflist', {cniVersion: '1.0.0', name: 'deep', plugins: [{type: 'cnidbg-deep'}]})
    // Was RangeError "Maximum call stack size exceeded" (exit 70) from encoding the result for the cache.
    const r = await execAdd(execOpts(conf, {rm: true}))
    t.equal(r.invocations[0]?.exitCode, 0)
    t.match(r.problems, [
      {plugin: 'cnidbg-deep', requirement: 'P2', severity: 'must', message: /nested deeper than \d+ levels/},
    ])
    t.ok(
      r.problems.some((p) => p.requirement === 'P33' && /printed no result/.test(p.message)),
      'P33: no result',
    )
    t.doesNotThrow(() => JSON.stringify(r), 'the outcome can be printed with --json')
  }),
)

t.test('an ADD that exits 0 with no result object fails (P33): rollback DEL, nothing cached', async (t) => {
  for (const [i, print] of ['', '[1]', 'ok\n'].entries()) {
    const log = join(work, `noresult${i}.log`)
    const cacheDir = join(work, `noresult${i}-cache`)
    const conf = writeConf(work, `noresult${i}.conflist`, {
      cniVersion: '1.0.0',
      name: 'noresult',
      plugins: [spy(log, 'a'), spy(log, 'b', {print}), spy(log, 'c')],
    })
    const r = await execAdd(execOpts(conf, {cacheDir, containerId: 'c1', netns: '/proc/self/ns/net'}))
    t.equal(r.ok, false, JSON.stringify(print))
    t.match(r.failure, /^cnidbg-spy ADD exited 0 but printed no result object$/)
    t.equal(r.rolledBack, true)
    t.equal(r.result, undefined, 'no result')
    t.ok(
      r.problems.some((p) => p.requirement === 'P33' && /printed no result/.test(p.message)),
      'P33: no result',
    )
    t.same(
      readSpyLog(log).map((c) => `${c.command} ${c.tag}`),
      ['ADD a', 'ADD b', 'DEL c', 'DEL b', 'DEL a'],
      'c never ADDed; the whole list is DELeted',
    )
    t.same(listCacheEntries(cacheDir), [], 'no result cached')
  }
})

t.test('a container ID too long for the cache file name is refused before any plugin runs', async (t) => {
  const log = join(work, 'longid.log')
  const cacheDir = join(work, 'longid-cache')
  const conf = writeConf(work, 'longid.conflist', {cniVersion: '1.0.0', name: 'longid', plugins: [spy(log, 'a')]})
  // Legal (NAME_RE has no length limit), but longid-<id>-eth0.tmp-PID is over 255 bytes.
  const containerId = 'c'.repeat(250)
  await t.rejects(
    execAdd(execOpts(conf, {cacheDir, containerId, netns: '/proc/self/ns/net'})),
    cnidbgError('INVALID_CONTAINER_ID', 2, /is too long: the result cache file .* at most 243 fit in a file name/),
  )
  t.same(readSpyLog(log), [], 'no plugin ran')
  // The longest that fits: longid- (7) + 231 + -eth0 (5) = 243 bytes, and .tmp- and a 7-digit pid.
  const r = await execAdd(execOpts(conf, {cacheDir, containerId: 'c'.repeat(231), netns: '/proc/self/ns/net'}))
  t.equal(r.ok, true, r.failure ?? 'ok')
  t.equal(listCacheEntries(cacheDir).length, 1)
  // DEL of such an attachment (nothing of it can be cached) runs the plugins and succeeds.
  const d = await execDel(execOpts(conf, {cacheDir, containerId, netns: '/proc/self/ns/net'}))
  t.equal(d.ok, true, d.failure ?? 'ok')
  t.same(
    readSpyLog(log).map((c) => c.command),
    ['ADD', 'DEL'],
  )
})

t.test('a result that cannot be cached is a failed ADD, rolled back', async (t) => {
  const log = join(work, 'nocache.log')
  const cacheDir = join(work, 'nocache-cache')
  mkdirSync(cacheDir)
  writeFileSync(join(cacheDir, 'results'), 'not a directory')
  const conf = writeConf(work, 'nocache.conflist', {
    cniVersion: '1.0.0',
    name: 'nocache',
    plugins: [spy(log, 'a'), spy(log, 'b')],
  })
  const r = await execAdd(execOpts(conf, {cacheDir, containerId: 'c1', netns: '/proc/self/ns/net'}))
  t.equal(r.ok, false)
  // results/ is a file: the cache's directory can't be made (mkdirParents: ENOTDIR).
  t.match(r.failure, /^the plugins' ADD worked, but caching the result failed: ENOTDIR/)
  t.equal(r.result, undefined)
  t.equal(r.rolledBack, true)
  t.same(
    readSpyLog(log).map((c) => `${c.command} ${c.tag}`),
    ['ADD a', 'ADD b', 'DEL b', 'DEL a'],
  )
})

t.test('a process the plugin left holding its output: ADD returns, says so, and the sandbox stops it', (t) =>
  leavesNothing(t, async () => {
    const pidFile = join(work, 'escaper.pid')
    process.env.CNIDBG_TEST_PIDFILE = pidFile
    t.teardown(() => {
      delete process.env.CNIDBG_TEST_PIDFILE
    })
    const conf = writeConf(work, 'escaper.conflist', {
      cniVersion: '1.0.0',
      name: 'esc',
      plugins: [{type: 'cnidbg-escaper'}],
    })
    // It used to wait for the end of the output for as long as that process ran (60 s), past any timeout.
    const r = await execAdd(execOpts(conf, {netns: 'auto', rm: true, sandbox: true, timeoutSeconds: 30}))
    t.equal(r.ok, true, r.failure ?? 'ADD ok')
    t.match(r.problems, [
      {plugin: 'cnidbg-escaper', requirement: 'P2', severity: 'should', message: /kept stdout or stderr open/},
    ])
    const pid = Number(readFileSync(pidFile, 'utf8'))
    t.ok(pid > 0, `the plugin left process ${pid}`)
    t.ok(await eventually(() => !alive(pid)), `process ${pid} was stopped with the sandbox`)
  }),
)

t.test('--netns auto without a sandbox: the namespace is kept until del (spies only: nothing touches the host)', (t) =>
  leavesNothing(t, async () => {
    const log = join(work, 'auto.log')
    const cacheDir = join(work, 'auto-cache')
    const conf = writeConf(work, 'auto.conflist', {cniVersion: '1.0.0', name: 'auto', plugins: [spy(log, 'x')]})
    const r = await execAdd(execOpts(conf, {cacheDir, netns: 'auto'}))
    t.equal(r.ok, true, r.failure ?? 'ok')
    t.equal(r.attachment?.sandbox, undefined)
    const name = r.attachment!.netns.split('/').pop()!
    t.ok(listNetns().includes(name), 'the throwaway netns exists')
    const marker = ownMarkers().find((m) => m.netns.includes(name))
    t.match(marker, {label: 'exec netns', persistent: true, pid: null}, 'kept for the del')
    const att = {cacheDir, containerId: r.attachment!.containerId, netns: r.attachment!.netns}
    const c = await execCheck(execOpts(conf, att))
    t.equal(c.ok, true, c.failure ?? 'ok')
    t.same(
      c.invocations.map((i) => i.path),
      [join(FIXTURES, 'bin', 'cnidbg-spy')],
      'run on the host, not in some sandbox',
    )
    const d = await execDel(execOpts(conf, att))
    t.equal(d.ok, true, d.failure ?? 'ok')
    t.equal(d.removed, true)
    t.notOk(listNetns().includes(name), 'del removed the netns')
    t.equal(readMarker(marker!.id), undefined)
    t.same(
      readSpyLog(log).map((c) => c.command),
      ['ADD', 'CHECK', 'DEL'],
    )
  }),
)

t.test('--netns auto, failed ADD: rolled back and the namespace removed', (t) =>
  leavesNothing(t, async () => {
    const log = join(work, 'autofail.log')
    const conf = writeConf(work, 'autofail.conflist', {
      cniVersion: '1.0.0',
      name: 'autofail',
      plugins: [spy(log, 'x', {failOn: 'ADD'})],
    })
    const r = await execAdd(execOpts(conf, {cacheDir: join(work, 'autofail-cache'), netns: 'auto'}))
    t.equal(r.ok, false)
    t.equal(r.rolledBack, true)
    t.equal(r.removed, true)
    t.equal(r.next, undefined)
    t.notOk(listNetns().includes(r.attachment!.netns.split('/').pop()!))
    t.same(
      readSpyLog(log).map((c) => c.command),
      ['ADD', 'DEL'],
    )
  }),
)

t.test('DEL succeeds for a netns that is already gone (SPEC §2 DEL)', (t) =>
  leavesNothing(t, async () => {
    const log = join(work, 'gone.log')
    const conf = writeConf(work, 'gone.conflist', {cniVersion: '1.0.0', name: 'gone', plugins: [spy(log, 'x')]})
    const d = await execDel(
      execOpts(conf, {cacheDir: join(work, 'gone-cache'), containerId: 'c1', netns: '/run/netns/cnidbg-h2-gone'}),
    )
    t.equal(d.ok, true, d.failure ?? 'ok')
    t.equal(readSpyLog(log)[0]?.env.CNI_NETNS, '/run/netns/cnidbg-h2-gone')
  }),
)

t.test('del/check of a cnidbg run namespace whose sandbox is gone never run plugins on this host', (t) =>
  leavesNothing(t, async () => {
    const log = join(work, 'gonesb.log')
    const conf = writeConf(work, 'gonesb.conflist', {cniVersion: '1.0.0', name: 'gonesb', plugins: [spy(log, 'x')]})
    const netns = `/run/netns/cnidbg-${randomBytes(3).toString('hex')}-ctr`
    const d = await execDel(execOpts(conf, {containerId: 'c1', netns}))
    t.equal(d.ok, true)
    t.match(d.skipped, /already gone: nothing to delete/)
    const c = await execCheck(execOpts(conf, {containerId: 'c1', netns}))
    t.equal(c.ok, false)
    t.match(c.failure, /already gone: nothing to check/)
    t.same(readSpyLog(log), [], 'no plugin ran')
  }),
)

t.test(
  'del/check of a run that is still under way (its owner alive) → RUN_IN_PROGRESS; nothing of it is touched',
  (t) =>
    leavesNothing(t, async () => {
      const log = join(work, 'live.log')
      const conf = writeConf(work, 'live.conflist', {cniVersion: '1.0.0', name: 'live', plugins: [spy(log, 'x')]})
      // Another cnidbg process's run sandbox, as an `exec add --rm` has it while it works: its owner is a
      // live process that is not us.
      const owner = spawn('sleep', ['60'], {stdio: 'ignore'})
      t.teardown(() => owner.kill('SIGKILL'))
      const m = ownMarker(newRunId(), 'exec add --rm')
      Object.assign(m, {pid: owner.pid, pidStart: procStat(owner.pid!).start})
      m.dirs.push(mkdtempSync(join(tmp, `cnidbg-${m.id}-`)))
      m.netns.push(`${NETNS_PREFIX}${m.id}-host`, `${NETNS_PREFIX}${m.id}-ctr`)
      writeMarker(m)
      t.teardown(() => releaseMarker(m))
      for (const n of m.netns) await createNetns(n)
      const netns = netnsPath(`${NETNS_PREFIX}${m.id}-ctr`)
      await t.rejects(execDel(execOpts(conf, {containerId: 'c1', netns})), cnidbgError('RUN_IN_PROGRESS', 2))
      await t.rejects(execCheck(execOpts(conf, {containerId: 'c1', netns})), cnidbgError('RUN_IN_PROGRESS', 2))
      await t.rejects(
        execDel(execOpts(conf, {containerId: 'c1', netns, sandbox: m.id})),
        cnidbgError('RUN_IN_PROGRESS', 2),
        'named by --sandbox too',
      )
      t.same(readSpyLog(log), [], 'no plugin ran')
      t.ok(readMarker(m.id), 'its marker is kept')
      t.ok(
        m.netns.every((n) => listNetns().includes(n)),
        'and its namespaces',
      )
      t.ok(existsSync(m.dirs[0]!), 'and its dir')
      t.ok(alive(owner.pid!), 'and its owner runs on')
      owner.kill('SIGKILL')
      await releaseMarker(m)
    }),
)

t.test('del/check with an unknown --sandbox id → SANDBOX_NOT_FOUND', async (t) => {
  await t.rejects(
    execDel(execOpts(bridgeConf, {netns: '/run/netns/x', sandbox: 'abcdef'})),
    cnidbgError('SANDBOX_NOT_FOUND', 2),
  )
  await t.rejects(
    execCheck(execOpts(bridgeConf, {netns: '/run/netns/x', sandbox: 'abcdef'})),
    cnidbgError('SANDBOX_NOT_FOUND', 2),
  )
  await t.rejects(execDel(execOpts(bridgeConf, {})), cnidbgError('MISSING_NETNS', 2))
})

t.test('gc/status with an unknown --sandbox id → SANDBOX_NOT_FOUND, and no plugin runs on this host', async (t) => {
  const log = join(work, 'nosb.log')
  const cacheDir = join(work, 'nosb-cache')
  const conf = writeConf(work, 'nosb.conflist', {cniVersion: '1.1.0', name: 'nosb', plugins: [spy(log, 'x')]})
  const r = await execAdd(execOpts(conf, {cacheDir, containerId: 'c1', netns: '/proc/self/ns/net'}))
  t.equal(r.ok, true, r.failure ?? 'ok')
  await t.rejects(execGc(execOpts(conf, {cacheDir, sandbox: 'abcdef'})), cnidbgError('SANDBOX_NOT_FOUND', 2))
  await t.rejects(execStatus(execOpts(conf, {sandbox: 'abcdef'})), cnidbgError('SANDBOX_NOT_FOUND', 2))
  t.same(
    readSpyLog(log).map((c) => c.command),
    ['ADD'],
    'neither the stale DEL nor GC nor STATUS ran',
  )
})

t.test('CHECK needs a cached ADD result, and cniVersion 0.4.0 or later (R22)', async (t) => {
  const conf = writeConf(work, 'check.conflist', {
    cniVersion: '1.0.0',
    name: 'check',
    plugins: [spy(join(work, 'check.log'), 'x')],
  })
  const c = await execCheck(
    execOpts(conf, {cacheDir: join(work, 'check-cache'), containerId: 'c1', netns: '/run/netns/x'}),
  )
  t.equal(c.ok, false)
  t.match(c.failure, /no cached ADD result for check\/c1\/eth0 .*CHECK needs the result of a previous ADD/)
  t.same(c.invocations, [])
  const old = writeConf(work, 'check031.conflist', {
    cniVersion: '0.3.1',
    name: 'check',
    plugins: [{type: 'cnidbg-spy'}],
  })
  const o = await execCheck(
    execOpts(old, {cacheDir: join(work, 'check-cache'), containerId: 'c1', netns: '/run/netns/x'}),
  )
  t.equal(o.ok, false)
  t.match(o.failure, /CHECK is not defined for cniVersion 0\.3\.1/)
  const off = writeConf(work, 'checkoff.conflist', {
    cniVersion: '1.0.0',
    disableCheck: true,
    name: 'check',
    plugins: [{type: 'cnidbg-spy'}],
  })
  const s = await execCheck(
    execOpts(off, {cacheDir: join(work, 'check-cache'), containerId: 'c1', netns: '/run/netns/x'}),
  )
  t.equal(s.ok, true)
  t.match(s.skipped, /disableCheck/)
})
