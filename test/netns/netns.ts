import t from 'tap'

import {execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {run} from '../../src/process/exec.js'
import {
  createNetns,
  deleteNetnsAll,
  deleteNetnsSettled,
  inOneOfNetns,
  ipJson,
  isNetnsFile,
  listNetns,
  namespaceKind,
  netnsDirShared,
  netnsPath,
} from '../../src/netns/netns.js'
import {REPO} from '../helpers/lab.js'
import {assertNothingLeft, machineState} from '../helpers/machine.js'

const before = await machineState()

t.test('deleteNetnsAll removes every namespace named, missing ones being no error', async (t) => {
  const names = ['a', 'b', 'c'].map((r) => `cnidbg-nsall-${process.pid}-${r}`)
  for (const n of names) await createNetns(n)
  t.teardown(() => deleteNetnsAll(names).catch(() => {}))
  await deleteNetnsAll([names[0]!, `cnidbg-nsall-${process.pid}-missing`, names[1]!, names[2]!])
  t.same(
    listNetns().filter((n) => names.includes(n)),
    [],
    'all gone, in one batch',
  )
  await t.resolves(deleteNetnsAll(names), 'deleting them again is fine')
  await t.resolves(deleteNetnsAll([]), 'so is deleting none')
})

t.test("deleteNetnsSettled returns once the peers of the namespace's links are gone too", async (t) => {
  const [host, ctr] = ['h', 'c'].map((r) => `cnidbg-nsset-${process.pid}-${r}`) as [string, string]
  t.teardown(() => deleteNetnsAll([host, ctr]).catch(() => {}))
  await createNetns(host)
  await createNetns(ctr)
  // Ten pairs, as many attachments would leave: the kernel destroys them after `ip netns del` returns.
  for (let i = 0; i < 10; i++)
    await run('ip', ['-n', host, 'link', 'add', `pv${i}`, 'type', 'veth', 'peer', 'name', `eth${i}`, 'netns', ctr])
  await deleteNetnsSettled(ctr, host)
  const left = (await ipJson<Array<{ifname: string}>>(['link', 'show'], host)).map((l) => l.ifname)
  t.same(left, ['lo'], 'no peer left in the host namespace as it returns')
  await t.resolves(deleteNetnsSettled(ctr, host), 'a namespace already gone is fine')
})

t.test('inOneOfNetns tells whether this process is in one of the named namespaces', async (t) => {
  const names = ['in', 'other'].map((r) => `cnidbg-nsin-${process.pid}-${r}`)
  for (const n of names) await createNetns(n)
  t.teardown(() => deleteNetnsAll(names).catch(() => {}))
  t.equal(inOneOfNetns(names), false, 'this test runs in neither')
  t.equal(inOneOfNetns([]), false, 'nor in none')
  t.equal(inOneOfNetns(['cnidbg-nsin-no-such']), false, 'a missing name is not this one')
  // The same function in a process that `ip netns exec` put in the first one.
  const module = pathToFileURL(join(REPO, 'src/netns/netns.ts')).href
  const script = `const m = await import(${JSON.stringify(module)}); console.log(JSON.stringify(process.argv.slice(1).map((n) => m.inOneOfNetns([n]))))`
  const r = await run('ip', [
    'netns',
    'exec',
    names[0]!,
    process.execPath,
    `--import=${pathToFileURL(join(REPO, 'scripts/test-loader.mjs')).href}`,
    '--input-type=module',
    '-e',
    script,
    ...names,
  ])
  t.equal(r.exitCode, 0, r.stderr)
  t.same(JSON.parse(r.stdout), [true, false], 'inside the first: in it, not in the other')
})

t.test('createNetns: a namespace ip knows, lo up, an existing name refused and left alone', async (t) => {
  const name = `cnidbg-nsnew-${process.pid}`
  t.teardown(() => deleteNetnsAll([name]).catch(() => {}))
  // The tests above made namespaces, so /run/netns is the shared mount point `ip netns add` makes of it
  // (on a fresh machine, their first createNetns went through `ip` for that): this one is unshare's.
  t.ok(netnsDirShared(readFileSync('/proc/self/mountinfo', 'utf8')), '/run/netns is set up: the unshare way is taken')
  const ns = await createNetns(name)
  t.same(ns, {name, path: netnsPath(name)})
  t.ok(listNetns().includes(name), 'in ip netns list')
  const links = await ipJson<Array<{ifname: string; flags: string[]}>>(['link', 'show'], name)
  t.same(
    links.map((l) => [l.ifname, l.flags.includes('UP')]),
    [['lo', true]],
    'only lo, and it is up',
  )
  t.not(statSync(ns.path).dev, statSync('/run/netns').dev, 'the file is a mounted namespace, not a plain file')
  const inode = statSync(ns.path).ino
  await t.rejects(createNetns(name), /File exists|EEXIST/, 'the same name again is an error')
  t.equal(statSync(ns.path).ino, inode, 'and the existing namespace is untouched')
  await deleteNetnsAll([name])
  t.notOk(existsSync(ns.path), 'ip netns del removes it')
})

t.test('isNetnsFile: a network namespace mounted under /run/netns or under /proc, never a plain file', async (t) => {
  const name = `cnidbg-nsfile-${process.pid}`
  const dir = mkdtempSync(join(tmpdir(), 'cnidbg-nsfile-'))
  t.teardown(async () => {
    await deleteNetnsAll([name]).catch(() => {})
    rmSync(dir, {recursive: true, force: true})
  })
  const ns = await createNetns(name)
  t.ok(isNetnsFile(ns.path), ns.path)
  t.ok(isNetnsFile('/proc/self/ns/net'), 'our own, through /proc')
  t.ok(isNetnsFile(`/proc/${process.pid}/ns/net`), 'by pid')
  const plain = join(dir, 'plain')
  writeFileSync(plain, '')
  const fifo = join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  for (const p of [plain, dir, fifo, join(dir, 'missing'), '/dev/null', '/run/netns'])
    t.notOk(isNetnsFile(p), `${p} is not one (and a FIFO does not block)`)
  for (const kind of ['uts', 'mnt', 'ipc', 'pid', 'user', 'cgroup'])
    t.notOk(isNetnsFile(`/proc/self/ns/${kind}`), `a ${kind} namespace is another kind`)
  await deleteNetnsAll([name])
  t.notOk(isNetnsFile(ns.path), 'nor is the path once the namespace is deleted')
})

t.test('namespaceKind: the kind of a mounted namespace, by its inode, off mountinfo', async (t) => {
  const mountinfo = [
    '29 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
    '48 45 0:4 net:[4026532239] /run/netns/a rw shared:3 - nsfs nsfs rw',
    '49 30 0:4 uts:[4026531838] /srv/a\\040uts rw - nsfs nsfs rw',
  ].join('\n')
  t.equal(namespaceKind(mountinfo, 4026532239), 'net')
  t.equal(namespaceKind(mountinfo, 4026531838), 'uts', 'a UTS namespace bound onto a file is not a network one')
  t.equal(namespaceKind(mountinfo, 12345), undefined, 'not mounted')
})

t.test('netnsDirShared reads /run/netns off mountinfo: a mount point of its own, shared', async (t) => {
  const line = (point: string, optional: string) =>
    `45 27 254:0 ${point} ${point} rw,relatime ${optional}${optional ? ' ' : ''}- ext4 /dev/vda rw`
  const root = '1 0 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw'
  t.ok(netnsDirShared([root, line('/run/netns', 'shared:1')].join('\n')), 'as ip leaves it')
  t.ok(netnsDirShared([root, line('/run/netns', 'shared:7 master:2')].join('\n')), 'shared among other fields')
  t.notOk(netnsDirShared(root), 'not a mount point: ip sets it up first')
  t.notOk(netnsDirShared([root, line('/run/netns', '')].join('\n')), 'private')
  t.notOk(netnsDirShared([root, line('/run/netns', 'master:3')].join('\n')), 'a slave only')
  t.notOk(
    netnsDirShared([root, line('/run/netns', 'shared:1'), line('/run/netns', '')].join('\n')),
    'the last mount on the point is the one seen',
  )
  t.notOk(netnsDirShared([root, line('/run/netns/cnidbg-x', 'shared:2')].join('\n')), 'a namespace under it is not it')
})

t.test('the machine is as before', async (t) => assertNothingLeft(t, before))
