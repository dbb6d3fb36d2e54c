/**
 * `cnidbg exec invoke`: one plugin call exactly as given (only the CNI_* variables named, the stdin
 * as is), from the host of a named sandbox that the first call makes and --rm removes.
 */
import {chmodSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import ExecInvoke from '../../../src/commands/exec/invoke.js'
import {readMarkers} from '../../../src/netns/index.js'
import {installSignalCleanup} from '../../../src/process/cleanup.js'
import type {ExecResult} from '../../../src/services/exec.js'
import {runCommand} from '../../helpers/capture.js'
import {assertNothingLeft, machineState, privateTmpdir} from '../../helpers/machine.js'

installSignalCleanup()
const before = await machineState()
const tmp = privateTmpdir(t)
const invoke = (argv: string[]) => runCommand<ExecResult>(ExecInvoke, 'exec:invoke', argv)

// A plugin that answers with the CNI_* variables it got, the netns it runs in and its stdin.
const plugin = join(tmp, 'env-plugin')
writeFileSync(
  plugin,
  `#!/bin/sh
in=$(cat)
printf '{"cniVersion":"1.0.0","env":"%s","hostns":"%s","stdin":"%s","links":"%s"}' "$(env | grep '^CNI_' | sort | tr '\\n' ' ')" "$(ip netns identify)" "$(printf %s "$in" | tr '"' "'")" "$(ip -o link show | cut -d: -f2 | tr -d ' ' | tr '\\n' ' ')"
`,
)
chmodSync(plugin, 0o755)
const name = `cnidbgtest-${process.pid}`

t.test('one call, exactly as given, in the sandbox; the sandbox lives until --rm', async (t) => {
  process.env.CNI_IFNAME = 'leaked-from-our-env'
  t.teardown(() => delete process.env.CNI_IFNAME)
  const first = await invoke([
    plugin,
    '--sandbox',
    name,
    '--netns',
    'c0',
    '--env',
    'CNI_COMMAND=ADD',
    '--env',
    'CNI_CONTAINERID=x',
    '--host-link',
    'cnidbg-hl0',
    '--stdin',
    '{"a":"b"}',
    '--json',
  ])
  t.equal(first.exitCode, 0, first.stderr)
  const r = (JSON.parse(first.stdout) as {result: ExecResult}).result
  const out = r.result as {env: string; hostns: string; stdin: string; links: string}
  const id = readMarkers().find((m) => m.label === `exec invoke ${name}`)?.id
  t.ok(id, 'the first call made a kept sandbox under that name')
  t.equal(
    out.env.trim(),
    `CNI_COMMAND=ADD CNI_CONTAINERID=x CNI_NETNS=/run/netns/cnidbg-${id}-c0`,
    'only what was given',
  )
  t.equal(out.hostns, `cnidbg-${id}-host`, "run from the sandbox's host, never this one")
  t.equal(out.stdin, "{'a':'b'}", 'stdin as is')
  t.match(out.links, /(^| )cnidbg-hl0@cnidbg-hl0p /, 'the host link it expects, made in the sandbox host')
  const last = await invoke([plugin, '--sandbox', name, '--env', 'CNI_COMMAND=DEL', '--rm'])
  t.equal(last.exitCode, 0, last.stderr)
  t.match(last.stdout, `CNI_COMMAND=DEL`, 'the call is shown')
  t.match(last.stdout, `"hostns":"cnidbg-${id}-host"`, 'the second call found the same sandbox')
  t.notOk(
    readMarkers().some((m) => m.label === `exec invoke ${name}`),
    '--rm removed it',
  )
})

t.test('usage errors, before anything is made', async (t) => {
  for (const argv of [
    ['--env', 'CNI_CONTAINERID=x'],
    ['--env', 'PATH=/evil', '--env', 'CNI_COMMAND=ADD'],
    ['--env', 'CNI_COMMAND=ADD', '--netns', '../x'],
    ['--env', 'CNI_COMMAND=ADD', '--host-link', 'a/b'],
  ]) {
    const c = await invoke([plugin, '--sandbox', name, ...argv])
    t.equal(c.exitCode, 2, `${argv.join(' ')}: exit 2`)
  }
  t.equal((await invoke([plugin, '--sandbox', 'Bad/Name', '--env', 'CNI_COMMAND=ADD'])).exitCode, 2, 'a bad name')
  t.equal((await invoke([join(tmp, 'nope'), '--sandbox', name, '--env', 'CNI_COMMAND=ADD'])).exitCode, 2, 'no plugin')
  t.notOk(
    readMarkers().some((m) => m.label === `exec invoke ${name}`),
    'no sandbox was made',
  )
})

t.test('left nothing behind', async (t) => {
  await assertNothingLeft(t, before)
})
