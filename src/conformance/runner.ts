import {EventEmitter} from 'node:events'

import {departureFoundBy} from '../checks/departures.js'
import {allChecks} from '../checks/index.js'
import {type Check, type CheckOutcome, skip} from '../checks/check.js'
import type {CheckResult, ConformanceReport, PluginRole, Profile, RunEvents, Severity} from '../checks/types.js'
import {EnvironmentError, UsageError} from '../core/errors.js'
import {capText} from '../core/text.js'
import {requireEnvironment} from '../netns/index.js'
import {loadConfFile, selectVersion} from '../runtime/conf.js'
import {findPlugin} from '../runtime/find.js'
import {hostExecutor, invokePlugin} from '../runtime/invoke.js'
import type {JsonObject, NetConfList} from '../runtime/types.js'
import {ALL_SPEC_VERSIONS, compareVersions, isSpecVersion, type SpecVersion} from '../runtime/versions.js'
import {CaseEnv} from '../checks/case-env.js'
import type {ServerReport} from '../checks/plugin-server.js'
import {reproduceLine, type ReproduceRun} from './reproduce.js'
import {missingKernelSupport} from './kernel-support.js'
import {detectRole} from './role.js'
import {spyPluginDir} from '../checks/spy-path.js'

const UPSTREAM_DIR = '/usr/lib/cni'

/**
 * The longest message of a check's result kept (capText): a plugin that prints a result with 100,000
 * addresses makes a check list 100,000 problems, megabytes in every report.
 */
const MAX_MESSAGE = 4000

export interface ConformanceOptions {
  conf: string
  cniPath: string[]
  versions?: string[]
  only?: string[]
  skip?: string[]
  parallel: number
  timeoutSeconds: number
  strict: boolean
  role?: PluginRole
  host: boolean
  profile: Profile
  /** cnidbg-ref's served mode: each case's sandbox host runs its own plugin server (checks/plugin-server.ts). */
  served?: boolean
}

export type RunEmitter = EventEmitter<{[K in keyof RunEvents]: [RunEvents[K]]}>

const globRe = (g: string): RegExp =>
  new RegExp(
    '^' +
      g
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.') +
      '$',
  )

export function selectChecks(checks: readonly Check[], role: PluginRole, only?: string[], skip?: string[]): Check[] {
  const onlyRe = only
    ?.flatMap((s) => s.split(','))
    .filter(Boolean)
    .map(globRe)
  const skipRe = skip
    ?.flatMap((s) => s.split(','))
    .filter(Boolean)
    .map(globRe)
  return checks.filter(
    (c) =>
      c.roles.includes(role) &&
      (!onlyRe?.length || onlyRe.some((r) => r.test(c.id) || c.requirements.some((p) => r.test(p)))) &&
      !skipRe?.some((r) => r.test(c.id) || c.requirements.some((p) => r.test(p))),
  )
}

/**
 * How a check's outcome becomes pass/fail/warn (README "cnidbg conformance"): MUST fails; SHOULD warns,
 * except the production-critical ones, which the default profile fails; known upstream departures warn;
 * INFO never fails. --strict turns every warning into a failure.
 */
export function decide(
  check: Check,
  outcome: CheckOutcome,
  profile: Profile,
  strict: boolean,
): Pick<CheckResult, 'decidedBy' | 'severity' | 'status'> {
  if (outcome.status !== 'violation') return {severity: check.severity, status: outcome.status}
  const severity: Severity = outcome.severity ?? check.severity
  let status: CheckResult['status']
  let decidedBy: CheckResult['decidedBy'] = profile
  if (outcome.upstreamDeparture) {
    status = 'warn'
    decidedBy = 'upstream-departure'
  } else if (severity === 'must') status = 'fail'
  else if (severity === 'should') status = check.productionCritical && profile === 'default' ? 'fail' : 'warn'
  else status = 'warn'
  if (strict && status === 'warn' && severity !== 'info') status = 'fail'
  return {decidedBy, severity, status}
}

/** "applies from cniVersion 1.1.0": the versions a check's verb exists at (Check.appliesTo). */
function versionGate(check: Check): string {
  const from = ALL_SPEC_VERSIONS.find((v) => !check.appliesTo || check.appliesTo(v))
  return from === undefined ? 'applies at no spec version' : `applies from cniVersion ${from}`
}

/** The config at one version: cniVersion set, cniVersions dropped; raw.plugins shares the plugins array. */
function listAt(list: NetConfList, version: string): NetConfList {
  const plugins = structuredClone(list.plugins)
  const {cniVersions: _drop, ...rest} = list.raw
  const raw: JsonObject = {...rest, cniVersion: version, plugins}
  return {...list, bytes: JSON.stringify(raw), cniVersion: version, cniVersions: undefined, plugins, raw}
}

/**
 * A chained plugin adjusts an interface an earlier plugin made (CONVENTIONS "Chained Plugins"), so the
 * suite puts the upstream ptp + host-local in front of it, as a real config list would.
 */
export function chainedView(list: NetConfList): NetConfList {
  const upstream = {
    ipam: {ranges: [[{subnet: '10.254.0.0/24'}]], routes: [{dst: '0.0.0.0/0'}], type: 'host-local'},
    type: 'ptp',
  }
  const plugins = [upstream as unknown as NetConfList['plugins'][number], ...list.plugins]
  return {...list, plugins, raw: {...list.raw, plugins}}
}

/** The plugins before the one under test, tested as the interface plugin list they are. */
function contextView(
  list: NetConfList,
  subject: number,
): {list: NetConfList; role: PluginRole; subject: number; plugin: string} {
  const plugins = list.plugins.slice(0, subject)
  return {
    list: {...list, plugins, raw: {...list.raw, plugins}},
    plugin: plugins.map((p) => p.type).join('+'),
    role: 'interface',
    subject: 0,
  }
}

/** For the IPAM role the binary under test is ipam.type, run with the upper plugin's full config (SPEC §4). */
function ipamView(list: NetConfList): NetConfList {
  const first = list.plugins[0]!
  const ipamType = (first.ipam as JsonObject | undefined)?.type
  if (typeof ipamType !== 'string')
    throw new UsageError(
      `${list.source}: --role ipam needs an "ipam" section with a "type" in the (first) plugin config.`,
      {code: 'INVALID_CONFIG'},
    )
  const plugins = [{...first, type: ipamType}]
  return {...list, plugins, raw: {...list.raw, plugins}}
}

/**
 * Served mode starts the plugin under test as cnidbg-ref's server in each case's sandbox, so the plugin
 * under test must be cnidbg-ref, and the cases must have sandboxes.
 */
function servedUsage(type: string, host: boolean): void {
  if (host)
    throw new UsageError("--served runs a plugin server in each case's sandbox, so it does not go with --host.", {
      code: 'SERVED_HOST',
    })
  if (type !== 'cnidbg-ref')
    throw new UsageError(`--served tests cnidbg-ref's served mode: the plugin under test is ${type}, not cnidbg-ref.`, {
      code: 'SERVED_PLUGIN',
      suggestions: ['Drop --served, or test a config whose plugin under test is cnidbg-ref.'],
    })
}

/**
 * A case that was not tested served (its server died during it, or would not stop) fails, whatever
 * its check found: its plugin calls after that ran standalone, so served mode was not what it tested.
 */
export function withServerProblem(outcome: CheckOutcome, problem: string, env: CaseEnv): CheckOutcome {
  if (outcome.status === 'violation') return {...outcome, message: `${outcome.message}; served mode: ${problem}`}
  return {evidence: env.evidence(), message: `served mode: ${problem}`, severity: 'must', status: 'violation'}
}

async function probeVersions(path: string, timeoutMs: number): Promise<{versions: string[]; failure?: string}> {
  const o = await invokePlugin({
    env: {CNI_CONTAINERID: 'cnidbg-version-probe', CNI_IFNAME: 'dummy', CNI_NETNS: 'dummy', CNI_PATH: ''},
    executor: hostExecutor,
    path,
    request: {cniVersion: '1.1.0'},
    timeoutMs,
    verb: 'VERSION',
  })
  const v = (o.value ?? {}) as {supportedVersions?: unknown}
  return {failure: o.failure, versions: Array.isArray(v.supportedVersions) ? v.supportedVersions.map(String) : []}
}

/**
 * Runs `fn` on every item, `n` at a time. The first error stops new items from starting; the ones
 * running finish (and clean up) before it is thrown.
 */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  let failed: {error: unknown} | undefined
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++
      try {
        await fn(items[i] as T)
      } catch (error) {
        failed ??= {error}
      }
    }
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(n, items.length))}, worker))
  if (failed) throw failed.error
}

/** Runs the suite. Live progress goes through `events`; the report is the return value. */
export async function runConformance(
  opts: ConformanceOptions,
  events: RunEmitter = new EventEmitter() as RunEmitter,
): Promise<ConformanceReport> {
  const started = performance.now()
  const loaded = loadConfFile(opts.conf)
  requireEnvironment(['ip', 'nsenter', 'unshare', 'mount', 'iptables-save', 'nft', 'tc'])
  const role = opts.role ?? (await detectRole(loaded, opts.cniPath, opts.timeoutSeconds * 1000))
  // A lone chained plugin gets an upstream in front; a list that has one already is used as is.
  const base =
    role === 'ipam'
      ? ipamView(loaded)
      : role === 'chained' && loaded.plugins.length === 1
        ? chainedView(loaded)
        : loaded
  // The upstream plugins a chained case needs come from Debian's package when the user's path lacks them.
  const cniPath =
    role === 'chained' && !opts.cniPath.includes(UPSTREAM_DIR) ? [...opts.cniPath, UPSTREAM_DIR] : opts.cniPath
  const subject = role === 'chained' ? base.plugins.length - 1 : 0
  if (opts.served) servedUsage(base.plugins[subject]!.type, opts.host)
  const timeoutMs = opts.timeoutSeconds * 1000
  const paths = base.plugins.map((p) => findPlugin(p.type, cniPath))

  const plugins = await Promise.all(
    base.plugins.map(async (p, i) => {
      // VERSION is read-only, so it runs on the host; give it room on a loaded machine.
      const probe = await probeVersions(paths[i] as string, Math.max(timeoutMs, 30_000))
      return {path: paths[i] as string, supportedVersions: probe.versions, type: p.type, versionFailure: probe.failure}
    }),
  )
  const claimed = ALL_SPEC_VERSIONS.filter((v) => plugins.every((p) => p.supportedVersions.includes(v)))

  let versions: SpecVersion[]
  if (opts.versions?.length === 1 && opts.versions[0] === 'highest') {
    // A quick run: only the newest version every plugin claims.
    versions = claimed.slice(-1)
  } else if (opts.versions?.length) {
    const bad = opts.versions.filter((v) => !isSpecVersion(v))
    if (bad.length)
      throw new UsageError(`Unknown spec version(s): ${bad.join(', ')}.`, {
        code: 'INVALID_VERSIONS',
        suggestions: [`Known: ${ALL_SPEC_VERSIONS.join(', ')}`],
      })
    versions = opts.versions as SpecVersion[]
  } else versions = claimed
  if (versions.length === 0) {
    // A VERSION answer that claims nothing usable is itself a finding (version.output fails on it);
    // test at the version the config selects rather than refuse to run.
    const fallback = selectVersion(loaded)
    if (!isSpecVersion(fallback)) throw new UsageError(`${opts.conf}: no usable cniVersion.`, {code: 'NO_VERSIONS'})
    versions = [fallback]
  }
  versions.sort(compareVersions)
  const checks = selectChecks(allChecks, role, opts.only, opts.skip)
  if (checks.length === 0)
    throw new UsageError('No checks selected.', {
      code: 'NO_CHECKS',
      suggestions: [
        `Check ids: ${allChecks.map((c) => c.id).join(', ')}`,
        'Globs and requirement ids work too, e.g. --only "del.*,P100".',
      ],
    })
  const highest = versions.at(-1) as SpecVersion
  const cases = checks.flatMap((check) => {
    const vs = check.perVersion ? versions : [highest]
    return vs.filter((v) => !check.appliesTo || check.appliesTo(v)).map((version) => ({check, version}))
  })
  // A check whose verb the tested versions lack (CHECK before 0.4.0, STATUS and GC before 1.1.0) runs
  // no case. A run where none runs tests nothing: a usage error, so a CI gate can't go green on it.
  const notRun = checks.filter((c) => !cases.some((k) => k.check === c))
  if (cases.length === 0)
    throw new UsageError(
      `No selected check applies at the version${versions.length === 1 ? '' : 's'} tested (${versions.join(', ')}): ${notRun.map((c) => `${c.id} ${versionGate(c)}`).join('; ')}.`,
      {
        code: 'NO_CASES',
        suggestions: [
          'Select checks that apply at these versions, or name a version the checks need with --versions, if every plugin of the list supports it.',
        ],
      },
    )
  const spyDir = spyPluginDir()
  const results: CheckResult[] = []
  let pluginTimeMs = 0
  // A plugin whose kind of link this kernel lacks can't be tested here at all: skipped, with the reason.
  const unsupported = await missingKernelSupport(base.plugins)
  // The others are said to be skipped, with why, so the report shows what was not tested.
  for (const c of notRun) {
    const skipped: CheckResult = {
      durationMs: 0,
      id: c.id,
      message: unsupported ?? `not tested: it ${versionGate(c)}, and this run tests ${versions.join(', ')}`,
      plugin: base.plugins[subject]!.type,
      requirements: c.requirements,
      severity: c.severity,
      spec: c.spec,
      status: 'skip',
      title: c.title,
      version: null,
    }
    results.push(skipped)
    events.emit('check:end', skipped)
  }
  const runCase = async (
    check: Check,
    version: SpecVersion,
    view = {list: base, role, subject},
  ): Promise<{outcome: CheckOutcome; server?: ServerReport}> => {
    if (unsupported) return {outcome: skip(unsupported)}
    let outcome: CheckOutcome
    let server: ServerReport | undefined
    let env: CaseEnv | undefined
    try {
      env = await CaseEnv.create({
        cniPath,
        subject: view.subject,
        confPath: opts.conf,
        host: opts.host,
        list: listAt(view.list, version),
        role: view.role,
        served: opts.served,
        spyDir,
        timeoutMs,
        version,
      })
      outcome = await check.run(env)
      pluginTimeMs += env.invocations.reduce((sum, o) => sum + o.invocation.durationMs, 0)
      server = await env.stopServer()
      if (server?.problem) outcome = withServerProblem(outcome, server.problem, env)
    } catch (error) {
      // A sandbox the machine can't make (an unusable TMPDIR, a missing program) says nothing of the
      // plugin: the run stops with the machine's error (exit 3) instead of failing every check.
      if (env === undefined && error instanceof EnvironmentError) throw error
      outcome = {
        evidence: env?.evidence(),
        message: `the check could not run: ${(error as Error).message}`,
        severity: 'must',
        status: 'violation',
      }
    } finally {
      await env?.dispose().catch(() => {})
    }
    return {outcome, server}
  }
  await pool(cases, opts.parallel, async ({check, version}) => {
    const t0 = performance.now()
    events.emit('check:start', {id: check.id, title: check.title, version: check.perVersion ? version : null})
    const ran = await runCase(check, version)
    const server = ran.server
    let outcome = ran.outcome
    // A check may find that the fault is another plugin's of the list; one before the plugin under test is context.
    const about = outcome.status === 'violation' ? (outcome.pluginIndex ?? subject) : subject
    const known = departureFoundBy(base.plugins[about]!.type, check.id, version)
    if (known && outcome.status === 'violation' && !outcome.upstreamDeparture)
      outcome = {...outcome, message: `${outcome.message} (known: ${known.what})`, upstreamDeparture: true}
    const decided = decide(check, outcome, opts.profile, opts.strict)
    const result: CheckResult = {
      ...decided,
      durationMs: Math.round(performance.now() - t0),
      evidence: 'evidence' in outcome ? outcome.evidence : undefined,
      id: check.id,
      message: capText(outcome.message ?? '', MAX_MESSAGE),
      plugin: base.plugins[about]!.type,
      ...(about < subject ? {context: true} : {}),
      requirements: check.requirements,
      ...(server ? {server: {pid: server.pid, served: server.served}} : {}),
      spec: check.spec,
      title: check.title,
      version: check.perVersion ? version : null,
    }
    results.push(result)
    events.emit('check:end', result)
  })
  // Chained: a finding that shows with the plugins before the one under test alone (the same check,
  // at the same version, on the list without it) is about them, and is reported apart.
  const context = role === 'chained' && subject > 0 ? contextView(base, subject) : undefined
  if (context) {
    const suspects = results.filter((r) => {
      const check = checks.find((c) => c.id === r.id)!
      return (
        (r.status === 'fail' || r.status === 'warn') &&
        !r.context &&
        !check.judgesSubjectOnly &&
        check.roles.includes('interface')
      )
    })
    await pool(suspects, opts.parallel, async (r) => {
      const check = checks.find((c) => c.id === r.id)!
      const again = (await runCase(check, (r.version ?? highest) as SpecVersion, context)).outcome
      if (again.status === 'violation') Object.assign(r, {context: true, plugin: context.plugin})
    })
  }
  const again: ReproduceRun = {
    cniPath: opts.cniPath,
    conf: opts.conf,
    contextInConf: loaded.plugins.length > 1,
    highest,
    host: opts.host,
    profile: opts.profile,
    role,
    served: opts.served ?? false,
    strict: opts.strict,
    ...(base === loaded || role !== 'chained' ? {} : {suiteChain: {cniPath, conf: JSON.stringify(base.raw)}}),
    timeoutSeconds: opts.timeoutSeconds,
  }
  for (const r of results)
    if (r.status === 'fail' || r.status === 'warn') r.evidence = {...r.evidence, reproduce: reproduceLine(again, r)}
  const order = new Map(cases.map((c, i) => [`${c.check.id}@${c.version}`, i]))
  results.sort(
    (a, b) =>
      (order.get(`${a.id}@${a.version ?? highest}`) ?? cases.length) -
      (order.get(`${b.id}@${b.version ?? highest}`) ?? cases.length),
  )
  const tally = (rs: CheckResult[]) => {
    const count = (s: CheckResult['status']) => rs.filter((r) => r.status === s).length
    return {failed: count('fail'), passed: count('pass'), skipped: count('skip'), warned: count('warn')}
  }
  const aboutContext = results.filter((r) => r.context)
  const report: ConformanceReport = {
    checks: results,
    conf: opts.conf,
    durationMs: Math.round(performance.now() - started),
    pluginTimeMs: Math.round(pluginTimeMs),
    plugins: plugins.map(({versionFailure: _f, ...p}) => p),
    profile: opts.profile,
    role,
    ...(opts.served ? {served: true} : {}),
    strict: opts.strict,
    summary: tally(results.filter((r) => !r.context)),
    ...(context && aboutContext.length
      ? {context: {plugins: context.list.plugins.map((p) => p.type), summary: tally(aboutContext)}}
      : {}),
    versions,
  }
  events.emit('done', report)
  return report
}
