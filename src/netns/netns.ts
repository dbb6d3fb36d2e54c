import {readdirSync} from 'node:fs'

import {run, runOk, type RunOptions, type RunResult} from '../process/exec.js'
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

/** Creates a named network namespace with `lo` up (as a runtime's sandbox would have it). */
export async function createNetns(name: string): Promise<Netns> {
  if (!name.startsWith(NETNS_PREFIX)) throw new Error(`refusing to create netns ${name}: not prefixed ${NETNS_PREFIX}`)
  await runOk('ip', ['netns', 'add', name])
  await runOk('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
  return {name, path: netnsPath(name)}
}

/** Deletes a named namespace; a missing one is not an error. */
export async function deleteNetns(name: string): Promise<void> {
  const r = await run('ip', ['netns', 'del', name])
  if (r.exitCode !== 0 && !/No such file|Invalid argument|not found/i.test(r.stderr)) {
    throw new Error(`ip netns del ${name}: ${r.stderr.trim()}`)
  }
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
