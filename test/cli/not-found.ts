/**
 * What the built CLI says to a command name that is no command, or to a topic alone under --json:
 * a usage error like any command's (exit 2), naming the command with spaces as it was typed, and
 * under --json one envelope on stdout (README "JSON output").
 */
import {existsSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {run} from '../../src/process/exec.js'
import {ROOT} from '../helpers/capture.js'

const bin = join(ROOT, 'bin', 'run.js')
const noDist = existsSync(join(ROOT, 'dist', 'bundle', 'run.cjs'))
  ? false
  : 'dist/ is not built: run `npm run build` first'
const cli = (...args: string[]) => run(process.execPath, [bin, ...args], {timeoutMs: 60_000})

t.test('a mistyped command under --json: one envelope, exit 2', {skip: noDist}, async (t) => {
  const r = await cli('exec', 'ad', '--json')
  t.equal(r.exitCode, 2, r.stderr)
  t.same(JSON.parse(r.stdout), {
    schemaVersion: 1,
    command: 'exec ad',
    status: 2,
    warnings: [],
    error: {
      code: 'COMMAND_NOT_FOUND',
      message: 'Unknown command: cnidbg exec ad',
      suggestions: ['Did you mean cnidbg exec add?', 'See the commands: cnidbg exec --help'],
    },
  })
  const nope = await cli('nope', '--json')
  t.equal(nope.exitCode, 2)
  t.match(JSON.parse(nope.stdout), {command: 'nope', status: 2, error: {code: 'COMMAND_NOT_FOUND'}})
})

t.test('a mistyped command without --json: one line with spaces, exit 2', {skip: noDist}, async (t) => {
  const r = await cli('exec', 'ad')
  t.equal(r.exitCode, 2)
  t.equal(r.stdout, '')
  t.match(r.stderr, /^Error: Unknown command: cnidbg exec ad\n.*Did you mean cnidbg exec add\?/)
  t.notMatch(r.stderr, /exec:ad/)
})

t.test('a topic alone under --json is a usage error; without it, its help', {skip: noDist}, async (t) => {
  const r = await cli('exec', '--json')
  t.equal(r.exitCode, 2, r.stderr)
  t.match(JSON.parse(r.stdout), {command: 'exec', status: 2, error: {code: 'USAGE', message: /exec add, exec check/}})
  const help = await cli('exec')
  t.equal(help.exitCode, 0)
  t.match(help.stdout, /COMMANDS\n\s+exec add/)
  const none = await cli('--json')
  t.equal(none.exitCode, 2)
  t.match(JSON.parse(none.stdout), {status: 2, error: {code: 'USAGE', message: 'Name a command.'}})
})

t.test('--json after -- belongs to what follows, and --help wins over --json', {skip: noDist}, async (t) => {
  const r = await cli('exec', 'ad', '--', '--json')
  t.equal(r.exitCode, 2)
  t.equal(r.stdout, '', 'no envelope')
  const help = await cli('exec', '--json', '--help')
  t.equal(help.exitCode, 0)
  t.match(help.stdout, /COMMANDS/)
})
