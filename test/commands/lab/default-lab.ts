// Which lab a command acts on when none is named: the only running one; several running are a usage
// error that lists them; none at all says so. Every lab is fabricated (a state file whose "processes"
// are this test or a dead pid) in a private lab root, so nothing runs and no real lab is touched.
import {mkdtempSync, rmSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

const root = mkdtempSync('/tmp/cnidbgtest-polish-labroot-')
t.teardown(() => rmSync(root, {recursive: true, force: true}))
// The lab root is read when the lab modules load, so set it before importing any of them.
process.env.CNIDBG_LAB_ROOT = root
delete process.env.CNIDBG_LAB

const {runCommand} = await import('../../helpers/capture.js')
const {pickLab} = await import('../../../src/lab/lifecycle.js')
const {planLab} = await import('../../../src/lab/up.js')
const {procRef, writeLabState} = await import('../../../src/lab/state.js')
const commands = {
  'lab:break': (await import('../../../src/commands/lab/break.js')).default,
  'lab:down': (await import('../../../src/commands/lab/down.js')).default,
  'lab:exec': (await import('../../../src/commands/lab/exec.js')).default,
  'lab:heal': (await import('../../../src/commands/lab/heal.js')).default,
  'lab:pod:add': (await import('../../../src/commands/lab/pod/add.js')).default,
  'lab:pod:rm': (await import('../../../src/commands/lab/pod/rm.js')).default,
  'lab:status': (await import('../../../src/commands/lab/status.js')).default,
  trace: (await import('../../../src/commands/trace.js')).default,
}

const DEAD = {pid: 0x3fffff, start: null}

function fabricate(name: string, health: 'running' | 'crashed'): void {
  const plan = planLab({name, nodes: 1, podsPerNode: 0, mode: 'vxlan'}, join(root, name))
  const proc = health === 'running' ? procRef(process.pid) : DEAD
  writeLabState({
    ...plan,
    phase: 'running',
    owner: null,
    supervisor: {...plan.supervisor!, ...proc},
    apiserver: {...plan.apiserver!, ...proc},
  })
}

const remove = (name: string) => rmSync(join(root, name), {recursive: true, force: true})

// Each command with what it needs besides the lab; none of them gets as far as doing anything (lab
// down stops at the ambiguous name, before it reaps anything).
const argvs: Array<[keyof typeof commands, string[]]> = [
  ['lab:status', []],
  ['lab:down', []],
  ['lab:break', ['ip-forward-off']],
  ['lab:heal', []],
  ['lab:pod:add', ['web']],
  ['lab:pod:rm', ['web']],
  ['lab:exec', ['pod-a', '--', 'true']],
  ['trace', ['pod-a', 'pod-b']],
]

t.test('pickLab: the named lab, else the only running one, else the only one', async (t) => {
  t.equal(pickLab('x', {root}), 'x', 'a name given wins, even if no such lab')
  t.throws(() => pickLab(undefined, {root}), {code: 'LAB_NOT_FOUND', message: 'No lab is running.'})
  t.equal(pickLab(undefined, {root, none: 'lab'}), 'lab', 'or the fallback asked for')
  fabricate('beta', 'crashed')
  t.equal(pickLab(undefined, {root}), 'beta', 'the only lab, crashed')
  fabricate('alpha', 'running')
  t.equal(pickLab(undefined, {root}), 'alpha', 'the only running lab, beside a crashed one')
  fabricate('gamma', 'running')
  t.throws(() => pickLab(undefined, {root, flag: '--lab'}), {
    code: 'LAB_AMBIGUOUS',
    message: '2 labs are running (alpha, gamma): name one with --lab.',
    suggestions: ['--lab alpha', '--lab gamma'],
  })
  remove('alpha')
  remove('gamma')
  fabricate('delta', 'crashed')
  t.throws(() => pickLab(undefined, {root}), {
    code: 'LAB_AMBIGUOUS',
    message: 'No lab is running, and there are 2 labs (beta (crashed), delta (crashed)): name one with --name.',
  })
  remove('beta')
  remove('delta')
})

t.test('several labs running: every lab command fails with a usage error that lists them', async (t) => {
  fabricate('alpha', 'running')
  fabricate('gamma', 'running')
  t.teardown(() => ['alpha', 'gamma'].forEach(remove))
  for (const [id, argv] of argvs) {
    const json = id === 'lab:exec' ? [] : ['--json']
    const c = await runCommand(commands[id], id, [...argv, ...json])
    t.equal(c.exitCode, 2, `${id}: exit 2`)
    const flag = id === 'trace' ? '--lab' : '--name'
    const message = `2 labs are running (alpha, gamma): name one with ${flag}.`
    if (json.length > 0) t.match(JSON.parse(c.stdout), {error: {code: 'LAB_AMBIGUOUS', message}}, `${id}: the list`)
    else t.match(c.stderr, message, `${id}: the list`)
  }
  const named = await runCommand(commands['lab:status'], 'lab:status', ['--name', 'gamma', '--json'])
  t.match(JSON.parse(named.stdout), {result: {name: 'gamma'}}, '--name picks one')
  process.env.CNIDBG_LAB = 'alpha'
  t.teardown(() => delete process.env.CNIDBG_LAB)
  const env = await runCommand(commands['lab:status'], 'lab:status', ['--json'])
  t.match(JSON.parse(env.stdout), {result: {name: 'alpha'}}, 'and so does CNIDBG_LAB')
})

t.test('one lab running, not named "lab": lab status shows it', async (t) => {
  fabricate('solo', 'running')
  fabricate('old', 'crashed')
  t.teardown(() => ['solo', 'old'].forEach(remove))
  const c = await runCommand(commands['lab:status'], 'lab:status', ['--json'])
  t.match(JSON.parse(c.stdout), {command: 'lab status', result: {name: 'solo'}})
})

t.test('no lab: the commands say so', async (t) => {
  for (const [id, argv] of argvs) {
    if (id === 'lab:down' || id === 'trace') continue
    const json = id === 'lab:exec' ? [] : ['--json']
    const c = await runCommand(commands[id], id, [...argv, ...json])
    t.equal(c.exitCode, 2, `${id}: exit 2`)
    if (json.length > 0) t.match(JSON.parse(c.stdout), {error: {code: 'LAB_NOT_FOUND', message: /No lab/}}, id)
    else t.match(c.stderr, /No lab/, id)
  }
  // lab down with no lab is not an error (pickLab's `none`); it is not run here because it also reaps
  // every lab namespace whose directory is not under the lab root, and this root is a private one.
})
