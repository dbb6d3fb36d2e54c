import t from 'tap'

import SandboxLs from '../../../src/commands/sandbox/ls.js'
import {Sandbox} from '../../../src/netns/sandbox.js'
import type {SandboxListResult} from '../../../src/services/sandbox.js'
import {runCommand, stripAnsi} from '../../helpers/capture.js'
import {assertNothingLeft, machineState, privateTmpdir} from '../../helpers/machine.js'

const before = await machineState()
const tmp = privateTmpdir(t)

t.test('sandbox ls lists live and kept sandboxes with their namespaces', async (t) => {
  const live = await Sandbox.create({label: 'ls-live'})
  t.teardown(() => live.dispose())
  await live.addNetns('ctr')
  const kept = await Sandbox.create({label: 'ls-kept'})
  t.teardown(() => kept.dispose())
  kept.keep()

  const j = await runCommand<SandboxListResult>(SandboxLs, 'sandbox:ls', ['--json'])
  t.equal(j.exitCode, 0, j.stderr)
  const env = JSON.parse(j.stdout) as {command: string; result: SandboxListResult; status: number}
  t.match(env, {command: 'sandbox ls', result: {orphans: Array, sandboxes: Array}, schemaVersion: 1, status: 0})
  const byId = new Map(env.result.sandboxes.map((s) => [s.id, s]))
  t.match(byId.get(live.id), {
    label: 'ls-live',
    netns: [live.host.name, `cnidbg-${live.id}-ctr`],
    pid: process.pid,
    state: 'live',
  })
  t.match(byId.get(kept.id), {label: 'ls-kept', netns: [kept.host.name], pid: null, state: 'kept'})

  const h = await runCommand(SandboxLs, 'sandbox:ls', [])
  const out = stripAnsi(h.stdout)
  t.match(out, new RegExp(`^${live.id} {2}live {3}ls-live .*${live.host.name}`, 'm'))
  t.match(out, new RegExp(`^${kept.id} {2}kept {3}ls-kept`, 'm'))
})

t.test('an unknown flag is a usage error, not an empty list', async (t) => {
  const j = await runCommand(SandboxLs, 'sandbox:ls', ['--nope', '--json'])
  t.equal(j.exitCode, 2, j.stdout)
  t.match(JSON.parse(j.stdout), {command: 'sandbox ls', status: 2, error: {code: 'USAGE', message: /--nope/}})
  const h = await runCommand(SandboxLs, 'sandbox:ls', ['--nope'])
  t.equal(h.exitCode, 2)
  t.equal(h.stdout, '', 'no list')
  t.match(stripAnsi(h.stderr), /Error: .*--nope/)
})

t.test('the machine is as before', (t) => assertNothingLeft(t, before, tmp))
