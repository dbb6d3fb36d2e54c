import {randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

import {createNetns, deleteNetns, ipBatch, onCleanup, run} from '../../src/netns/index.js'
import {findNetnsByIPs, listNetnsCandidates, parseAddrLines} from '../../src/kernel/netns-scan.js'

t.test('parseAddrLines', async (t) => {
  const m = parseAddrLines(
    '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n' +
      '2: eth0@if7    inet 10.244.0.10/24 scope global eth0\\       valid_lft forever\n',
  )
  t.equal(m.get('10.244.0.10'), 'eth0')
  t.equal(m.get('127.0.0.1'), 'lo')
})

t.test('finds the namespace holding an IP: named ones and a process-only one', async (t) => {
  const id = randomBytes(3).toString('hex')
  const names = [`cnidbg-trc-${id}-x`, `cnidbg-trc-${id}-y`]
  const dir = mkdtempSync(join(tmpdir(), 'cnidbg-trc-resolve-'))
  const state: {holder?: Promise<unknown>} = {}
  const cleanup = async () => {
    try {
      process.kill(Number(readFileSync(join(dir, 'pid'), 'utf8')), 'SIGKILL')
    } catch {
      // not started or gone
    }
    await state.holder
    for (const n of names) await deleteNetns(n)
    rmSync(dir, {recursive: true, force: true})
  }
  const undo = onCleanup('resolve test', cleanup)
  t.teardown(async () => {
    await cleanup()
    undo()
  })
  for (const n of names) await createNetns(n)
  await ipBatch(
    ['link add eth0 type veth peer name eth1', 'link set eth0 up', 'addr add 10.123.0.5/24 dev eth0'],
    names[0],
  )
  // The second one also holds the first one's address, as two labs on one machine do.
  await ipBatch(
    [
      'link add eth0 type veth peer name eth1',
      'link set eth0 up',
      'addr add 10.123.1.5/24 dev eth0',
      'link set eth1 up',
      'addr add 10.123.0.5/24 dev eth1',
    ],
    names[1],
  )
  // A namespace only a process holds (as a container's would be): unshare, record the pid, sleep.
  state.holder = run(
    'unshare',
    [
      '--net',
      'sh',
      '-c',
      `ip link set lo up && ip addr add 10.123.2.5/32 dev lo && echo $$ > ${join(dir, 'pid')} && exec sleep 30`,
    ],
    {timeoutMs: 40_000},
  )
  // Up to 60 s: a bound for reporting a failure, never reached on a pass even on a loaded machine.
  for (let i = 0; i < 2400; i++) {
    try {
      if (readFileSync(join(dir, 'pid'), 'utf8').trim()) break
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  const pid = readFileSync(join(dir, 'pid'), 'utf8').trim()
  const candidates = listNetnsCandidates()
  t.ok(candidates.some((c) => c.name === names[0]))
  t.equal(new Set(candidates.map((c) => c.inode)).size, candidates.length, 'deduplicated by inode')
  const found = await findNetnsByIPs(['10.123.0.5', '10.123.1.5', '10.123.2.5', '10.123.9.9'])
  t.same(found.get('10.123.0.5'), {
    path: `/run/netns/${names[0]}`,
    name: names[0],
    ifname: 'eth0',
    inode: found.get('10.123.0.5')!.inode,
  })
  t.equal(found.get('10.123.1.5')?.name, names[1])
  t.equal(found.get('10.123.2.5')?.path, `/proc/${pid}/ns/net`, 'found through /proc')
  t.equal(found.get('10.123.2.5')?.name, undefined)
  t.notOk(found.has('10.123.9.9'), 'an IP nobody holds is absent')
  const own = await findNetnsByIPs(['10.123.0.5', '10.123.1.5', '10.123.2.5'], {only: (n) => n === names[1]})
  t.match(own.get('10.123.0.5'), {name: names[1], ifname: 'eth1'}, 'only: the accepted namespace holds it')
  t.equal(own.get('10.123.1.5')?.name, names[1])
  t.notOk(own.has('10.123.2.5'), 'only: no namespace found through /proc')
})
