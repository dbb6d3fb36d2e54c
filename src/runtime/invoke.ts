import {basename} from 'node:path'

import {capText} from '../core/text.js'
import {DEFAULT_MAX_OUTPUT, run, type RunOptions, type RunResult} from '../process/exec.js'
import {splitJsonOutput, valueText} from './json-output.js'
import {errorProblems, framingProblems, type SpecProblem} from './spec-problems.js'
import {CNI_ERROR_CODES, type CniErrorObject, type JsonObject, type Verb} from './types.js'

/** How a plugin process is started: directly on this host, or inside a Sandbox (`sb.run`). */
export type Executor = (file: string, args: readonly string[], opts: RunOptions) => Promise<RunResult>
export const hostExecutor: Executor = run

export interface CniEnv {
  CNI_CONTAINERID: string
  CNI_NETNS: string
  CNI_IFNAME: string
  CNI_ARGS: string
  CNI_PATH: string
}

/** One plugin execution, as `--verbose` and conformance evidence show it. */
export interface Invocation {
  plugin: string
  path: string
  verb: Verb
  env: Record<string, string>
  stdin: string
  stdout: string
  stderr: string
  exitCode: number | null
  signal: string | null
  timedOut: boolean
  outputLimitExceeded: boolean
  durationMs: number
}

export interface PluginOutcome {
  invocation: Invocation
  ok: boolean
  /** The (first) JSON object on stdout: the result on success. */
  value?: unknown
  /** The error object, when the plugin failed with one. */
  error?: CniErrorObject
  /** One line saying why it failed (R33 wording), when !ok. */
  failure?: string
  problems: SpecProblem[]
}

export interface InvokeOptions {
  executor?: Executor
  path: string
  verb: Verb
  /** The request config (stdin). A string is sent verbatim (for malformed-input tests). */
  request: JsonObject | string
  env: Partial<CniEnv>
  timeoutMs: number
  maxOutputBytes?: number
  /** Only CNI_* and PATH, instead of our whole environment (libcni passes its whole environment, R12). */
  minimalEnv?: boolean
  /** Extra or overriding variables (tests: unset a variable by passing undefined). */
  extraEnv?: Record<string, string | undefined>
}

export function describeError(e: CniErrorObject): string {
  const meaning = CNI_ERROR_CODES[e.code]
  // The error object is the plugin's: msg and details are not trusted to be strings.
  return `code ${e.code}${meaning ? ` (${meaning})` : ''}: ${valueText(e.msg ?? '')}${e.details ? `; ${valueText(e.details)}` : ''}`
}

const tail = (s: string, n = 300): string => (s.length > n ? '…' + s.slice(-n) : s)

/** What is kept of a flooded stream: its start, so --json and --verbose don't carry megabytes of garbage. */
const FLOOD_KEEP = 4096
const clip = (s: string): string => capText(s, FLOOD_KEEP)

/** Runs one plugin verb (SPEC §2) and classifies what it did. Never throws for plugin misbehaviour. */
export async function invokePlugin(opts: InvokeOptions): Promise<PluginOutcome> {
  const stdin = typeof opts.request === 'string' ? opts.request : JSON.stringify(opts.request)
  const cniEnv: Record<string, string | undefined> = {CNI_COMMAND: opts.verb, ...opts.env, ...opts.extraEnv}
  const env = opts.minimalEnv ? {PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...cniEnv} : cniEnv
  const maxOutputBytes = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT
  const r = await (opts.executor ?? hostExecutor)(opts.path, [], {
    env,
    extendEnv: !opts.minimalEnv,
    input: stdin,
    maxOutputBytes,
    timeoutMs: opts.timeoutMs,
  })
  const invocation: Invocation = {
    durationMs: r.durationMs,
    env: Object.fromEntries(Object.entries(cniEnv).filter((e): e is [string, string] => e[1] !== undefined)),
    exitCode: r.exitCode,
    outputLimitExceeded: r.outputLimitExceeded,
    path: opts.path,
    plugin: basename(opts.path),
    signal: r.signal,
    stderr: r.outputLimitExceeded ? clip(r.stderr) : r.stderr,
    stdin,
    stdout: r.outputLimitExceeded ? clip(r.stdout) : r.stdout,
    timedOut: r.timedOut,
    verb: opts.verb,
  }
  const name = basename(opts.path)
  if (r.timedOut)
    return {
      failure: `${name} ${opts.verb} timed out after ${opts.timeoutMs / 1000}s; its process group was killed`,
      invocation,
      ok: false,
      // A plugin that never exits gives the runtime neither a result nor an exit code (P1, P33).
      problems: [
        {message: `${opts.verb} did not exit within ${opts.timeoutMs / 1000}s`, requirement: 'P1', severity: 'must'},
      ],
    }
  if (r.outputLimitExceeded)
    return {
      failure: `${name} ${opts.verb} printed more than ${Math.round(maxOutputBytes / 1024 / 1024)} MiB; it was killed and its output cut off`,
      invocation,
      ok: false,
      problems: [{message: 'the plugin flooded its output', requirement: 'P2', severity: 'must'}],
    }
  if (r.spawnError) return {failure: `can't run ${opts.path}: ${r.spawnError}`, invocation, ok: false, problems: []}
  const split = splitJsonOutput(r.stdout)
  const problems = framingProblems(opts.verb, r.exitCode, split, r.stderr)
  if (r.outputHeldOpen)
    problems.push({
      // A runtime reads stdout to its end (libcni does, through Go's exec), so it would wait as long.
      message: `${opts.verb} exited, but a process it left outside its process group kept stdout or stderr open; a runtime reading to the end of the output waits for that process`,
      requirement: 'P2',
      severity: 'should',
    })
  const value = split.objects[0]
  if (r.exitCode === 0) {
    const obj = value as Record<string, unknown> | undefined
    // P1: exit 0 with an error object is a failure by any reading; treat it as one.
    if (
      obj &&
      typeof obj.code === 'number' &&
      typeof obj.msg === 'string' &&
      !('cniVersion' in obj && 'interfaces' in obj)
    )
      return {
        error: obj as unknown as CniErrorObject,
        failure: `${name} ${opts.verb} exited 0 but printed an error: ${describeError(obj as unknown as CniErrorObject)}`,
        invocation,
        ok: false,
        problems,
      }
    return {invocation, ok: true, problems, value}
  }
  const errObj = value as CniErrorObject | undefined
  if (errObj && typeof errObj.code === 'number') {
    problems.push(
      ...errorProblems(errObj, typeof opts.request === 'object' ? String(opts.request.cniVersion ?? '') : undefined),
    )
    return {
      error: errObj,
      failure: `${name} ${opts.verb} failed: ${describeError(errObj)}`,
      invocation,
      ok: false,
      problems,
      value,
    }
  }
  const why = r.signal
    ? `killed by ${r.signal}`
    : r.stderr.trim()
      ? `"${tail(r.stderr.trim())}"`
      : r.stdout.trim()
        ? `unparseable output ${JSON.stringify(tail(r.stdout.trim(), 120))}`
        : 'no error message'
  return {
    failure: `${name} ${opts.verb} failed (exit ${r.exitCode ?? r.signal}): ${why}`,
    invocation,
    ok: false,
    problems,
    value,
  }
}
