/**
 * The spy plugin's control protocol: what the suite writes before running a plugin, and what the spy
 * appends while it runs. Pure fs, no subprocesses, so both the suite and the spy binary can use it.
 *
 * Modelled on containernetworking/cni plugins/test/noop (checklist §5.4): a control file says how to
 * answer each verb; every invocation is appended to a JSON-lines log with the command, the CNI_*
 * environment and stdin, so the suite can assert what a plugin passed to its delegate (P102–P108)
 * or to the next plugin in a chain (P55–P59).
 */
import {appendFileSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'

export const SPY_VERBS = ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION'] as const
export type SpyVerb = (typeof SPY_VERBS)[number]

/** The CNI_ARGS key that carries a control path: `CNIDBG_SPY=/path/control.json`. */
export const SPY_CNI_ARG = 'CNIDBG_SPY'
/** Environment fallback for the control path (inherited by delegates the way libcni passes env). */
export const SPY_ENV = 'CNIDBG_SPY_CONTROL'

/** An IPAM answer the spy turns into a result in the request's cniVersion (ip4/ip6, ips[].version…). */
export interface SpyIpamAnswer {
  ips: Array<{address: string; gateway?: string}>
  routes?: Array<{dst: string; gw?: string}>
  dns?: {nameservers?: string[]; domain?: string; search?: string[]; options?: string[]}
}

export interface SpyError {
  code: number
  msg: string
  details?: string
}

/** How to answer one invocation. Precedence: stdout > error > result/ipam > the verb's default. */
export interface SpyReply {
  /**
   * A result to print, converted to the request's cniVersion (write it in any version's layout; use
   * `stdout` to print something verbatim). 'PASSTHROUGH' prints the request's prevResult, converted.
   */
  result?: Record<string, unknown> | 'PASSTHROUGH'
  /** Build an IPAM result (abbreviated: no interfaces) in the request's version from these addresses. */
  ipam?: SpyIpamAnswer
  /** Print this error object on stdout and exit non-zero (exitCode, default 1). */
  error?: SpyError
  /** Raw stdout, printed verbatim: for answers no well-behaved plugin would give. */
  stdout?: string
  /** Written to stderr (P105: the upper plugin should forward it). */
  stderr?: string
  exitCode?: number
  /** Sleep this long before answering (ordering and timeout tests). */
  delayMs?: number
}

export interface SpyControl {
  /** JSON-lines file every invocation is appended to. */
  log: string
  /** Recorded in each log line, to tell several spies sharing one log apart. Default: the binary name. */
  label?: string
  /**
   * VERSION's supportedVersions (default: all of 0.1.0–1.1.0). When set, requests with another
   * cniVersion fail with code 1 ("incompatible CNI versions"), as a real plugin's would (P28).
   */
  versions?: string[]
  /** Per verb: one reply for every call, or a list used in call order (the last one repeats). */
  verbs?: Partial<Record<SpyVerb, SpyReply | SpyReply[]>>
  /** 'cni' (default) records only CNI_* variables; 'all' records the whole environment. */
  recordEnv?: 'cni' | 'all'
}

export interface SpyLogEntry {
  time: string
  pid: number
  /** control.label, or the name the spy was run as. */
  label: string
  /** The executable name (what `type`/`ipam.type` named). */
  plugin: string
  /** CNI_COMMAND as received ('' when unset). */
  command: string
  env: Record<string, string>
  stdin: string
  /** stdin parsed, or null when it is not a JSON object. */
  config: Record<string, unknown> | null
  /** Where the control path came from. */
  controlFrom: 'cni-args' | 'ipam' | 'config' | 'env'
  reply: {exitCode: number; stdout: string; stderr: string}
}

/** Writes a control file (creating its directory) and returns its path. */
export function writeSpyControl(path: string, control: SpyControl): string {
  mkdirSync(dirname(path), {recursive: true})
  writeFileSync(path, JSON.stringify(control, null, 2) + '\n')
  return path
}

export function readSpyControl(path: string): SpyControl {
  return JSON.parse(readFileSync(path, 'utf8')) as SpyControl
}

/**
 * A control and its log side by side in `dir`: `<name>.control.json` and `<name>.log.jsonl`.
 * Returns the paths plus the three ways to hand the control to the spy.
 */
export function createSpy(
  dir: string,
  name: string,
  control: Omit<SpyControl, 'log'> & {log?: string} = {},
): {
  control: string
  log: string
  /** Merge into a plugin config object (or its `ipam` object) to point the spy at this control. */
  configKey: {spy: {control: string}}
  /** A CNI_ARGS pair; the upper plugin must tolerate it (Go plugins need IgnoreUnknown=1). */
  cniArg: string
} {
  const log = control.log ?? join(dir, `${name}.log.jsonl`)
  const path = writeSpyControl(join(dir, `${name}.control.json`), {...control, log})
  return {control: path, log, configKey: {spy: {control: path}}, cniArg: `${SPY_CNI_ARG}=${path}`}
}

/** Appends one log line. One write per line: O_APPEND keeps parallel spies from interleaving. */
export function appendSpyLog(path: string, entry: SpyLogEntry): void {
  mkdirSync(dirname(path), {recursive: true})
  appendFileSync(path, JSON.stringify(entry) + '\n')
}

/** Every entry in a log, oldest first; a missing log is no entries. Torn last lines are skipped. */
export function readSpyLog(path: string): SpyLogEntry[] {
  let text = ''
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return []
  }
  const out: SpyLogEntry[] = []
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    try {
      out.push(JSON.parse(line) as SpyLogEntry)
    } catch {
      // a line still being written by a killed spy
    }
  }
  return out
}

/** The log entries for one verb (and optionally one label), oldest first. */
export function spyCalls(path: string, command: SpyVerb, label?: string): SpyLogEntry[] {
  return readSpyLog(path).filter((e) => e.command === command && (label === undefined || e.label === label))
}

/** Forgets every recorded call (keeps the control). */
export function clearSpyLog(path: string): void {
  writeFileSync(path, '')
}
