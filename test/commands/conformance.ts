// `cnidbg conformance` as a command: a json reporter's file is the bare report, and under --json it
// is the same envelope that --json prints on stdout. One quick check of the upstream bridge plugin.
import {readFileSync, symlinkSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import Conformance from '../../src/commands/conformance.js'
import {ROOT, runCommand} from '../helpers/capture.js'
import {privateTmpdir} from '../helpers/machine.js'
import {CNI_PATH, FIXTURES, haveUpstream} from '../helpers/runtime-fixtures.js'

const tmp = privateTmpdir(t)
const skip = haveUpstream('bridge', 'host-local') ? false : 'no upstream plugins in /usr/lib/cni'
const argv = (output: string) => [
  join(FIXTURES, 'bridge.conflist'),
  '--cni-path',
  CNI_PATH.join(':'),
  '--only',
  'version.output',
  '--versions',
  '1.0.0',
  '--reporter',
  'json',
  '--output',
  output,
]

t.test('--reporter json --output FILE: the bare report', {skip}, async (t) => {
  const file = join(tmp, 'bare.json')
  const c = await runCommand(Conformance, 'conformance', argv(file))
  t.equal(c.exitCode, 0, c.stderr)
  const report = JSON.parse(readFileSync(file, 'utf8'))
  t.match(report, {summary: {failed: 0}})
  t.notOk('schemaVersion' in report, 'no envelope')
})

t.test('with --json the file holds the envelope, the same document as stdout', {skip}, async (t) => {
  const file = join(tmp, 'envelope.json')
  const c = await runCommand(Conformance, 'conformance', [...argv(file), '--json'])
  t.equal(c.exitCode, 0, c.stderr)
  const fromFile = JSON.parse(readFileSync(file, 'utf8'))
  t.match(fromFile, {schemaVersion: 1, command: 'conformance', status: 0, warnings: [], result: {summary: {failed: 0}}})
  t.same(fromFile, JSON.parse(c.stdout), 'file and stdout parse the same')
})

t.test(
  'an --output file that cannot be written is a usage error naming it (exit 2), not a crash',
  {skip},
  async (t) => {
    const file = join(tmp, 'no-such-dir', 'report.json')
    const c = await runCommand(Conformance, 'conformance', [...argv(file), '--json'])
    t.equal(c.exitCode, 2, c.stderr)
    t.match(JSON.parse(c.stdout), {
      status: 2,
      error: {code: 'REPORT_NOT_WRITTEN', message: /no-such-dir\/report\.json/},
    })
  },
)

t.test('--output paths are checked before the run: a wrong one is exit 2 at once, before any plugin', async (t) => {
  for (const [what, output] of [
    ['a missing directory', join(tmp, 'nowhere', 'j.xml')],
    ['a directory', tmp],
  ]) {
    // --cni-path /nonexistent: had the run started, the error would be PLUGIN_NOT_FOUND.
    const c = await runCommand(Conformance, 'conformance', [
      ...[join(FIXTURES, 'bridge.conflist'), '--cni-path', '/nonexistent'],
      ...['--reporter', 'junit', '--output', output, '--reporter', 'tap', '--json'],
    ])
    t.equal(c.exitCode, 2, `${what}: ${c.stderr}`)
    t.match(JSON.parse(c.stdout), {error: {code: 'REPORT_NOT_WRITTEN', message: output}, status: 2}, what)
  }
})

t.test(
  'a file that cannot be written after the run loses nothing else: stdout first, then exit 2',
  {skip},
  async (t) => {
    // Passes the check before the run (a link in a writable dir), fails when written (its target's dir is gone).
    const link = join(tmp, 'dangling.xml')
    symlinkSync(join(tmp, 'gone-dir', 'j.xml'), link)
    const flags = ['--only', 'version.output', '--versions', '1.0.0', '--reporter', 'junit', '--output', link]
    const conf = [join(FIXTURES, 'bridge.conflist'), '--cni-path', CNI_PATH.join(':')]
    const h = await runCommand(Conformance, 'conformance', [...conf, ...flags, '--reporter', 'tap'])
    t.equal(h.exitCode, 2, h.stderr)
    t.match(h.stdout, /^TAP version 14$/m, 'the tap report is printed')
    t.match(h.stderr, /Error: Cannot write the report to .*dangling\.xml: ENOENT/)
    const j = await runCommand(Conformance, 'conformance', [...conf, ...flags, '--json'])
    t.equal(j.exitCode, 2, j.stderr)
    const env = JSON.parse(j.stdout)
    t.match(env, {status: 2, result: {summary: {failed: 0}}}, 'the report, not an error envelope')
    t.match(env.warnings, [/Cannot write the report to .*dangling\.xml: ENOENT/])
  },
)

t.test(
  'a TMPDIR where no sandbox can be made stops the run with exit 3, not a failure of every check',
  {skip},
  async (t) => {
    const gone = join(tmp, 'gone')
    process.env.TMPDIR = gone
    t.teardown(() => {
      process.env.TMPDIR = tmp
    })
    const c = await runCommand(Conformance, 'conformance', [
      join(FIXTURES, 'bridge.conflist'),
      '--cni-path',
      CNI_PATH.join(':'),
      '--only',
      'version.output,add.result-schema',
      '--json',
    ])
    t.equal(c.exitCode, 3, c.stderr)
    t.match(JSON.parse(c.stdout), {
      status: 3,
      error: {
        code: 'TMPDIR_UNUSABLE',
        message: `Can't create a temporary directory in TMPDIR (${gone}): it does not exist.`,
      },
    })
    t.notOk('result' in JSON.parse(c.stdout), 'no report that blames the plugin')
  },
)

t.test('--only that selects nothing is a usage error listing the check ids', {skip}, async (t) => {
  const c = await runCommand(Conformance, 'conformance', [
    join(FIXTURES, 'bridge.conflist'),
    '--cni-path',
    CNI_PATH.join(':'),
    '--only',
    'no.such.check',
    '--json',
  ])
  t.equal(c.exitCode, 2, c.stderr)
  const env = JSON.parse(c.stdout)
  t.match(env, {status: 2, error: {code: 'NO_CHECKS', message: 'No checks selected.'}})
  t.match(env.error.suggestions[0], /^Check ids: .*\bdel\.idempotent\b/)
  t.notMatch(env.error.suggestions.join('\n'), /--list/, 'no flag that does not exist')
})

t.test('--served: documented in --help, and refused with --host (exit 2) before any plugin runs', async (t) => {
  const conf = join(ROOT, 'fixtures/conf/ref.conflist')
  const c = await runCommand(Conformance, 'conformance', [
    conf,
    '--cni-path',
    '/nonexistent',
    '--role',
    'interface',
    '--served',
    '--host',
    '--json',
  ])
  t.equal(c.exitCode, 2, c.stderr)
  t.match(JSON.parse(c.stdout), {status: 2, error: {code: 'SERVED_HOST', message: /does not go with --host/}})
  t.match(Conformance.flags.served.summary, /its own plugin server/)
})
