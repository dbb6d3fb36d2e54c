// `cnidbg conformance --served` on the bundled cnidbg-ref: the whole suite passes with every case's ADD
// and DEL going through a plugin server of the case's own (distinct pids, each one serving), nothing
// is left behind, also after Ctrl-C in the middle of a run; a plugin that does not serve fails its
// cases; --served refuses what it cannot test.
import {chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {EventEmitter} from 'node:events'

import t from 'tap'

import {type RunEmitter, runConformance, type ConformanceOptions} from '../../src/conformance/runner.js'
import {readMarkers} from '../../src/netns/markers.js'
import {listNetns} from '../../src/netns/netns.js'
import {run} from '../../src/process/exec.js'
import {ROOT} from '../helpers/capture.js'
import {alive, assertNothingLeft, eventually, machineState, privateTmpdir, sandboxDirsIn} from '../helpers/machine.js'
import {bundle} from '../helpers/ref-plugins.js'

t.setTimeout(1_800_000)
const before = await machineState()
// Bundled first: the private TMPDIR below is for the sandboxes' temp dirs alone.
const dir = await bundle(t)
const tmp = privateTmpdir(t)
const conf = join(ROOT, 'fixtures/conf/ref.conflist')

const options = (over: Partial<ConformanceOptions> = {}): ConformanceOptions => ({
  cniPath: [dir],
  conf,
  host: false,
  parallel: 4,
  profile: 'default',
  served: true,
  strict: false,
  timeoutSeconds: 60,
  ...over,
})
const suite = (over: Partial<ConformanceOptions> = {}) =>
  runConformance(options(over), new EventEmitter() as RunEmitter)

/** The plugin servers of the cnidbg-ref in `bin` that run now (by their command line). */
function servers(bin = dir): number[] {
  const want = `${join(bin, 'cnidbg-ref')}\0--serve\0`
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(want)
      } catch {
        return false
      }
    })
    .map(Number)
}

t.test('the whole suite passes served, every case with a server of its own', async (t) => {
  const report = await suite()
  t.equal(report.served, true, 'the report says it ran served')
  t.same(
    report.checks.filter((c) => c.status === 'fail').map((c) => `${c.id}@${c.version}: ${c.message}`),
    [],
    `0 failures (${report.summary.passed} passed, ${report.summary.warned} warned, ${report.summary.skipped} skipped)`,
  )
  t.ok(report.summary.passed > 50, 'a real run, at every version cnidbg-ref claims')
  t.same(report.versions, ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'])
  const pids = report.checks.map((c) => c.server?.pid)
  t.notOk(
    pids.some((p) => p === undefined),
    'every case had a server',
  )
  t.equal(new Set(pids).size, pids.length, `${pids.length} cases, ${pids.length} distinct servers: none shared`)
  // Every case that adds or deletes an attachment through the plugin had it done by its server.
  const attach = report.checks.filter((c) => /^(add|del|check)\./.test(c.id))
  t.ok(attach.length > 20)
  t.same(
    attach.filter((c) => !(c.server!.served > 0)).map((c) => `${c.id}@${c.version}`),
    [],
    'each ADD/DEL/CHECK case: its ADD and DEL went through its own server',
  )
  t.notOk(
    pids.some((p) => alive(p!)),
    'every server stopped with its case',
  )
  t.same(servers(), [], 'no server of this plugin runs')
})

t.test('a plugin without a served mode: its served cases fail, saying why', async (t) => {
  // cnidbg-ref for everything but --serve, which fails as a plugin without a server would.
  const fake = join(tmp, 'fake-bin')
  mkdirSync(fake)
  writeFileSync(
    join(fake, 'cnidbg-ref'),
    `#!/bin/sh\n[ "$1" = --serve ] && { echo 'no server here' >&2; exit 1; }\nexec ${join(dir, 'cnidbg-ref')} "$@"\n`,
  )
  chmodSync(join(fake, 'cnidbg-ref'), 0o755)
  const report = await suite({cniPath: [fake, dir], only: ['add.result-schema', 'del.idempotent'], versions: ['1.1.0']})
  t.same(
    report.checks.map((c) => [c.id, c.status, c.server]),
    [
      ['add.result-schema', 'fail', undefined],
      ['del.idempotent', 'fail', undefined],
    ],
  )
  for (const c of report.checks)
    t.match(c.message, /the check could not run: the plugin server did not start .*no server here/, c.id)
  t.match(report.checks[0]?.evidence?.reproduce, / --served( |$)/, 'the reproduce line runs it served')
})

t.test('--served refuses what it cannot test', async (t) => {
  await t.rejects(suite({host: true}), {code: 'SERVED_HOST'}, 'not with --host: the servers need sandboxes')
  await t.rejects(
    suite({role: 'ipam'}),
    {code: 'SERVED_PLUGIN', message: /the plugin under test is cnidbg-ipam, not cnidbg-ref/},
    'the plugin under test must be cnidbg-ref',
  )
})

const built = existsSync(join(ROOT, 'dist', 'bundle', 'run.cjs')) ? false : 'dist/ is not built: run npm run build'

t.test('Ctrl-C during a served run: the servers, sandboxes and markers go', {skip: built}, async (t) => {
  const pidFile = join(tmp, 'cli.pid')
  // `exec` keeps the pid, so the pid file names the CLI process itself.
  const cli = `echo $$ > ${pidFile}; exec ${process.execPath} ${join(ROOT, 'bin', 'run.js')} conformance ${conf} --cni-path ${dir} --served --parallel 4 --reporter tap`
  const done = run('sh', ['-c', cli], {timeoutMs: 600_000})
  t.ok(await eventually(() => servers().length > 0, 300_000), 'cases are running, with their servers')
  const pid = Number(readFileSync(pidFile, 'utf8'))
  const mine = readMarkers().filter((m) => m.pid === pid)
  t.ok(mine.length > 0, "the run's sandboxes have markers")
  process.kill(pid, 'SIGINT')
  const r = await done
  t.equal(r.exitCode, 130, r.stderr)
  t.match(r.stderr, /SIGINT received, cleaning up/)
  t.ok(await eventually(() => servers().length === 0), 'no server left')
  t.same(
    readMarkers().filter((m) => m.pid === pid),
    [],
    'no marker of the run left',
  )
  const netns = listNetns()
  t.same(
    mine.flatMap((m) => m.netns).filter((n) => netns.includes(n)),
    [],
    'no namespace of its sandboxes left',
  )
  t.same(sandboxDirsIn(tmp), [], 'no sandbox dir left')
})

t.test('the machine is as before', (t) => assertNothingLeft(t, before, tmp))
