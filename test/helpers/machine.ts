/**
 * Leak checks for tests that create namespaces, sandboxes and temp dirs. Other test files (and other
 * people's runs) may create and remove their own cnidbg- namespaces at the same time, so "exactly as
 * before" is checked for what this process could have made: run namespaces and markers owned by this
 * process, and the sandbox temp dirs under a TMPDIR private to this test file. The root namespace's
 * links are compared exactly: nothing may ever add one there.
 */
import {spawn} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {createInterface} from 'node:readline'

import type {Test} from 'tap'

import {ipJson, listNetns, orphanNetns, readMarkers, type Marker} from '../../src/netns/index.js'

/** What ownMarker() records as `command` for markers this test process writes. */
export const OWN_COMMAND = process.argv.slice(2).join(' ') || process.argv[1] || 'cnidbg'

const RUN_NETNS_RE = /^cnidbg-([0-9a-f]{6})-/

export interface MachineState {
  netns: string[]
  rootLinks: string[]
}

export async function rootLinks(): Promise<string[]> {
  const links = await ipJson<Array<{ifname: string; address?: string}>>(['link', 'show'])
  return links.map((l) => `${l.ifname} ${l.address ?? ''}`).sort()
}

export async function machineState(): Promise<MachineState> {
  return {netns: listNetns(), rootLinks: await rootLinks()}
}

function isOwnMarker(m: Marker): boolean {
  return m.pid === process.pid || (m.pid === null && m.command === OWN_COMMAND)
}

/** Markers this process wrote (live ones of ours, and kept ones made by this test file). */
export function ownMarkers(): Marker[] {
  return readMarkers().filter(isOwnMarker)
}

/**
 * Run namespaces that are ours or nobody's: claimed by one of our markers, or by no marker at all (a
 * marker is always written before its namespace is created and removed after it, so an unclaimed
 * run namespace is a leak). Nobody's are orphanNetns's, which does not mistake another file's
 * namespace made or removed meanwhile for one.
 */
export function ownOrOrphanNetns(): string[] {
  const own = ownMarkers()
  const ours = listNetns().filter((n) => {
    const m = RUN_NETNS_RE.exec(n)
    return m && own.some((mk) => mk.id === m[1] || mk.netns.includes(n))
  })
  return [...new Set([...orphanNetns(), ...ours])].sort()
}

/**
 * Points os.tmpdir() (and so Sandbox temp dirs) at a directory only this test file uses, so the test
 * can see every temp dir it caused. Restored and removed at teardown.
 */
export function privateTmpdir(t: Test): string {
  const dir = mkdtempSync('/tmp/cnidbgtest-')
  const old = process.env.TMPDIR
  process.env.TMPDIR = dir
  t.teardown(() => {
    if (old === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = old
    rmSync(dir, {force: true, recursive: true})
  })
  return dir
}

export function sandboxDirsIn(tmp: string): string[] {
  try {
    return readdirSync(tmp).filter((f) => f.startsWith('cnidbg-'))
  } catch {
    return []
  }
}

/**
 * Asserts this process left nothing behind: no namespaces or markers of its own, no orphaned run
 * namespace that was not there before, no sandbox dir in `tmp`, and the root namespace's links
 * exactly as in `before`.
 */
export async function assertNothingLeft(
  t: Test,
  before: MachineState,
  tmp?: string,
  what = 'nothing left behind',
): Promise<void> {
  const stray = ownOrOrphanNetns().filter((n) => !before.netns.includes(n))
  t.same(stray, [], `${what}: no namespaces of ours`)
  t.same(
    ownMarkers().map((m) => `${m.id} ${m.label ?? ''}`),
    [],
    `${what}: no markers of ours under /run/cnidbg/runs`,
  )
  if (tmp) t.same(sandboxDirsIn(tmp), [], `${what}: no sandbox temp dirs`)
  t.same(await rootLinks(), before.rootLinks, `${what}: root namespace links exactly as before`)
  const appeared = listNetns().filter((n) => !before.netns.includes(n))
  const vanished = before.netns.filter((n) => !listNetns().includes(n))
  if (appeared.length || vanished.length)
    t.comment(`namespaces changed by other processes meanwhile: +[${appeared.join(' ')}] -[${vanished.join(' ')}]`)
}

/** True while `pid` exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

/**
 * Polls (up to `ms`) until `pred` holds; returns whether it did. For "eventually gone" checks, not
 * timings: the bound is only how long a real failure takes to report, so it is generous enough that a
 * machine loaded by the rest of the suite never reaches it on a pass.
 */
export async function eventually(pred: () => boolean | Promise<boolean>, ms = 60_000): Promise<boolean> {
  const end = Date.now() + ms
  for (;;) {
    if (await pred()) return true
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** State and start time of `pid`, read straight from /proc/<pid>/stat ({} once it is gone). */
export function procStat(pid: number): {state?: string; start?: string} {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return {state: f[0], start: f[19]}
  } catch {
    return {}
  }
}

/**
 * A zombie: a child that exited and whose parent never waits, killed with that parent at teardown.
 * Perl (in every Debian, as perl-base), not sh: a shell may reap a finished background job before its
 * exec, which made this a race on a loaded machine.
 */
export async function zombie(t: Test): Promise<{pid: number; start: string}> {
  const parent = spawn('perl', ['-e', '$| = 1; my $p = fork(); exit 0 unless $p; print "$p\\n"; sleep 60'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  t.teardown(() => {
    parent.kill('SIGKILL')
  })
  const [line] = await createInterface({input: parent.stdout!})
    [Symbol.asyncIterator]()
    .next()
    .then((r) => [r.value as string])
  const pid = Number(line)
  if (!(pid > 0)) throw new Error(`no zombie: perl printed ${line}`)
  await eventually(() => procStat(pid).state === 'Z')
  const {state, start} = procStat(pid)
  if (state !== 'Z' || !start) throw new Error(`${pid} did not become a zombie (state ${state})`)
  return {pid, start}
}
