import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {ownMarker, processesInNamespaces, readMarker, releaseMarker, writeMarker} from '../../src/netns/markers.js'
import {ipJson, listNetns, NETNS_PREFIX} from '../../src/netns/netns.js'
import {runInHostView, Sandbox} from '../../src/netns/sandbox.js'
import {runCleanups} from '../../src/process/cleanup.js'
import {assertNothingLeft, machineState, privateTmpdir, sandboxDirsIn} from '../helpers/machine.js'

const before = await machineState()
const tmp = privateTmpdir(t)
const hostVarLibCni = () => (existsSync('/var/lib/cni') ? readdirSync('/var/lib/cni').sort() : [])
const hostRunCni = () => (existsSync('/run/cni') ? readdirSync('/run/cni').sort() : [])
const hostBefore = {lib: hostVarLibCni(), run: hostRunCni()}

t.test('a sandbox: own host netns, private /var/lib/cni and /run/cni, all removed by dispose', async (t) => {
  const sb = await Sandbox.create({label: 'sandbox-test'})
  t.teardown(() => sb.dispose())
  const marker = readMarker(sb.id)
  t.equal(marker?.pid, process.pid, 'marker written, owned by us')
  t.equal(marker?.label, 'sandbox-test')
  t.ok(listNetns().includes(sb.host.name), 'host netns exists')
  t.equal(sb.host.name, `${NETNS_PREFIX}${sb.id}-host`)
  for (const p of ['/var/lib/cni', '/run/cni'] as const) {
    t.ok(sb.hostPath(p).startsWith(tmp), `${p} stands in under TMPDIR`)
    t.equal(statSync(sb.hostPath(p)).mode & 0o777, 0o700)
  }

  const probe = `cnidbg-probe-${sb.id}`
  const script = [
    `echo lib > /var/lib/cni/${probe}`,
    `echo run > /run/cni/${probe}`,
    'readlink /proc/self/ns/net',
    // A process started by the one we started (a delegated IPAM plugin) sees the same world.
    `sh -c 'cat /var/lib/cni/${probe} /run/cni/${probe}; readlink /proc/self/ns/net; ip -j link show'`,
  ].join('; ')
  const r = await sb.run('sh', ['-c', script])
  t.equal(r.exitCode, 0, r.stderr)
  const [ownNs, lib, run, childNs, links] = r.stdout.trim().split('\n')
  t.equal(lib, 'lib')
  t.equal(run, 'run')
  t.equal(childNs, ownNs, 'the child is in the same netns')
  t.equal(ownNs, `net:[${statSync(sb.host.path).ino}]`, 'the sandbox host netns')
  t.same(
    (JSON.parse(links!) as Array<{ifname: string}>).map((l) => l.ifname),
    ['lo'],
    'sees only its own links',
  )
  t.ok(existsSync(`${sb.hostPath('/var/lib/cni')}/${probe}`), 'the write landed in the sandbox dir')
  t.ok(existsSync(`${sb.hostPath('/run/cni')}/${probe}`))
  t.same(hostVarLibCni(), hostBefore.lib, "the host's /var/lib/cni is untouched")
  t.same(hostRunCni(), hostBefore.run, "the host's /run/cni is untouched")
  t.notOk(existsSync(`/var/lib/cni/${probe}`))

  // Links the sandboxed host makes stay in it.
  const mk = await sb.run('ip', ['link', 'add', 'cnidbgsbt0', 'type', 'bridge'])
  t.equal(mk.exitCode, 0, mk.stderr)
  t.ok((await ipJson<Array<{ifname: string}>>(['link'], sb.host.name)).some((l) => l.ifname === 'cnidbgsbt0'))
  t.notOk(
    (await ipJson<Array<{ifname: string}>>(['link'])).some((l) => l.ifname === 'cnidbgsbt0'),
    'not in the root netns',
  )

  const ctr = await sb.addNetns('ctr')
  t.equal(ctr.name, `${NETNS_PREFIX}${sb.id}-ctr`)
  t.ok(readMarker(sb.id)?.netns.includes(ctr.name), 'the container netns is in the marker')

  await sb.dispose()
  t.notOk(listNetns().includes(sb.host.name), 'host netns gone')
  t.notOk(listNetns().includes(ctr.name), 'container netns gone')
  t.notOk(existsSync(sb.root), 'dirs gone')
  t.equal(readMarker(sb.id), undefined, 'marker gone')
  await t.resolves(sb.dispose(), 'dispose twice is fine')
})

const ownMountFds = () =>
  readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith('mnt:')
    } catch {
      return false
    }
  })

t.test('every program of a sandbox enters one mount namespace, made once, kept by a descriptor', async (t) => {
  const fdsBefore = ownMountFds()
  const sb = await Sandbox.create({label: 'sandbox-mounts-test'})
  t.teardown(() => sb.dispose())
  const mnt = async () => (await sb.run('readlink', ['/proc/self/ns/mnt'])).stdout.trim()
  const [a, b] = await Promise.all([mnt(), mnt()])
  t.equal(a, b, 'two first calls at once share one mount namespace')
  t.not(a, readlinkSync('/proc/self/ns/mnt'), 'not ours')
  t.equal(await mnt(), a, 'a later call enters it again')
  t.equal(ownMountFds().length, fdsBefore.length + 1, 'we hold it by one descriptor')
  const held = processesInNamespaces([sb.host.name])
  // Should it ever fail (it did once, with 72 processes, under a loaded run): which processes they were.
  const described = held.map((pid) => {
    try {
      const ns = ['net', 'mnt'].map((k) => readlinkSync(`/proc/${pid}/ns/${k}`)).join(' ')
      return `${pid} [${ns}] ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 200)}`
    } catch {
      return `${pid} (gone)`
    }
  })
  t.same(described, [], 'no process holds it: nothing is left to reap after a SIGKILL')
  t.equal((await sb.run('ls', ['/sys/class/net'])).stdout, 'lo\n', "the host netns's own /sys")

  // Mounts under /run/netns propagate into it: a namespace made later is there, one deleted is gone.
  const late = await sb.addNetns('late')
  const inode = (path: string) => sb.run('stat', ['-c', '%i', path]).then((r) => r.stdout.trim())
  t.equal(await inode(late.path), String(statSync(late.path).ino), 'a namespace made later is seen inside')
  await sb.removeNetns(late.name)
  const mounts = await sb.run('cat', ['/proc/self/mountinfo'])
  t.notMatch(mounts.stdout, late.name, 'a namespace deleted later is not kept mounted inside')

  // The one-shot form the lab's nodes use sees the same host.
  await sb.run('touch', ['/var/lib/cni/kept'])
  const once = await runInHostView(sb.view, 'sh', ['-c', 'ls /var/lib/cni; ls /sys/class/net'])
  t.equal(once.stdout, 'kept\nlo\n', once.stderr)

  await sb.dispose()
  t.same(ownMountFds(), fdsBefore, 'dispose closed the descriptor')
  await t.rejects(sb.run('true', []), /closed/, 'a disposed sandbox runs nothing')
})

t.test('a relative program path and the working directory survive entering the mount namespace', async (t) => {
  // `cnidbg conformance my.conflist --cni-path ./bin` (README): entering a mount namespace moves a
  // process to its root, so the caller's directory must be set again inside.
  const sb = await Sandbox.create({label: 'sandbox-cwd-test'})
  t.teardown(() => sb.dispose())
  const dir = mkdtempSync(join(tmp, 'cwd-'))
  mkdirSync(join(dir, 'bin'))
  writeFileSync(join(dir, 'bin', 'hello'), '#!/bin/sh\npwd\n', {mode: 0o755})
  const r = await sb.run('bin/hello', [], {cwd: dir})
  t.equal(r.exitCode, 0, r.stderr)
  t.equal(r.stdout, `${dir}\n`, "runs from the caller's directory")
})

t.test('removeNetns drops one container namespace from the marker', async (t) => {
  const sb = await Sandbox.create()
  t.teardown(() => sb.dispose())
  const a = await sb.addNetns('a')
  await sb.removeNetns(a.name)
  t.notOk(listNetns().includes(a.name))
  t.notOk(readMarker(sb.id)?.netns.includes(a.name))
  t.ok(listNetns().includes(sb.host.name))
})

t.test('dispose while a namespace is being made: it waits for it and removes it; nothing is made after', async (t) => {
  const sb = await Sandbox.create({label: 'sandbox-test'})
  // Ctrl-C's cleanup removes the sandbox while its case is still making a container namespace.
  const making = sb.addNetns('c0')
  await sb.dispose()
  await making
  t.notOk(listNetns().includes(`${NETNS_PREFIX}${sb.id}-c0`), 'the namespace made meanwhile is gone too')
  t.notOk(listNetns().includes(sb.host.name), 'and the host one')
  await t.rejects(sb.addNetns('c1'), /is removed/, 'a removed sandbox makes no more')
  await sb.removeNetns(`${NETNS_PREFIX}${sb.id}-c0`)
  t.equal(readMarker(sb.id), undefined, 'and writes no marker again')
})

t.test('a signal during dispose waits for the removal under way; a second dispose gets the same', async (t) => {
  const sb = await Sandbox.create({label: 'sandbox-test'})
  const ctr = await sb.addNetns('c0')
  const disposing = sb.dispose()
  t.equal(sb.dispose(), disposing, 'one removal')
  // What the SIGINT handler runs: the sandbox's cleanup is still registered, and waits for the removal.
  await runCleanups()
  t.notOk(listNetns().includes(ctr.name), 'the namespaces are gone once the cleanups are done')
  t.notOk(listNetns().includes(sb.host.name))
  t.equal(readMarker(sb.id), undefined, 'and the marker')
  t.notOk(existsSync(sb.root), 'and the dir')
  await disposing
})

t.test('a persistent sandbox outlives the process (no pid) and is re-opened by id', async (t) => {
  const sb = await Sandbox.create({label: 'kept-test', persistent: true})
  t.teardown(() => sb.dispose())
  t.equal(readMarker(sb.id)?.pid, null)
  t.equal(readMarker(sb.id)?.persistent, true)
  const again = Sandbox.open(sb.id)
  t.ok(again)
  t.equal(again?.root, sb.root)
  t.equal(again?.hostPath('/var/lib/cni'), sb.hostPath('/var/lib/cni'))
  const r = await again!.run('sh', ['-c', 'touch /var/lib/cni/x && ls /var/lib/cni'])
  t.equal(r.stdout.trim(), 'x')
  await again!.dispose()
  t.equal(readMarker(sb.id), undefined)
  t.notOk(listNetns().includes(sb.host.name))
  t.same(sandboxDirsIn(tmp), [])
})

t.test('Sandbox.open refuses markers that are not sandboxes', async (t) => {
  t.equal(Sandbox.open('000000'), undefined, 'no marker')
  // What `exec add --netns auto` keeps without --sandbox: a netns, no host namespace, no dirs.
  const m = ownMarker('0a0b0c', 'exec netns', true)
  m.netns.push(`${NETNS_PREFIX}0a0b0c-ctr`)
  writeMarker(m)
  t.teardown(() => releaseMarker(m))
  t.equal(Sandbox.open(m.id), undefined)
})

t.test('the machine is as before', async (t) => assertNothingLeft(t, before, tmp))
