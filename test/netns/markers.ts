import {execFileSync, spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import t, {type Test} from 'tap'

import {
  killNamespaceProcesses,
  MARKER_DIR,
  markerState,
  newRunId,
  orphanNetns,
  ownMarker,
  processesInNamespaces,
  readMarker,
  readMarkers,
  reapStale,
  releaseMarker,
  removeMarker,
  writeMarker,
  type Marker,
} from '../../src/netns/markers.js'
import {inNetnsArgv} from '../../src/netns/enter.js'
import {createNetns, listNetns, NETNS_PREFIX, netnsPath} from '../../src/netns/netns.js'
import {alive, assertNothingLeft, machineState} from '../helpers/machine.js'

/** Prints its own pid (in the netns) and that of a child gone back to netns $1, then waits. */
// The shell stays in its own (root) netns; its child visits the netns given.
const VISIT_SCRIPT = 'nsenter --net="$1" -- sleep 60 & echo $$; echo $!; wait; exec sleep 60'
const SCAN_SCRIPT = 'echo $$; nsenter --net="$1" -- sleep 60 & echo $!; wait'

const netInode = (pid: number): number | undefined => {
  try {
    return statSync(`/proc/${pid}/ns/net`).ino
  } catch {
    return undefined
  }
}

/** A run namespace of our own, its marker written first. */
async function markedNetns(label: string): Promise<{m: Marker; net: string}> {
  const m = ownMarker(newRunId(), label)
  const net = `${NETNS_PREFIX}${m.id}-host`
  m.netns.push(net)
  writeMarker(m)
  made.push(m)
  await createNetns(net)
  return {m, net}
}

/** Gives `m` a temp dir and a run namespace, as a run would: the marker written first. */
async function withDirAndNetns(m: Marker): Promise<void> {
  m.dirs.push(mkdtempSync(join(tmpdir(), `cnidbg-${m.id}-`)))
  m.netns.push(`${NETNS_PREFIX}${m.id}-host`)
  writeMarker(m)
  made.push(m)
  await createNetns(`${NETNS_PREFIX}${m.id}-host`)
}

/** `sh -c script` with `arg` as $1, in a private mount namespace of its own. */
const ownMountNs = (script: string, arg: string): string[] => [
  'unshare',
  '--mount',
  '--propagation',
  'private',
  '--',
  'sh',
  '-c',
  script,
  'cnidbg-test',
  arg,
]

/** Starts a script that prints two pids, one per line; resolves with them. Killed at teardown. */
function twoPids(t: Test, argv: readonly string[]): Promise<[number, number]> {
  const child = spawn(argv[0]!, argv.slice(1), {stdio: ['ignore', 'pipe', 'ignore']})
  t.teardown(() => child.kill('SIGKILL'))
  return new Promise((resolve) => {
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const pids = out.split('\n').filter(Boolean).map(Number)
      if (pids.length === 2) resolve([pids[0]!, pids[1]!])
    })
  })
}

const before = await machineState()
const made: Marker[] = []
t.teardown(async () => {
  for (const m of made) await releaseMarker(m)
})

t.test('run ids are 6 hex digits and differ', async (t) => {
  const ids = new Set(Array.from({length: 50}, newRunId))
  for (const id of ids) t.match(id, /^[0-9a-f]{6}$/)
  t.ok(ids.size > 45)
})

t.test('ownMarker records this process and its start time', async (t) => {
  const m = ownMarker(newRunId(), 'test')
  t.equal(m.pid, process.pid)
  t.match(m.pidStart, /^\d+$/)
  t.equal(m.persistent, false)
  t.equal(markerState(m), 'live')
  const kept = ownMarker(newRunId(), 'test', true)
  t.equal(kept.pid, null)
  t.equal(kept.pidStart, null)
  t.equal(markerState(kept), 'kept')
})

t.test('stale: the owner is gone, or its pid was recycled', async (t) => {
  const m = ownMarker(newRunId(), 'test')
  t.equal(markerState({...m, pidStart: '1'}), 'stale', 'same pid, other start time: recycled')
  t.equal(markerState({...m, pid: 2 ** 22 + 17}), 'stale', 'no such process')
  t.equal(markerState({...m, pidStart: null}), 'stale')
})

t.test('write, read, list and remove a marker (file 0600)', async (t) => {
  const m = ownMarker(newRunId(), 'test')
  writeMarker(m)
  made.push(m)
  const file = join(MARKER_DIR, `${m.id}.json`)
  t.equal(statSync(file).mode & 0o777, 0o600)
  t.same(readMarker(m.id), m)
  t.ok(readMarkers().some((x) => x.id === m.id))
  t.same(JSON.parse(readFileSync(file, 'utf8')), m)
  removeMarker(m.id)
  t.equal(readMarker(m.id), undefined)
  t.doesNotThrow(() => removeMarker(m.id), 'removing twice is fine')
})

t.test('orphanNetns: run namespaces no marker claims; other cnidbg- shapes are never orphans', async (t) => {
  const m = ownMarker(newRunId(), 'test')
  const listed = `${NETNS_PREFIX}${m.id}-a`
  const prefixed = `${NETNS_PREFIX}${m.id}-b`
  const other = `${NETNS_PREFIX}t${m.id}-lab`
  m.netns.push(listed, other)
  // The marker goes down first, so no concurrent reaper mistakes them for orphans.
  writeMarker(m)
  made.push(m)
  for (const n of [listed, prefixed, other]) await createNetns(n)
  t.same(
    orphanNetns(() => [m]).filter((n) => n.includes(m.id)),
    [],
    'claimed by list or by id prefix',
  )
  t.same(
    orphanNetns(() => []).filter((n) => n.includes(m.id)),
    [listed, prefixed],
    'without the marker both run namespaces are orphans; the lab-shaped one is not',
  )
  const removed = await releaseMarker(m)
  t.same(removed.sort(), [`netns ${listed}`, `netns ${other}`, `netns ${prefixed}`].sort())
  for (const n of [listed, prefixed, other]) t.notOk(listNetns().includes(n), `${n} removed`)
  t.equal(readMarker(m.id), undefined)
})

t.test('reapStale removes stale runs, never live ones, kept ones only on request', async (t) => {
  const stale = {...ownMarker(newRunId(), 'stale-test'), pidStart: 'not-this-process'}
  const live = ownMarker(newRunId(), 'live-test')
  const kept = ownMarker(newRunId(), 'kept-test', true)
  for (const m of [stale, live, kept]) await withDirAndNetns(m)
  // Never includeKept here: other tests running now may have kept sandboxes of their own.
  const report = await reapStale()
  t.ok(report.kept.includes(kept.id), 'kept sandbox reported, not removed')
  // Another test's reaper may have got to the stale one first: check the effect, not who did it.
  t.notOk(listNetns().includes(`${NETNS_PREFIX}${stale.id}-host`), 'stale netns removed')
  t.notOk(existsSync(stale.dirs[0]!), 'stale dir removed')
  t.equal(readMarker(stale.id), undefined, 'stale marker removed')
  for (const m of [live, kept]) {
    t.ok(listNetns().includes(`${NETNS_PREFIX}${m.id}-host`), `${m.label} netns untouched`)
    t.ok(existsSync(m.dirs[0]!), `${m.label} dir untouched`)
    t.ok(readMarker(m.id), `${m.label} marker untouched`)
  }
  for (const m of [live, kept]) await releaseMarker(m)
  for (const m of [live, kept]) {
    t.notOk(listNetns().includes(`${NETNS_PREFIX}${m.id}-host`))
    t.notOk(existsSync(m.dirs[0]!))
  }
})

t.test('reapStale goes by the marker as it is when it reaps, not as it first read it', async (t) => {
  // As a reaper met it: `exec add --sandbox` still running when the markers were read, and gone by the
  // time the reaper came to it, having kept its sandbox (persistent, no owner) just before it exited.
  const kept = ownMarker(newRunId(), 'kept-while-reaping', true)
  await withDirAndNetns(kept)
  const dir = kept.dirs[0]!
  const asFirstRead: Marker = {...kept, persistent: false, pid: process.pid, pidStart: 'an owner gone since'}
  const report = await reapStale({}, () => [asFirstRead])
  t.same(report, {kept: [kept.id], removed: []}, 'reported kept, nothing removed')
  t.ok(listNetns().includes(`${NETNS_PREFIX}${kept.id}-host`), 'its netns is there')
  t.ok(existsSync(dir), 'its dir is there')
  t.same(readMarker(kept.id), kept, 'its marker is as its owner left it')
  await releaseMarker(kept)
})

t.test('orphanNetns: a namespace made or removed while the markers are read is no orphan', async (t) => {
  // Another run, seen at the worst moments: its marker is not among those read, yet its namespace is
  // made during the read (the marker was written just after the directory was listed), and a third
  // run's namespace, listed before, is removed during the read together with its marker.
  const born = ownMarker(newRunId(), 'born')
  const dying = ownMarker(newRunId(), 'dying')
  const bornNet = `${NETNS_PREFIX}${born.id}-host`
  const dyingNet = `${NETNS_PREFIX}${dying.id}-host`
  born.netns.push(bornNet)
  dying.netns.push(dyingNet)
  for (const m of [born, dying]) {
    writeMarker(m)
    made.push(m)
  }
  await createNetns(dyingNet)
  const orphans = orphanNetns(() => {
    const others = readMarkers().filter((m) => m.id !== born.id && m.id !== dying.id)
    execFileSync('ip', ['netns', 'add', bornNet])
    execFileSync('ip', ['netns', 'del', dyingNet])
    return others
  })
  t.same(
    orphans.filter((n) => n === bornNet || n === dyingNet),
    [],
    'neither is an orphan',
  )
  t.same(
    orphanNetns(() => []).filter((n) => n === bornNet),
    [bornNet],
    'one there before and after a read that has no marker for it is',
  )
  for (const m of [born, dying]) await releaseMarker(m)
})

t.test(
  'processesInNamespaces: inside the netns, or sharing its private mount namespace; nothing left open',
  async (t) => {
    const {m, net} = await markedNetns('scan-test')
    // In the netns and a private mount namespace: a shell, and a child of it that went back to the root
    // netns but keeps the mount namespace (as a plugin's child may).
    const [inside, outside] = await twoPids(
      t,
      inNetnsArgv({name: net}, ownMountNs(SCAN_SCRIPT, `/proc/${process.pid}/ns/net`)),
    )
    const fds = () => readdirSync('/proc/self/fd').length
    const before = fds()
    const found = processesInNamespaces([net])
    t.equal(fds(), before, 'every namespace it held open is closed again')
    t.ok(found.includes(inside), `the process in the netns (${inside}) is found: ${found.join(' ')}`)
    t.ok(found.includes(outside), `the one sharing only its mount namespace (${outside}) is found too`)
    t.notOk(found.includes(process.pid), 'never this process')
    const killed = await killNamespaceProcesses([net], 500)
    t.ok(
      [inside, outside].every((p) => killed.includes(p)),
      'killNamespaceProcesses finds both',
    )
    // Gone, or a zombie its parent has not waited for yet (the one gone back to the root netns is
    // reparented to pid 1 when the shell dies).
    t.same(
      [inside, outside].filter((p) => alive(p)),
      [],
      'and both are stopped',
    )
    await releaseMarker(m)
  },
)

t.test(
  'killNamespaceProcesses: a process that only visits the netns is stopped, never the one outside it came from',
  async (t) => {
    const {m, net} = await markedNetns('visit-test')
    // As a node agent's pod scan does: a process in the root netns, in a private mount namespace of its
    // own, runs a child that enters the sandbox's netns (nsenter --net) and keeps the mount namespace.
    const [home, visitor] = await twoPids(t, ownMountNs(VISIT_SCRIPT, netnsPath(net)))
    // Its pid is printed at the fork: wait until it has entered the netns.
    const target = statSync(netnsPath(net)).ino
    for (let i = 0; i < 250 && netInode(visitor) !== target; i++) await new Promise((r) => setTimeout(r, 20))
    const found = processesInNamespaces([net])
    t.ok(found.includes(visitor), `the visitor (${visitor}) is found: ${found.join(' ')}`)
    t.notOk(found.includes(home), `the process it came from (${home}), outside the netns, is not`)
    const killed = await killNamespaceProcesses([net], 500)
    t.same(killed, [visitor], 'only the visitor is signalled')
    t.ok(alive(home), 'the process outside still runs')
    await releaseMarker(m)
  },
)

t.test("processesInNamespaces: a run name bound to the host's network namespace is refused, not searched", (t) => {
  // Only in private mount and pid namespaces, with a tmpfs over /run/netns: the names bound there are
  // seen by nothing else, and the child, which only lists and never signals, sees only its own pids.
  // Pid 1 there is a shell in the root netns; the lister runs in a netns of its own, so the two
  // namespaces differ, and a name is bound to each.
  const loader = fileURLToPath(new URL('../../scripts/test-loader.mjs', import.meta.url))
  const markers = fileURLToPath(new URL('../../src/netns/markers.ts', import.meta.url))
  const code = [
    'const {processesInNamespaces} = await import(process.argv[1])',
    'const refused = []',
    "const found = processesInNamespaces(['cnidbg-eeeeee-self', 'cnidbg-eeeeee-init'], refused)",
    'console.log(JSON.stringify({found, refused}))',
  ].join('\n')
  const lister = [
    'mount --bind /proc/self/ns/net /run/netns/cnidbg-eeeeee-self',
    'exec node --import="$1" --input-type=module -e "$2" "$3"',
  ].join(' && ')
  const init = [
    'set -e',
    'mount -t tmpfs cnidbg-test /run/netns',
    'touch /run/netns/cnidbg-eeeeee-self /run/netns/cnidbg-eeeeee-init',
    'mount --bind /proc/1/ns/net /run/netns/cnidbg-eeeeee-init',
    // Not exec: pid 1 stays in the root netns.
    'unshare -n sh -c "$4" sh "$1" "$2" "$3"',
  ].join('\n')
  const out = execFileSync(
    'unshare',
    [
      '-m',
      '--propagation',
      'private',
      '-p',
      '-f',
      '--mount-proc',
      'sh',
      '-c',
      init,
      'sh',
      loader,
      code,
      markers,
      lister,
    ],
    {encoding: 'utf8'},
  )
  const {found, refused} = JSON.parse(out) as {found: number[]; refused: string[]}
  t.same(found, [], 'no process is listed')
  t.same(refused, ['cnidbg-eeeeee-self', 'cnidbg-eeeeee-init'], 'both names are reported')
  t.end()
})

t.test('the machine is as before', async (t) => assertNothingLeft(t, before))
