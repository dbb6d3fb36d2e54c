// The one door into a namespace: the argv it builds, and that a program started with it really runs
// in the namespace (and, with sysfs, sees that namespace's /sys).
import {statSync} from 'node:fs'
import t from 'tap'

import {inNetnsArgv} from '../../src/netns/enter.js'
import {createNetns, deleteNetns, ip, runInNetns} from '../../src/netns/netns.js'

t.test('argv: nsenter by path or name, ip netns exec with sysfs', async (t) => {
  t.same(inNetnsArgv({path: '/proc/1/ns/net'}, ['ip', 'link']), ['nsenter', '--net=/proc/1/ns/net', '--', 'ip', 'link'])
  t.same(inNetnsArgv({name: 'cnidbg-x'}, ['sh']), ['nsenter', '--net=/run/netns/cnidbg-x', '--', 'sh'])
  t.same(inNetnsArgv({name: 'cnidbg-x'}, ['sh'], {sysfs: true, ip: '/sbin/ip'}), [
    '/sbin/ip',
    'netns',
    'exec',
    'cnidbg-x',
    'sh',
  ])
  t.throws(() => inNetnsArgv({path: '/proc/1/ns/net'}, ['sh'], {sysfs: true}), /must have a name/)
  // A mount namespace made beforehand (a sandbox's) is entered with the network namespace, in one nsenter.
  t.same(inNetnsArgv({name: 'cnidbg-x'}, ['sh'], {mount: '/proc/7/fd/9', nsenter: '/usr/bin/nsenter'}), [
    '/usr/bin/nsenter',
    '--mount=/proc/7/fd/9',
    '--net=/run/netns/cnidbg-x',
    '--',
    'sh',
  ])
  t.throws(() => inNetnsArgv({name: 'cnidbg-x'}, ['sh'], {mount: '/proc/7/fd/9', sysfs: true}), /either/)
  // A value is one argv element whatever it holds: nothing is parsed by a shell.
  t.same(inNetnsArgv({path: '/x y;z'}, ['a b']), ['nsenter', '--net=/x y;z', '--', 'a b'])
})

t.test('a program entered through the door runs in the namespace, with its /sys when asked', async (t) => {
  const name = `cnidbg-door-${process.pid}`
  const ns = await createNetns(name)
  t.teardown(() => deleteNetns(name))
  await ip(['link', 'add', 'cnidbgdoor0', 'type', 'veth', 'peer', 'name', 'cnidbgdoor1'], name)
  const inode = String(statSync(ns.path).ino)
  for (const how of [{path: ns.path}, {name}] as const) {
    const r = await runInNetns(how, 'readlink', ['/proc/self/ns/net'])
    t.equal(r.stdout.trim(), `net:[${inode}]`, `entered by ${'path' in how ? 'path' : 'name'}`)
  }
  const sys = await runInNetns({name}, 'ls', ['/sys/class/net'], {sysfs: true})
  t.match(sys.stdout, /cnidbgdoor0/, "the namespace's own /sys")
})
