/**
 * The spy plugin's logic, as a function of (environment, stdin) so tests can drive it without a
 * process. main.ts is the executable around it.
 *
 * Where the control comes from, first match wins:
 *  1. CNI_ARGS `CNIDBG_SPY=<path>` (per invocation; Go upper plugins need IgnoreUnknown=1 to pass it),
 *  2. `ipam.spy.control` when the spy runs as that config's `ipam.type` (a spy IPAM),
 *  3. the config's `spy.control` (or a literal "spy.control" key),
 *  4. the environment variable CNIDBG_SPY_CONTROL.
 * Without a control the spy still answers VERSION, and fails everything else with code 7.
 */
import {readFileSync} from 'node:fs'

import {ALL_SPEC_VERSIONS} from '../../runtime/versions.js'
import {
  appendSpyLog,
  readSpyLog,
  SPY_CNI_ARG,
  SPY_ENV,
  type SpyControl,
  type SpyLogEntry,
  type SpyReply,
  type SpyVerb,
} from './control.js'
import {convertResult, ipamResult} from './convert.js'
import {parseJson} from '../../core/json.js'

export interface SpyInput {
  env: Record<string, string | undefined>
  stdin: string
  /** The name the spy was run as (basename of argv[1]), i.e. the `type` that found it. */
  self: string
}

export interface SpyOutput {
  stdout: string
  stderr: string
  exitCode: number
}

type Obj = Record<string, unknown>
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x)

function parseObject(text: string): Obj | null {
  try {
    const v: unknown = parseJson(text)
    return isObj(v) ? v : null
  } catch {
    return null
  }
}

function cniArg(env: SpyInput['env'], key: string): string | undefined {
  for (const pair of (env.CNI_ARGS ?? '').split(';')) {
    const i = pair.indexOf('=')
    if (i > 0 && pair.slice(0, i) === key) return pair.slice(i + 1)
  }
  return undefined
}

const sameName = (type: unknown, self: string): boolean =>
  typeof type === 'string' && (type === self || type === self.replace(/\.(m?js|cjs)$/, ''))

/** Finds the control path (see the file comment for the order). */
export function findControl(
  env: SpyInput['env'],
  config: Obj | null,
  self: string,
): {path: string; from: SpyLogEntry['controlFrom']} | undefined {
  const fromArgs = cniArg(env, SPY_CNI_ARG)
  if (fromArgs) return {path: fromArgs, from: 'cni-args'}
  const ipam = isObj(config?.ipam) ? config.ipam : undefined
  if (ipam && sameName(ipam.type, self) && isObj(ipam.spy) && typeof ipam.spy.control === 'string') {
    return {path: ipam.spy.control, from: 'ipam'}
  }
  if (config && isObj(config.spy) && typeof config.spy.control === 'string')
    return {path: config.spy.control, from: 'config'}
  if (config && typeof config['spy.control'] === 'string') return {path: config['spy.control'], from: 'config'}
  if (env[SPY_ENV]) return {path: env[SPY_ENV], from: 'env'}
  return undefined
}

function errorOut(version: unknown, code: number, msg: string, details?: string, exitCode = 1): SpyOutput {
  // The spec's error object carries cniVersion (S5-ERR); the spy is spec-correct where it can be.
  const e: Obj = {...(typeof version === 'string' ? {cniVersion: version} : {}), code, msg}
  if (details !== undefined) e.details = details
  return {stdout: JSON.stringify(e) + '\n', stderr: '', exitCode}
}

function sleep(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/** The reply configured for this call: arrays are used in call order, counted from the log. */
function pickReply(control: SpyControl, verb: string, label: string): SpyReply | undefined {
  const r = control.verbs?.[verb as SpyVerb]
  if (!Array.isArray(r)) return r
  if (r.length === 0) return undefined
  const seen = readSpyLog(control.log).filter((e) => e.command === verb && e.label === label).length
  return r[Math.min(seen, r.length - 1)]
}

function versionOut(control: SpyControl | undefined, config: Obj | null): SpyOutput {
  const versions = control?.versions ?? [...ALL_SPEC_VERSIONS]
  const asked = config?.cniVersion
  // S5-VER: echo the request's cniVersion (skel does not; the spy is the spec-correct reference).
  const cniVersion = typeof asked === 'string' && versions.includes(asked) ? asked : versions[versions.length - 1]
  return {stdout: JSON.stringify({cniVersion, supportedVersions: versions}) + '\n', stderr: '', exitCode: 0}
}

function answer(reply: SpyReply | undefined, verb: string, config: Obj | null, control: SpyControl): SpyOutput {
  const version = typeof config?.cniVersion === 'string' ? config.cniVersion : undefined
  const stderr = reply?.stderr ?? ''
  const withStderr = (o: SpyOutput): SpyOutput => ({...o, stderr: o.stderr + stderr})
  if (reply?.stdout !== undefined) return {stdout: reply.stdout, stderr, exitCode: reply.exitCode ?? 0}
  if (reply?.error) {
    const {code, msg, details} = reply.error
    return withStderr(errorOut(version, code, msg, details, reply.exitCode ?? 1))
  }
  if (verb === 'VERSION') return withStderr({...versionOut(control, config), exitCode: reply?.exitCode ?? 0})
  if (!config) return withStderr(errorOut(undefined, 6, 'cnidbg spy: stdin is not a JSON object'))
  if (control.versions && !control.versions.includes(version ?? '')) {
    return withStderr(
      errorOut(
        version,
        1,
        'incompatible CNI versions',
        `config is ${JSON.stringify(version)}, plugin supports ${JSON.stringify(control.versions)}`,
      ),
    )
  }
  const exitCode = reply?.exitCode ?? 0
  const target = version ?? '0.1.0'
  const print = (o: Obj): SpyOutput => ({stdout: JSON.stringify(o) + '\n', stderr, exitCode})
  if (reply?.ipam) return print(ipamResult(reply.ipam, target))
  const prev = isObj(config.prevResult) ? config.prevResult : undefined
  if (reply?.result === 'PASSTHROUGH') {
    if (!prev) return withStderr(errorOut(version, 7, 'cnidbg spy: PASSTHROUGH without prevResult'))
    return print(convertResult(prev, target))
  }
  if (isObj(reply?.result)) return print(convertResult(reply.result, target))
  // Defaults: ADD passes prevResult through (or prints an empty result); the others print nothing.
  if (verb === 'ADD') return print(prev ? convertResult(prev, target) : {cniVersion: target})
  return {stdout: '', stderr, exitCode}
}

function recordedEnv(env: SpyInput['env'], all: boolean): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(env)) if (v !== undefined && (all || k.startsWith('CNI_'))) out[k] = v
  return out
}

/** One invocation: find the control, log the call, answer as the control says. */
export function runSpy(input: SpyInput): SpyOutput {
  const verb = input.env.CNI_COMMAND ?? ''
  const config = parseObject(input.stdin)
  const where = findControl(input.env, config, input.self)
  if (!where) {
    if (verb === 'VERSION') return versionOut(undefined, config)
    return errorOut(
      config?.cniVersion,
      7,
      'cnidbg spy: no control file',
      `set "spy": {"control": "<path>"} in the config (or ipam), CNI_ARGS ${SPY_CNI_ARG}=<path>, or ${SPY_ENV}`,
    )
  }
  let control: SpyControl
  try {
    control = JSON.parse(readFileSync(where.path, 'utf8')) as SpyControl
  } catch (error) {
    return errorOut(config?.cniVersion, 5, `cnidbg spy: cannot read control ${where.path}`, String(error))
  }
  const label = control.label ?? input.self
  const reply = pickReply(control, verb, label)
  const out = answer(reply, verb, config, control)
  appendSpyLog(control.log, {
    time: new Date().toISOString(),
    pid: process.pid,
    label,
    plugin: input.self,
    command: verb,
    env: recordedEnv(input.env, control.recordEnv === 'all'),
    stdin: input.stdin,
    config,
    controlFrom: where.from,
    reply: {exitCode: out.exitCode, stdout: out.stdout, stderr: out.stderr},
  })
  sleep(reply?.delayMs ?? 0)
  return out
}
