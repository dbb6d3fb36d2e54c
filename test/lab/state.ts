import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import t, {type Test} from 'tap'

import {labHealth} from '../../src/lab/lifecycle.js'
import {planLab} from '../../src/lab/up.js'
import {
  type LabState,
  listLabDirs,
  newFaultId,
  procAlive,
  procRef,
  readLabState,
  statePath,
  withLabLock,
  writeLabState,
} from '../../src/lab/state.js'

function tmpRoot(t: Test): string {
  const root = mkdtempSync('/tmp/cnidbgtest-labroot-')
  t.teardown(() => rmSync(root, {recursive: true, force: true}))
  return root
}

function plan(root: string, name = 'tst'): LabState {
  return planLab({name, nodes: 3, podsPerNode: 2, mode: 'vxlan'}, join(root, name))
}

t.test('the plan names every node resource before anything exists', async (t) => {
  const s = plan('/run/cnidbg/lab', 'lab')
  t.equal(s.phase, 'starting')
  t.equal(s.owner?.pid, process.pid)
  t.same(
    s.nodes.map((n) => [n.name, n.nodeIP, n.podCIDR, n.netns, n.underlayPort]),
    [
      ['node1', '198.18.0.2', '10.244.1.0/24', 'cnidbg-lab-lab-node1', 'veth-node1'],
      ['node2', '198.18.0.3', '10.244.2.0/24', 'cnidbg-lab-lab-node2', 'veth-node2'],
      ['node3', '198.18.0.4', '10.244.3.0/24', 'cnidbg-lab-lab-node3', 'veth-node3'],
    ],
  )
  const n = s.nodes[0]!
  t.equal(n.subnetFile, '/run/cnidbg/lab/lab/nodes/node1/subnet.env')
  t.equal(n.confFile, '/run/cnidbg/lab/lab/nodes/node1/net.d/10-cnidbg.conflist')
  t.same(
    n.cniPath,
    ['/run/cnidbg/lab/lab/nodes/node1/bin', '/usr/lib/cni'],
    'own bin dir first, then the system plugins (portmap)',
  )
  t.not(s.nodes[0]!.varLibCni, s.nodes[1]!.varLibCni, 'each node has its own /var/lib/cni')
  t.equal(s.underlay.netns, 'cnidbg-lab-lab-ul')
  t.same(s.faults, [])
})

t.test('state round-trips through state.json, written atomically', async (t) => {
  const root = tmpRoot(t)
  const s = plan(root)
  writeLabState(s)
  t.ok(existsSync(statePath(s.dir)))
  t.same(readLabState('tst', root), s)
  t.same(listLabDirs(root), ['tst'])
  t.equal(readLabState('nope', root), undefined)
  writeFileSync(join(root, 'NotALab'), '')
  t.same(listLabDirs(root), ['tst'], 'only valid lab names count')
})

t.test('process references survive pid reuse checks', async (t) => {
  const me = procRef(process.pid)
  t.ok(me.start, 'start time read from /proc')
  t.ok(procAlive(me))
  t.notOk(procAlive({pid: process.pid, start: '1'}), 'same pid, other start time: not the same process')
  t.notOk(procAlive({pid: 0x3fffff, start: null}), 'no such pid')
  t.notOk(procAlive({pid: process.pid, start: null}), 'a live pid recorded without a start time: not known to be it')
  t.notOk(procAlive(undefined))
})

t.test('lab health: a dead owner or a dead supervisor means crashed', async (t) => {
  const s = plan('/x')
  t.equal(labHealth(s), 'starting', 'we own it and we live')
  t.equal(labHealth({...s, owner: {pid: 0x3fffff, start: null}}), 'crashed', 'lab up died half-way')
  const running = {
    ...s,
    phase: 'running' as const,
    owner: null,
    supervisor: {...s.supervisor!, ...procRef(process.pid)},
    apiserver: {...s.apiserver!, ...procRef(process.pid)},
  }
  t.equal(labHealth(running), 'running')
  t.equal(labHealth({...running, supervisor: {...running.supervisor, pid: 0x3fffff}}), 'crashed', 'supervisor gone')
  t.equal(labHealth({...running, apiserver: {...running.apiserver, pid: 0x3fffff}}), 'crashed', 'API server gone')
})

t.test('the lab lock serializes writers and is taken over from a dead holder', async (t) => {
  const root = tmpRoot(t)
  const order: string[] = []
  let release = () => {}
  const gate = new Promise<void>((r) => (release = r))
  // The first attempt to take the lock is synchronous, so `a` holds it once withLabLock returns.
  const a = withLabLock(root, async () => {
    order.push('a in')
    await gate
    order.push('a out')
  })
  t.same(order, ['a in'], 'a took the lock')
  const b = withLabLock(root, async () => {
    order.push('b')
  })
  // b has tried once and is waiting: a still runs. Let a finish; only then may b run.
  t.same(order, ['a in'], 'b waits for a')
  release()
  await Promise.all([a, b])
  t.same(order, ['a in', 'a out', 'b'])
  writeFileSync(join(root, 'lock'), JSON.stringify({pid: 0x3fffff, start: null}))
  t.equal(await withLabLock(root, async () => 'got it', 5000), 'got it', 'stale lock taken over')
  t.notOk(existsSync(join(root, 'lock')), 'released')
})

t.test('fault ids are unique within a lab', async (t) => {
  const s = plan('/x')
  for (let i = 0; i < 200; i++)
    s.faults.push({id: newFaultId(s), fault: 'x', appliedAt: '', stopsDaemon: false, undo: {}, summary: ''})
  t.equal(new Set(s.faults.map((f) => f.id)).size, 200)
})
