/**
 * A signal while a command runs (README "Exit codes"): the cleanup takes the command's sandbox away
 * under it, and what then fails in the command is the interruption, not a bug in cnidbg. The built
 * CLI, as a user runs it, with a plugin that hangs in ADD: signalled once the plugin has written its
 * pid file, so the ADD is always in flight.
 */
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {run} from '../../src/process/exec.js'
import {ROOT} from '../helpers/capture.js'
import {alive, assertNothingLeft, eventually, machineState, privateTmpdir} from '../helpers/machine.js'
import {FIXTURE_BIN, workDir, writeConf} from '../helpers/runtime-fixtures.js'

const before = await machineState()
const tmp = privateTmpdir(t)
const work = workDir(t)
const bin = join(ROOT, 'bin', 'run.js')
const noDist = existsSync(join(ROOT, 'dist', 'bundle', 'run.cjs'))
  ? false
  : 'dist/ is not built: run `npm run build` first'

for (const [signal, code, json] of [
  ['SIGINT', 130, true],
  ['SIGTERM', 143, true],
  ['SIGINT', 130, false],
  // The terminal went away: 128 + 1, as a shell reports it.
  ['SIGHUP', 129, true],
] as const) {
  const name = `${signal.toLowerCase()}-${json ? 'json' : 'human'}`
  t.test(
    `${signal} during exec add --sandbox --rm${json ? ' --json' : ''}: exit ${code}, no "bug"`,
    {skip: noDist},
    async (t) => {
      const pidFile = join(work, `${name}.cli`)
      const pluginPids = join(work, `${name}.plugin`)
      const conf = writeConf(work, `${name}.conflist`, {
        cniVersion: '1.0.0',
        name,
        plugins: [{pidFile: pluginPids, type: 'cnidbg-sleep'}],
      })
      const args = [
        '--conf',
        conf,
        '--cni-path',
        FIXTURE_BIN,
        '--sandbox',
        '--netns',
        'auto',
        '--rm',
        '--timeout',
        '3600',
      ]
      // `exec` keeps the pid, so the pid file names the CLI process itself.
      const script = `echo $$ > ${pidFile}; exec node ${bin} exec add ${args.join(' ')}${json ? ' --json' : ''}`
      const done = run('sh', ['-c', script], {timeoutMs: 120_000})
      const text = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '')
      t.ok(
        await eventually(() => /^\d+\n$/.test(text(pidFile)) && /^\d+ \d+\n$/.test(text(pluginPids)), 60_000),
        'the plugin is in ADD',
      )
      const pid = Number(text(pidFile))
      const plugin = text(pluginPids).trim().split(' ').map(Number)
      t.teardown(() => {
        for (const p of [pid, ...plugin]) if (p > 1 && alive(p)) process.kill(p, 'SIGKILL')
      })
      process.kill(pid, signal)
      const r = await done
      t.equal(r.exitCode, code, r.stderr)
      t.notMatch(r.stderr, /bug in cnidbg/, 'no "this is a bug" line')
      t.notMatch(r.stderr, /^\s+at /m, 'no stack trace')
      if (json) {
        const envelope = JSON.parse(r.stdout) as {status: number; command: string; error?: {code: string}}
        t.match(
          envelope,
          {command: 'exec add', status: code, error: {code: 'INTERRUPTED'}},
          'one envelope, its status the exit code',
        )
      } else {
        t.equal(r.stdout, '', 'nothing on stdout')
        t.match(r.stderr, new RegExp(`cnidbg: ${signal} received, cleaning up`))
      }
      t.ok(await eventually(() => plugin.every((p) => !alive(p))), 'the plugin was stopped')
    },
  )
}

t.test('the machine is as before', (t) => assertNothingLeft(t, before, tmp))
