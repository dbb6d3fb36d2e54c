import {readFileSync} from 'node:fs'

import {inNetnsArgv} from '../netns/enter.js'
import {litePiped, liteRun, which, type LiteResult} from '../process/lite-exec.js'
import {batchLine} from './batch.js'
import {CniError, CODE} from './errors.js'

// Generous: on a node starting 100 pods at once, `ip` waits for CPU; the runtime has its own deadline.
const TIMEOUT_MS = 120_000

/**
 * Whether our own netns (the node) has a link named `name`: /proc/self/net/dev is per netns, so no exec
 * is needed. Undefined when it cannot be read.
 */
export function nodeHasLink(name: string): boolean | undefined {
  try {
    return readFileSync('/proc/self/net/dev', 'utf8')
      .split('\n')
      .some((l) => l.trimStart().startsWith(`${name}:`))
  } catch {
    return undefined
  }
}

/** The ifIndex our own netns gives link `name` (/proc/self/net/dev_snmp6 is per netns); undefined if unknown. */
function ownIfindex(name: string): string | undefined {
  try {
    return /^ifIndex\s+(\d+)$/m.exec(readFileSync(`/proc/self/net/dev_snmp6/${name}`, 'utf8'))?.[1]
  } catch {
    return undefined
  }
}

/**
 * The ifalias of the node's link `name` from sysfs, or undefined when sysfs cannot be trusted for it:
 * /sys shows the netns it was mounted in, which is not ours under `nsenter --net` without a new mount
 * of it. Its link is ours if its ifindex is the one our netns gives that name (dev_snmp6 has no entry
 * for a link without IPv6, such as one with an MTU under 1280, nor anywhere if IPv6 is off).
 */
function sysfsAlias(name: string): string | undefined {
  const index = ownIfindex(name)
  if (index === undefined) return undefined
  try {
    if (readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim() !== index) return undefined
    // sysfs ends a set alias with a newline; an empty one reads as nothing.
    return readFileSync(`/sys/class/net/${name}/ifalias`, 'utf8').replace(/\n$/, '')
  } catch {
    return undefined
  }
}

/**
 * The ifalias of the node's link `name` ('' when it has none), or undefined when there is no such
 * link. `name` must be a plain interface name (hostVethName). Read from files when sysfs is this
 * netns's (the runtime's node netns, `ip netns exec`, the plugin server), else with one `ip`.
 */
export async function nodeLinkAlias(name: string): Promise<string | undefined> {
  if (nodeHasLink(name) === false) return undefined
  const fromSysfs = sysfsAlias(name)
  if (fromSysfs !== undefined) return fromSysfs
  const r = await hostIp([batchLine('link', 'show', 'dev', name)], {json: true})
  if (r.exitCode !== 0) {
    if (LINK_GONE.test(r.stderr)) return undefined
    throw ipError(`reading the alias of ${name}`, r)
  }
  const [link] = (parseJsonLines(r.stdout)[0] ?? []) as Array<{ifalias?: string}>
  return link ? (link.ifalias ?? '') : undefined
}

/**
 * What `ip` says when a link to delete is not there. "No such device" is the kernel's answer when the
 * link was there as `ip` looked up its name and gone when the deletion reached it: a pod's namespace
 * being deleted takes both veth ends away in the background, so a DEL or GC racing it meets exactly
 * that. The shell front matches the same messages (front.ts).
 */
export const LINK_GONE_MESSAGES = ['Cannot find device', 'does not exist', 'No such device'] as const
export const LINK_GONE = new RegExp(LINK_GONE_MESSAGES.join('|'))

/** How `ip -batch` runs: `json` prints JSON (-j); `force` runs every line even after one failed (-force). */
export interface BatchOptions {
  json?: boolean
  force?: boolean
}

const batchArgs = ({json = false, force = false}: BatchOptions): string[] => [
  ...(json ? ['-j'] : []),
  ...(force ? ['-force'] : []),
  '-batch',
  '-',
]

/** `ip -batch -` in the plugin's own netns (the node). */
export function hostIp(lines: readonly string[], opts: BatchOptions = {}): Promise<LiteResult> {
  return liteRun('ip', batchArgs(opts), {
    input: lines.join('\n') + '\n',
    timeoutMs: TIMEOUT_MS,
  })
}

/** `ip -batch -` inside the pod's netns, given by path (/run/netns/x or /proc/<pid>/ns/net). */
export function podIp(nsPath: string, lines: readonly string[], opts: BatchOptions = {}): Promise<LiteResult> {
  const [file, ...args] = inNetnsArgv({path: nsPath}, [which('ip'), ...batchArgs(opts)])
  return liteRun(file!, args, {input: lines.join('\n') + '\n', timeoutMs: TIMEOUT_MS})
}

/**
 * Both sides of ADD from one child. Starting a process from Node forks the whole Node process (about
 * 6 ms more than from a shell on a 2-core node), so ADD starts exactly one: a shell that runs `ip -batch
 * -` in our netns on its stdin and, once that succeeded, says so on fd 5 and runs `nsenter … ip -batch
 * -` in the pod on fd 3 (its stderr is fd 4), if fd 3 starts with a "pod" line: an ADD undone after
 * IPAM failed sends none and starts nothing more. Exit code 64: the node side failed. Node-side lines are
 * written as soon as they are known, so the kernel creates the pair while IPAM chooses the address.
 * (Starting the pod side's `ip` at once, or bringing both ends up at the same time, measured no faster
 * on 2 cores: the kernel serialises link changes, and the extra processes compete for the CPU.)
 */
const VETH_SCRIPT = [
  '"$1" -batch - 3<&- 4>&- 5>&- || exit 64',
  'echo >&5; exec 5>&-',
  // read takes the line byte by byte from the pipe, so ip gets the rest.
  'IFS= read -r go <&3 && [ "$go" = pod ] || exit 0',
  'exec "$2" --net="$3" -- "$1" -batch - <&3 2>&4',
].join('\n')
const HOST_FAILED = 64

export interface VethSession {
  /** Node-side lines that need nothing from IPAM (the pair); they run at once. */
  begin(host: readonly string[]): void
  /**
   * The node side's last lines, then (once it has succeeded) every pod-side line; resolves when both
   * sides are done. `holdBeforePod` (crash tests) runs with the node side done and the pod side not.
   */
  finish(host: readonly string[], pod: readonly string[], holdBeforePod?: () => Promise<void>): Promise<VethOutcome>
}

export interface VethOutcome {
  /** The node side's batch: exitCode 0 when it all ran. */
  host: LiteResult
  /** The pod side's batch; undefined when the node side failed. */
  pod?: LiteResult
}

export function startVethSession(podNsPath: string): VethSession {
  const p = litePiped('sh', ['-c', VETH_SCRIPT, 'cnidbg-ref', which('ip'), which('nsenter'), podNsPath], {
    inputs: [0, 3],
    outputs: [2, 4, 5],
    timeoutMs: TIMEOUT_MS,
  })
  return {
    begin: (host) => p.write(0, asInput(host)),
    async finish(host, pod, holdBeforePod) {
      p.end(0, asInput(host))
      const ok = await p.signalled(5)
      if (ok && holdBeforePod) await holdBeforePod()
      p.end(3, ok && pod.length > 0 ? `pod\n${asInput(pod)}` : '')
      const r = await p.done
      const base = {signal: r.signal, stdout: '', timedOut: r.timedOut, spawnError: r.spawnError}
      if (r.exitCode === HOST_FAILED || (!ok && r.exitCode !== 0)) {
        return {host: {...base, exitCode: 1, stderr: r.outputs[2] ?? ''}}
      }
      return {
        host: {...base, exitCode: 0, stderr: r.outputs[2] ?? ''},
        pod: {...base, exitCode: r.exitCode, stderr: r.outputs[4] ?? ''},
      }
    },
  }
}

const asInput = (lines: readonly string[]): string => (lines.length ? lines.join('\n') + '\n' : '')

/** The batch line that failed ("Command failed -:3"), or 0 when ip did not say. */
export function failedLine(r: LiteResult): number {
  const m = r.stderr.match(/Command failed -:(\d+)/)
  return m ? Number(m[1]) : 0
}

export function ipError(what: string, r: LiteResult): CniError {
  const why = r.spawnError ?? (r.stderr.trim() || `exit ${r.exitCode ?? r.signal}`)
  return new CniError(CODE.KERNEL_OPERATION_FAILED, `${what} failed`, why)
}

/** Parses `ip -j -batch` output: one JSON array per command, one per line. */
export function parseJsonLines(stdout: string): unknown[][] {
  return stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('['))
    .map((l) => JSON.parse(l) as unknown[])
}
