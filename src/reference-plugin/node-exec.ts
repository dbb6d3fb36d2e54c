import {liteRun, liteStart, which, type LiteResult, type Started} from '../netns/lite-exec.js'
import {CniError, CODE} from './errors.js'

// Generous: on a node starting 100 pods at once, `ip` waits for CPU; the runtime has its own deadline.
const TIMEOUT_MS = 120_000

/** `ip -batch -` in the plugin's own netns (the node). */
export function hostIp(lines: readonly string[], json = false): Promise<LiteResult> {
  return liteRun('ip', [...(json ? ['-j'] : []), '-batch', '-'], {
    input: lines.join('\n') + '\n',
    timeoutMs: TIMEOUT_MS,
  })
}

/** `ip -batch -` inside the pod's netns, given by path (/run/netns/x or /proc/<pid>/ns/net). */
export function podIp(nsPath: string, lines: readonly string[], json = false): Promise<LiteResult> {
  return liteRun('nsenter', [`--net=${nsPath}`, '--', which('ip'), ...(json ? ['-j'] : []), '-batch', '-'], {
    input: lines.join('\n') + '\n',
    timeoutMs: TIMEOUT_MS,
  })
}

/** `ip -batch -` in our netns, started now, its commands given later (see liteStart). */
export function startHostIp(): Started {
  return liteStart('ip', ['-batch', '-'], {timeoutMs: TIMEOUT_MS})
}

/** `ip -batch -` inside the pod's netns, started now, its commands given later. */
export function startPodIp(nsPath: string): Started {
  return liteStart('nsenter', [`--net=${nsPath}`, '--', which('ip'), '-batch', '-'], {timeoutMs: TIMEOUT_MS})
}

const asInput = (lines: readonly string[]): string => (lines.length ? lines.join('\n') + '\n' : '')

/** Feeds a started `ip -batch -` its lines. */
export function feed(p: Started, lines: readonly string[]): Promise<LiteResult> {
  return p.finish(asInput(lines))
}

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
