/**
 * The cnitool round trip through the commands: add --sandbox --json, then check and del with what
 * it printed (the sandbox found from the netns name), then nothing left.
 */
import {existsSync, readdirSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import ExecAdd from '../../../src/commands/exec/add.js'
import ExecCheck from '../../../src/commands/exec/check.js'
import ExecDel from '../../../src/commands/exec/del.js'
import {listNetns, readMarker, Sandbox} from '../../../src/netns/index.js'
import type {ExecResult} from '../../../src/services/exec.js'
import {runCommand, stripAnsi} from '../../helpers/capture.js'
import {assertNothingLeft, machineState, privateTmpdir} from '../../helpers/machine.js'
import {CNI_PATH, FIXTURES, haveUpstream} from '../../helpers/runtime-fixtures.js'

const before = await machineState()
const tmp = privateTmpdir(t)
const skip = haveUpstream('ptp', 'host-local') ? false : 'no upstream plugins in /usr/lib/cni'
const conf = join(FIXTURES, 'ptp.conflist')
const cniPath = CNI_PATH.join(':')

t.test('add --sandbox --json, then check and del with its attachment', {skip}, async (t) => {
  const a = await runCommand<ExecResult>(ExecAdd, 'exec:add', [
    '--conf',
    conf,
    '--cni-path',
    cniPath,
    'auto',
    '--sandbox',
    '--json',
  ])
  t.equal(a.exitCode, 0, a.stderr)
  const att = (JSON.parse(a.stdout) as {result: ExecResult}).result.attachment!
  t.teardown(async () => Sandbox.open(att.sandbox!)?.dispose())
  t.match(att, {netns: `/run/netns/cnidbg-${att.sandbox}-ctr`, sandbox: /^[0-9a-f]{6}$/})
  t.equal(readMarker(att.sandbox!)?.persistent, true, 'kept until del')
  const ids = ['--container-id', att.containerId, '--ifname', att.ifname]

  const c = await runCommand(ExecCheck, 'exec:check', ['--conf', conf, '--cni-path', cniPath, att.netns, ...ids])
  t.equal(c.exitCode, 0, c.stderr)
  t.match(stripAnsi(c.stdout), /^✓ CHECK \(cniVersion 1\.0\.0\)/)

  const d = await runCommand(ExecDel, 'exec:del', ['--conf', conf, '--cni-path', cniPath, att.netns, ...ids, '--json'])
  t.equal(d.exitCode, 0, d.stderr)
  t.match(JSON.parse(d.stdout), {command: 'exec del', result: {ok: true, removed: true}, status: 0})
  t.notOk(listNetns().some((n) => n.includes(att.sandbox!)))
  t.equal(readMarker(att.sandbox!), undefined)

  const hostCni = existsSync('/var/lib/cni') ? readdirSync('/var/lib/cni') : []
  const again = await runCommand(ExecDel, 'exec:del', [
    '--conf',
    conf,
    '--cni-path',
    cniPath,
    att.netns,
    ...ids,
    '--json',
  ])
  t.equal(again.exitCode, 0, 'a second del succeeds too (DEL is idempotent, SPEC §2)')
  t.match(JSON.parse(again.stdout), {result: {invocations: [], ok: true, skipped: /already gone: nothing to delete/}})
  t.same(
    existsSync('/var/lib/cni') ? readdirSync('/var/lib/cni') : [],
    hostCni,
    "and the plugins did not run against the host's /var/lib/cni",
  )
})

t.test('the machine is as before', (t) => assertNothingLeft(t, before, tmp))
