// Reaping without running anything: crashed labs and orphan namespaces are fabricated (a state file
// with dead pids, namespaces with the lab prefix) and must be removed; live ones must not.
import {existsSync, rmSync} from 'node:fs'
import t from 'tap'

import {labDown} from '../../src/lab/down.js'
import {labHealth, orphanLabNames, reapCrashedLabs, teardownLab} from '../../src/lab/lifecycle.js'
import {labDir, nodeNetns, underlayNetns} from '../../src/lab/names.js'
import {type LabState, procRef, readLabState, writeLabState} from '../../src/lab/state.js'
import {labUp, planLab} from '../../src/lab/up.js'
import {createNetns, listNetns} from '../../src/netns/netns.js'
import {cnidbgError} from '../helpers/errors.js'
import {testLabName} from '../helpers/lab.js'

const DEAD = {pid: 0x3fffff, start: null}

function fabricate(name: string, overrides: object) {
  const s = {...planLab({name, nodes: 1, podsPerNode: 0, mode: 'vxlan'}, labDir(name)), ...overrides}
  writeLabState(s)
  return s
}

t.test('a crashed lab (dead supervisor and API server) is reaped with its namespaces', async (t) => {
  const name = testLabName()
  t.teardown(() => teardownLab(name))
  // Every `lab up` in the suite's other files reaps crashed labs too, and one that came first made this
  // test fail ("reaped": nothing left for this reaper). So the lab is made as one this live process is
  // starting, which every reaper leaves alone, and turns crashed only here: reapCrashedLabs reads it and
  // teardownLab marks it its own ('stopping') before their first await, so no other process sees it
  // crashed for longer than that.
  fabricate(name, {phase: 'starting', owner: procRef(process.pid)})
  await createNetns(underlayNetns(name))
  await createNetns(nodeNetns(name, 'node1'))
  const s = fabricate(name, {
    phase: 'running',
    owner: null,
    supervisor: {...planLab({name, nodes: 1, podsPerNode: 0, mode: 'vxlan'}, '/x').supervisor, ...DEAD},
  })
  const reaped = await reapCrashedLabs()
  const mine = reaped.find((r) => r.name === name)
  t.ok(mine, 'reaped')
  t.same(
    mine!.removed.filter((r) => r.startsWith('netns')).sort(),
    [`netns ${nodeNetns(name, 'node1')}`, `netns ${underlayNetns(name)}`].sort(),
  )
  t.notOk(existsSync(s.dir), 'dir removed')
  t.notOk(listNetns().some((n) => n.startsWith(`cnidbg-lab-${name}-`)))
})

t.test('a lab held for a process counts as crashed once that process is gone', async (t) => {
  const me = procRef(process.pid)
  const plan = planLab({name: 'held', nodes: 1, podsPerNode: 0, mode: 'vxlan', heldBy: process.pid}, '/x')
  t.same(plan.heldBy, me, 'lab up records the process it is held for')
  const running = {
    ...plan,
    phase: 'running',
    owner: null,
    supervisor: {...plan.supervisor, ...me},
    apiserver: {...plan.apiserver, ...me},
  } as LabState
  t.equal(labHealth(running), 'running', 'its holder lives')
  t.equal(labHealth({...running, heldBy: DEAD}), 'crashed', 'its holder is gone')
  const {heldBy: _, ...free} = running
  t.equal(labHealth(free), 'running', 'a lab held for nothing lives as long as its processes')
})

t.test('a crashed lab held for a live process is left to it; once that process is gone, it is reaped', async (t) => {
  // In a private root, which no other test's reaper reads: what happens to the lab is this reaper's doing.
  const root = t.testdir({})
  const name = testLabName()
  const plan = planLab({name, nodes: 1, podsPerNode: 0, mode: 'vxlan'}, labDir(name, root))
  // The supervisor is dead; pid 1 lives for sure and is not us.
  const crashedHeldBy = (heldBy: LabState['heldBy']) =>
    writeLabState({
      ...plan,
      phase: 'running',
      owner: null,
      supervisor: {...plan.supervisor, ...DEAD},
      heldBy,
    } as LabState)
  crashedHeldBy(procRef(1))
  t.equal(labHealth(readLabState(name, root)!), 'crashed', 'crashed')
  t.notOk(
    (await reapCrashedLabs(root)).some((r) => r.name === name),
    'not reaped while its holder runs',
  )
  t.ok(existsSync(labDir(name, root)), 'its directory is still there')
  crashedHeldBy(DEAD)
  t.ok(
    (await reapCrashedLabs(root)).some((r) => r.name === name),
    'reaped once its holder is gone',
  )
  t.notOk(existsSync(labDir(name, root)), 'its directory is gone')
})

t.test('a lab cannot be held for a process that is not running', async (t) => {
  // Checked before anything is made: such a lab would count as crashed from its first moment.
  for (const heldBy of [DEAD.pid, 0, -1, 1.5])
    await t.rejects(
      labUp({name: testLabName(), nodes: 1, podsPerNode: 0, mode: 'vxlan', heldBy}),
      cnidbgError('BAD_HELD_BY'),
      String(heldBy),
    )
})

t.test('namespaces of a lab with no directory are orphans and get reaped', async (t) => {
  const name = testLabName()
  t.teardown(() => teardownLab(name))
  // Made under a lab this live process is starting, as above: an orphan from its first moment, another
  // file's reaper could take it (and stop the `ip` still setting it up inside) before this one looks.
  fabricate(name, {phase: 'starting', owner: procRef(process.pid)})
  await createNetns(nodeNetns(name, 'node1'))
  rmSync(labDir(name), {recursive: true, force: true})
  t.ok(orphanLabNames().includes(name))
  await reapCrashedLabs()
  t.notOk(listNetns().includes(nodeNetns(name, 'node1')))
})

t.test('a lab being started by a live process is left alone, and lab down refuses to race it', async (t) => {
  const name = testLabName()
  t.teardown(() => teardownLab(name))
  // pid 1 lives for sure and is not us.
  fabricate(name, {phase: 'starting', owner: procRef(1)})
  await reapCrashedLabs()
  t.ok(existsSync(labDir(name)), 'not reaped')
  await t.rejects(labDown({name}), cnidbgError('LAB_BUSY'))
  // Once its owner is gone, it is just a crashed lab.
  fabricate(name, {phase: 'starting', owner: DEAD})
  const down = await labDown({name})
  t.equal(down.was, 'crashed')
  t.notOk(existsSync(labDir(name)))
})

t.test('lab down of a lab that does not exist is not an error', async (t) => {
  const down = await labDown({name: testLabName()})
  t.notOk(down.found)
  t.same(down.removed, [])
})

t.test('a reaper with a private lab root never takes the system root’s labs for orphans', async (t) => {
  const name = testLabName()
  t.teardown(() => teardownLab(name))
  // A running lab in the system root (pid 1 owns it, so it is not crashed either).
  fabricate(name, {phase: 'starting', owner: procRef(1)})
  await createNetns(nodeNetns(name, 'node1'))
  const privateRoot = t.testdir({})
  t.notOk(orphanLabNames(privateRoot).includes(name), 'not an orphan seen from another root')
  await reapCrashedLabs(privateRoot)
  t.ok(listNetns().includes(nodeNetns(name, 'node1')), 'its namespace is still there')
})
