// The shell front's pieces that need no namespaces: quoting, the plan protocol's error path and the
// script itself. The kernel work through the front is in plugin-ref.ts (it runs the bundled cnidbg-ref).
import {chmodSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

import {run} from '../../src/process/exec.js'
import {shellQuote} from '../../src/core/quote.js'
import {frontRun, frontScript, withFront} from '../../src/reference-plugin/front.js'

t.test('shellQuote: sh reads every byte back', async (t) => {
  const nasty = [
    '',
    "it's",
    `'"$HOME" \`id\` $(id) \\ ; & | < > * ? [ ] { } ~ # !`,
    'line 1\nline 2\n',
    '{"cniVersion":"1.1.0","name":"n\'s"}',
  ]
  for (const text of nasty) {
    const r = await run('sh', ['-c', `eval "x=$1"; printf '%s' "$x"`, 'sh', shellQuote(text)])
    t.equal(r.stdout, text, JSON.stringify(text))
  }
})

t.test('--plan: errors come back as the CNI error and its exit code, not as a plan', async (t) => {
  const out = await frontRun(['--plan'], {CNI_COMMAND: 'ADD'}, '{"cniVersion":"1.1.0","name":"n","type":"cnidbg-ref"}')
  t.equal(out.exitCode, 1)
  const err = JSON.parse(out.stdout)
  t.equal(err.code, 4, 'CNI_CONTAINERID and friends are missing: invalid environment')
  t.notMatch(out.stdout, /^host=/m)
  const bad = await frontRun(['--plan'], {CNI_COMMAND: 'ADD'}, 'not json')
  t.equal(JSON.parse(bad.stdout).code, 4, 'the environment is checked first, as in Go skel')
})

t.test('--del-failed turns the ip error into the CNI error for the link', async (t) => {
  const env = {CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c1', CNI_NETNS: '', CNI_IFNAME: 'eth0', CNI_PATH: '/nowhere'}
  const conf = '{"cniVersion":"1.1.0","name":"n","type":"cnidbg-ref","ipam":{"type":"cnidbg-ipam"}}'
  const out = await frontRun(['--del-failed', 'RTNETLINK answers: Operation not permitted'], env, conf)
  t.equal(out.exitCode, 1)
  const err = JSON.parse(out.stdout)
  t.equal(err.code, 100)
  t.match(err.msg, /^deleting cnidbg[0-9a-f]{8} failed/)
  t.match(err.details, /Operation not permitted/)
})

t.test('the front names the Node it is given, is valid sh, and is one JS comment', async (t) => {
  const front = frontScript("/opt/node's/bin/node")
  t.match(front, /^#!\/bin\/sh\n":" \/\*\n/)
  t.match(front, /^node='\/opt\/node'\\''s\/bin\/node'$/m)
  t.match(front, /\nexit 0\n\*\/\n$/, 'the shell leaves before the closing */')
  t.equal(front.indexOf('*/'), front.length - 3, 'nothing closes the comment early')
  const r = await run('sh', ['-n', '-c', front])
  t.equal(r.exitCode, 0, r.stderr)
  // As JavaScript, the front is a string and a comment: the code after it runs, in strict mode.
  const js = await run(process.execPath, [
    '-e',
    `${front}"use strict"; console.log((function () { return this })() === undefined ? 'strict' : 'sloppy')`,
  ])
  t.equal(js.stdout.trim(), 'strict', js.stderr)
  t.throws(() => frontScript('/opt/*/node'), /cannot write a shell front/)
})

t.test('withFront puts a new front on the bare bundle or replaces an old one', async (t) => {
  const body = '"use strict";console.log(1)\n'
  const fronted = withFront('/usr/bin/node', `#!/usr/bin/node\n${body}`)
  t.equal(fronted, frontScript('/usr/bin/node') + body)
  t.equal(withFront('/usr/local/bin/node', fronted), frontScript('/usr/local/bin/node') + body)
})

t.test('a verb other than ADD and DEL, or none, gets Node with the arguments (cnidbg-ref --serve)', async (t) => {
  // A body that prints what Node was given: the front's job is only to pass it on.
  const dir = mkdtempSync(join(tmpdir(), 'cnidbgtest-front-'))
  t.teardown(() => rmSync(dir, {force: true, recursive: true}))
  const file = join(dir, 'cnidbg-ref')
  writeFileSync(file, `${frontScript(process.execPath)}console.log(JSON.stringify(process.argv.slice(2)))\n`)
  chmodSync(file, 0o755)
  const env = {PATH: process.env.PATH}
  const serve = await run(file, ['--serve', '/run/cni/x y', '--quiet'], {env, extendEnv: false})
  t.same(JSON.parse(serve.stdout), ['--serve', '/run/cni/x y', '--quiet'], serve.stderr)
  const plain = await run(file, [], {env: {...env, CNI_COMMAND: 'VERSION'}, extendEnv: false})
  t.same(JSON.parse(plain.stdout), [], 'a runtime passes none, and Node gets none')
})
