import {join} from 'node:path'

import t from 'tap'

import ExecStatus from '../../../src/commands/exec/status.js'
import ExecVersion from '../../../src/commands/exec/version.js'
import type {ExecResult} from '../../../src/services/exec.js'
import {runCommand, stripAnsi} from '../../helpers/capture.js'
import {FIXTURES, haveUpstream, workDir, writeConf} from '../../helpers/runtime-fixtures.js'

const skip = haveUpstream('bridge', 'tuning', 'portmap', 'bandwidth') ? false : 'no upstream plugins in /usr/lib/cni'
const chain = join(FIXTURES, 'chain.conflist')
const work = workDir(t)

t.test('exec version --json lists every plugin with its versions', {skip}, async (t) => {
  const c = await runCommand<ExecResult>(ExecVersion, 'exec:version', [
    '--conf',
    chain,
    '--cni-path',
    '/usr/lib/cni',
    '--json',
  ])
  t.equal(c.exitCode, 0, c.stderr)
  const env = JSON.parse(c.stdout) as {command: string; status: number; result: ExecResult}
  t.match(env, {command: 'exec version', schemaVersion: 1, status: 0})
  t.same(
    env.result.plugins?.map((p) => [p.type, p.supportsConfigVersion, p.supportedVersions.includes('1.0.0')]),
    [
      ['bridge', true, true],
      ['tuning', true, true],
      ['portmap', true, true],
      ['bandwidth', true, true],
    ],
  )
})

t.test('exec version for people: one line per plugin; exit 1 if one lacks the config version', {skip}, async (t) => {
  const c = await runCommand(ExecVersion, 'exec:version', ['--conf', chain, '--cni-path', '/usr/lib/cni'])
  const out = stripAnsi(c.stdout)
  t.match(out, /^ {2}✓ bridge {7}0\.1\.0, 0\.2\.0, 0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0 {2}\/usr\/lib\/cni\/bridge$/m)
  t.match(out, /^ {2}✓ bandwidth {4}0\.3\.0, 0\.3\.1, 0\.4\.0, 1\.0\.0 /m)
  const newer = writeConf(work, 'v11.conflist', {cniVersion: '1.1.0', name: 'v11', plugins: [{type: 'bridge'}]})
  const bad = await runCommand(ExecVersion, 'exec:version', ['--conf', newer, '--cni-path', '/usr/lib/cni'])
  t.equal(bad.exitCode, 1)
  t.match(stripAnsi(bad.stderr), /✗ VERSION failed: bridge does not support 1\.1\.0/)
  t.match(stripAnsi(bad.stderr), /^ {2}✗ bridge /m)
})

t.test('exec status below 1.1.0 succeeds without calling plugins', {skip}, async (t) => {
  const c = await runCommand<ExecResult>(ExecStatus, 'exec:status', [
    '--conf',
    chain,
    '--cni-path',
    '/usr/lib/cni',
    '--json',
  ])
  t.equal(c.exitCode, 0)
  t.match(JSON.parse(c.stdout), {
    command: 'exec status',
    result: {invocations: [], ok: true, skipped: /no STATUS verb/},
    status: 0,
  })
})
