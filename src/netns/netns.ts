import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from 'node:fs'

import {CommandFailed, failureText, run, runOk, type RunOptions, type RunResult} from '../process/exec.js'
import {inNetnsArgv, type NetnsRef} from './enter.js'

export const NETNS_DIR = '/run/netns'
/** Every namespace cnidbg creates starts with this, so leftovers are easy to find and reap. */
export const NETNS_PREFIX = 'cnidbg-'

export interface Netns {
  name: string
  path: string
}

export function netnsPath(name: string): string {
  return `${NETNS_DIR}/${name}`
}

/**
 * Whether `path` is a network namespace file (mounted under /run/netns, or /proc/PID/ns/net). Every
 * namespace file is on the kernel's namespace filesystem, as our own /proc/self/ns/net is, and a plain
 * file, a directory or a FIFO is not: checked first, so no open(2) blocks. Of those, a plugin given
 * another kind as CNI_NETNS (/proc/PID/ns/uts, a mounted mount namespace) would setns(2) into it in
 * vain, or leave its work in this namespace. The kind: an open descriptor of /proc/PID/ns/net reads
 * back as `net:[inode]` (proc(5)); one of a bind mount reads back as its mount point, and the mount's
 * root in /proc/self/mountinfo is then `net:[inode]`, that inode the file's own.
 */
export function isNetnsFile(path: string): boolean {
  try {
    if (statSync(path).dev !== statSync('/proc/self/ns/net').dev) return false
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
    try {
      const link = readlinkSync(`/proc/self/fd/${fd}`)
      if (/^\w+:\[\d+\]$/.test(link)) return link.startsWith('net:')
      return namespaceKind(readFileSync('/proc/self/mountinfo', 'utf8'), fstatSync(fd).ino) === 'net'
    } finally {
      closeSync(fd)
    }
  } catch {
    return false
  }
}

/**
 * The kind of the namespace with inode `ino` that is mounted somewhere (`net`, `uts`, …), from
 * mountinfo (proc(5)): an nsfs mount's root, the fourth field, is `KIND:[INODE]`. Namespace inodes are
 * unique across kinds.
 */
export function namespaceKind(mountinfo: string, ino: number): string | undefined {
  for (const line of mountinfo.split('\n')) {
    const m = /^(\w+):\[(\d+)\]$/.exec(line.split(' ')[3] ?? '')
    if (m && Number(m[2]) === ino) return m[1]
  }
  return undefined
}

/** Names `ip -batch` reads back as the one word they are (no blanks, quotes or backslashes). */
const BATCH_SAFE_NAME = /^[A-Za-z0-9_.-]+$/

// Both steps from one process we start, the name an argument: every process Node starts costs a
// fork of all of Node, which a shell's fork of `ip` does not. The way for a /run/netns that `ip` has not
// set up yet (createNetns).
const CREATE_SCRIPT = 'ip netns add "$1" && exec ip -n "$1" link set lo up'

/**
 * Whether /run/netns is a mount point of its own with shared propagation, as `ip netns add` leaves it
 * (it mounts the directory on itself and marks it shared, on every call). Only then does a namespace
 * mounted there show in the mount namespaces made before it, a sandbox's host view among them. Reads
 * /proc/self/mountinfo (proc(5)): the fifth field is the mount point, the optional fields follow the
 * sixth up to a lone "-", and of several mounts on one point the last is the one seen.
 */
export function netnsDirShared(mountinfo: string): boolean {
  const top = mountinfo
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => f[4] === NETNS_DIR)
    .at(-1)
  if (!top) return false
  const end = top.indexOf('-', 6)
  return top.slice(6, end < 0 ? undefined : end).some((o) => o.startsWith('shared:'))
}

/** Set once /run/netns is seen ready: nothing unmounts it while cnidbg runs. */
let netnsDirReady = false

/**
 * Creates a named network namespace with `lo` up (as a runtime's sandbox would have it).
 *
 * Two programs, where `ip netns add` and `ip link set lo up` from a shell are three: the namespace
 * file is made here, as `ip` makes it (exclusively, so an existing name is an error and is never
 * reused), and `unshare --net=FILE` makes the namespace, mounts it on the file and runs `ip link set lo
 * up` inside, about 1.3 ms of CPU less per namespace (conformance makes two or three per check). While
 * /run/netns is not yet the shared mount point `ip` makes of it, `ip netns add` does it all, as before.
 */
export async function createNetns(name: string): Promise<Netns> {
  if (!name.startsWith(NETNS_PREFIX)) throw new Error(`refusing to create netns ${name}: not prefixed ${NETNS_PREFIX}`)
  netnsDirReady ||= netnsDirShared(readFileSync('/proc/self/mountinfo', 'utf8'))
  // A name that is not one plain file name goes to `ip`, which checks it.
  if (!netnsDirReady || !BATCH_SAFE_NAME.test(name)) {
    const r = await run('sh', ['-c', CREATE_SCRIPT, 'cnidbg-netns', name])
    if (r.exitCode !== 0) throw new CommandFailed(`ip netns add ${name}: ${failureText(r)}`, r)
    return {name, path: netnsPath(name)}
  }
  const path = netnsPath(name)
  try {
    closeSync(openSync(path, 'wx', 0o000))
  } catch (error) {
    throw new Error(`creating netns ${name}: cannot create namespace file "${path}": ${(error as Error).message}`)
  }
  const r = await run('unshare', [`--net=${path}`, '--', 'ip', 'link', 'set', 'lo', 'up'])
  if (r.exitCode !== 0) {
    // Not mounted (unshare failed before it could): the plain file goes, as `ip netns add` removes its own.
    // Mounted, the namespace stays for the caller's clean-up, as a failed `ip link set lo up` left it.
    if (!isNetnsFile(path)) rmSync(path, {force: true})
    throw new CommandFailed(`creating netns ${name}: ${failureText(r)}`, r)
  }
  return {name, path}
}

/** Deletes a named namespace; a missing one is not an error. */
export async function deleteNetns(name: string): Promise<void> {
  const r = await run('ip', ['netns', 'del', name], {finishOnSignal: true})
  if (r.exitCode !== 0 && !/No such file|Invalid argument|not found/i.test(r.stderr)) {
    throw new Error(`ip netns del ${name}: ${r.stderr.trim()}`)
  }
}

/**
 * Deletes namespace `name`, then waits until the links of namespace `peersIn` (undefined: ours) whose
 * other end was in it are gone too, at most `timeoutMs`. The kernel destroys a namespace's devices,
 * and with them their veth peers, after `ip netns del` returns, from a work queue: whoever reads the
 * peers' side right away (a leak check after DEL) would see links that are about to go.
 */
export async function deleteNetnsSettled(name: string, peersIn?: string, timeoutMs = 10_000): Promise<void> {
  const ids = await ipJson<Array<{name: string; id?: number}>>(['netns', 'list'], peersIn).catch(() => [])
  const id = ids.find((n) => n.name === name)?.id
  const links = () => ipJson<Array<{ifname: string; link_netnsid?: number}>>(['link', 'show'], peersIn)
  const peers = id === undefined ? [] : (await links()).filter((l) => l.link_netnsid === id).map((l) => l.ifname)
  await deleteNetns(name)
  const deadline = Date.now() + timeoutMs
  while (peers.length > 0 && Date.now() < deadline) {
    const left = new Set((await links()).map((l) => l.ifname))
    if (!peers.some((p) => left.has(p))) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * Deletes named namespaces, all but odd names in one `ip -force -batch` process instead of one process
 * each; a missing one is not an error. Throws, after trying them all, if any is still there.
 */
export async function deleteNetnsAll(names: readonly string[]): Promise<void> {
  const batched = names.length > 1 ? names.filter((n) => BATCH_SAFE_NAME.test(n)) : []
  const failures: string[] = []
  if (batched.length > 0) {
    const r = await run('ip', ['-force', '-batch', '-'], {
      finishOnSignal: true,
      input: batched.map((n) => `netns del ${n}`).join('\n') + '\n',
    })
    const left = new Set(listNetns())
    for (const n of batched) if (left.has(n)) failures.push(`ip netns del ${n}: ${r.stderr.trim()}`)
  }
  for (const n of names.filter((n) => !batched.includes(n)))
    await deleteNetns(n).catch((error: Error) => failures.push(error.message))
  if (failures.length > 0) throw new Error(failures.join('; '))
}

/**
 * Kills (SIGKILL) every process whose network namespace is the named one: a process started inside a
 * namespace keeps it alive after `ip netns del`, so it is found by the namespace's inode, never by its
 * name. Refuses the namespace this process runs in. Returns the pids signalled.
 */
export function killNetnsProcesses(name: string): number[] {
  if (!name.startsWith(NETNS_PREFIX)) throw new Error(`refusing to reap netns ${name}: not prefixed ${NETNS_PREFIX}`)
  let ino: number
  try {
    ino = statSync(netnsPath(name)).ino
  } catch {
    return []
  }
  const link = `net:[${ino}]`
  if (readlinkSync('/proc/self/ns/net') === link) throw new Error(`refusing to reap netns ${name}: it is our own`)
  const killed: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readlinkSync(`/proc/${entry}/ns/net`) !== link) continue
      process.kill(Number(entry), 'SIGKILL')
      killed.push(Number(entry))
    } catch {
      // Gone meanwhile, or a kernel thread.
    }
  }
  return killed
}

export function listNetns(): string[] {
  try {
    return readdirSync(NETNS_DIR).sort()
  } catch {
    return []
  }
}

export function netnsExists(name: string): boolean {
  return listNetns().includes(name)
}

/**
 * Whether this process's network namespace is one of the named ones (`ip netns` names): the same
 * namespace file, compared by device and inode as the kernel identifies it.
 */
export function inOneOfNetns(names: readonly string[]): boolean {
  const id = (path: string) => {
    try {
      const st = statSync(path)
      return `${st.dev}:${st.ino}`
    } catch {
      return undefined
    }
  }
  const self = id('/proc/self/ns/net')
  return self !== undefined && names.some((n) => id(netnsPath(n)) === self)
}

/** Runs `ip` in a namespace (`ip -n`), throwing on failure. `netns` undefined means the caller's own. */
export async function ip(args: readonly string[], netns?: string, opts: RunOptions = {}): Promise<RunResult> {
  return runOk('ip', netns ? ['-n', netns, ...args] : [...args], opts)
}

/** `ip -j …` parsed. An empty answer (no objects) is []. */
export async function ipJson<T = unknown>(args: readonly string[], netns?: string): Promise<T> {
  const r = await ip(['-j', ...args], netns)
  const text = r.stdout.trim()
  return (text ? JSON.parse(text) : []) as T
}

/** Runs many `ip` commands in one process (`ip -batch -`): one exec instead of N. */
export async function ipBatch(lines: readonly string[], netns?: string, force = false): Promise<RunResult> {
  const args = [...(netns ? ['-n', netns] : []), ...(force ? ['-force'] : []), '-batch', '-']
  return runOk('ip', args, {input: lines.join('\n') + '\n'})
}

/**
 * Runs any program inside a namespace given by path (`/run/netns/x` or `/proc/<pid>/ns/net`), or by
 * name with `sysfs` for the namespace's own /sys (enter.ts).
 */
export async function runInNetns(
  ns: string | NetnsRef,
  file: string,
  args: readonly string[],
  opts: RunOptions & {sysfs?: boolean} = {},
): Promise<RunResult> {
  const [cmd, ...rest] = inNetnsArgv(typeof ns === 'string' ? {path: ns} : ns, [file, ...args], {sysfs: opts.sysfs})
  return run(cmd!, rest, opts)
}
