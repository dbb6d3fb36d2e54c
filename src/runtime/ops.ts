import {formatCniArgs} from './args.js'
import {
  checkCacheName,
  encodeConfig,
  listCacheEntries,
  readCacheEntry,
  removeCacheEntry,
  writeCacheEntry,
} from './cache.js'
import {selectVersion} from './conf.js'
import {findPlugin} from './find.js'
import {describeError, type Executor, invokePlugin, type PluginOutcome} from './invoke.js'
import {valueText} from './json-output.js'
import {buildAttachmentRequest, buildGcRequest, buildPlainRequest} from './request.js'
import {convertResult} from './result.js'
import {resultProblems, type SpecProblem} from './spec-problems.js'
import type {Attachment, CniErrorObject, JsonObject, NetConfList, RuntimeConf, Verb} from './types.js'
import {CURRENT_VERSION, hasCheck, hasGc, hasPrevResultOnDel, hasStatus} from './versions.js'

/**
 * The runtime side of the spec for a whole network configuration list (SPEC §3; R20–R27):
 * ADD in order, DEL in reverse, CHECK, GC, STATUS and VERSION, with libcni's result cache.
 */

export interface RuntimeContext {
  cniPath: string[]
  executor?: Executor
  timeoutMs: number
  maxOutputBytes?: number
  cacheDir: string
  /** Called after every plugin execution (for --verbose). */
  onInvocation?: (o: PluginOutcome) => void
}

export interface PluginProblem extends SpecProblem {
  plugin: string
}

export interface ListOutcome {
  verb: Verb
  ok: boolean
  /** The version selected from the config (SPEC §1 "Version considerations"). */
  cniVersion: string
  /** ADD: the final result, in the config's version (what cnitool prints and libcni caches). */
  result?: JsonObject
  outcomes: PluginOutcome[]
  failure?: string
  failedPlugin?: string
  error?: CniErrorObject
  /** Why nothing ran (disableCheck, disableGC, a version without the verb). */
  skipped?: string
  problems: PluginProblem[]
  cacheFile?: string
}

/**
 * The CNI_* variables a runtime sets for one attachment (SPEC §2 Parameters); CNI_COMMAND is the
 * invoker's. The one builder: the runtime's operations and the conformance checks' hand-made calls
 * both use it.
 */
export function buildCniEnv(cniPath: readonly string[], rt?: RuntimeConf) {
  return {
    CNI_ARGS: rt ? formatCniArgs(rt.args) : '',
    CNI_CONTAINERID: rt?.containerId ?? '',
    CNI_IFNAME: rt?.ifname ?? '',
    CNI_NETNS: rt?.netns ?? '',
    CNI_PATH: cniPath.join(':'),
  }
}

/** Resolves every plugin binary up front, so a missing one fails before anything runs (R4, R7). */
export function resolvePlugins(list: NetConfList, cniPath: string[]): string[] {
  return list.plugins.map((p) => findPlugin(p.type, cniPath))
}

async function invoke(
  ctx: RuntimeContext,
  path: string,
  verb: Verb,
  request: JsonObject,
  rt?: RuntimeConf,
): Promise<PluginOutcome> {
  const outcome = await invokePlugin({
    env: buildCniEnv(ctx.cniPath, rt),
    executor: ctx.executor,
    maxOutputBytes: ctx.maxOutputBytes,
    path,
    request,
    timeoutMs: ctx.timeoutMs,
    verb,
  })
  ctx.onInvocation?.(outcome)
  return outcome
}

function newOutcome(verb: Verb, cniVersion: string): ListOutcome {
  return {cniVersion, ok: true, outcomes: [], problems: [], verb}
}

function fail(out: ListOutcome, o: PluginOutcome): ListOutcome {
  out.ok = false
  out.failure = o.failure
  out.failedPlugin = o.invocation.plugin
  out.error = o.error
  return out
}

function collect(out: ListOutcome, o: PluginOutcome, extra: SpecProblem[] = []): void {
  out.outcomes.push(o)
  for (const p of [...o.problems, ...extra]) out.problems.push({...p, plugin: o.invocation.plugin})
}

const isResultObject = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v)

/** SPEC §3 "Adding an attachment" (R20): in order, each gets the previous result; the final one is cached. */
export async function addNetworkList(list: NetConfList, rt: RuntimeConf, ctx: RuntimeContext): Promise<ListOutcome> {
  const version = selectVersion(list)
  const paths = resolvePlugins(list, ctx.cniPath)
  checkCacheName(list.name, rt.containerId, rt.ifname)
  const out = newOutcome('ADD', version)
  let prev: unknown
  for (const [i, plugin] of list.plugins.entries()) {
    const request = buildAttachmentRequest(plugin, {
      cniVersion: version,
      name: list.name,
      prevResult: i === 0 ? undefined : prev,
      rt,
    })
    const o = await invoke(ctx, paths[i] as string, 'ADD', request, rt)
    const printed = o.ok && isResultObject(o.value)
    collect(out, o, printed ? resultProblems(o.value, {netns: rt.netns, version}) : [])
    if (!o.ok) return fail(out, o)
    // P33 (framingProblems says it): exit 0 without a result is no success. libcni fails such an ADD (it
    // cannot decode a result from it), so the runtime rolls back; passing it on would cache a result
    // no plugin printed.
    if (!printed) return fail(out, {...o, failure: `${o.invocation.plugin} ADD exited 0 but printed no result object`})
    prev = o.value
  }
  const result = convertResult(prev, version)
  try {
    out.cacheFile = writeCacheEntry(ctx.cacheDir, {
      capabilityArgs: rt.capabilityArgs,
      cniArgs: rt.args,
      config: encodeConfig(list.bytes),
      containerId: rt.containerId,
      ifName: rt.ifname,
      kind: 'cniCacheV1',
      netns: rt.netns,
      networkName: list.name,
      result,
    })
  } catch (error) {
    // As libcni's AddNetworkList ("failed to set network … cached result"): an ADD whose result cannot
    // be cached failed, and is rolled back like any other; a later CHECK or DEL would not find it.
    out.ok = false
    out.failure = `the plugins' ADD worked, but caching the result failed: ${(error as Error).message}`
    return out
  }
  out.result = result
  return out
}

/** The cached ADD result for an attachment, converted to `version` (R19), if there is one. */
export function cachedResult(
  list: NetConfList,
  rt: RuntimeConf,
  ctx: RuntimeContext,
  version: string,
): JsonObject | undefined {
  const cached = readCacheEntry(ctx.cacheDir, list.name, rt.containerId, rt.ifname)
  return cached?.entry.result ? convertResult(cached.entry.result, version) : undefined
}

/** SPEC §3 "Deleting an attachment" (R21): reverse order, prevResult = the cached ADD result; cache removed on success. */
export async function delNetworkList(list: NetConfList, rt: RuntimeConf, ctx: RuntimeContext): Promise<ListOutcome> {
  const version = selectVersion(list)
  const paths = resolvePlugins(list, ctx.cniPath)
  const out = newOutcome('DEL', version)
  const prev = hasPrevResultOnDel(version) ? cachedResult(list, rt, ctx, version) : undefined
  for (let i = list.plugins.length - 1; i >= 0; i--) {
    const request = buildAttachmentRequest(list.plugins[i]!, {
      cniVersion: version,
      name: list.name,
      prevResult: prev,
      rt,
    })
    const o = await invoke(ctx, paths[i] as string, 'DEL', request, rt)
    collect(out, o)
    if (!o.ok) return fail(out, o)
  }
  try {
    removeCacheEntry(ctx.cacheDir, list.name, rt.containerId, rt.ifname)
  } catch {
    // libcni's DelNetworkList ignores this too (`_ = c.cacheDel(…)`): the plugins' DEL worked, and an
    // entry left behind is DELeted again by GC.
  }
  return out
}

/** SPEC §3 "Checking an attachment" (R22). */
export async function checkNetworkList(list: NetConfList, rt: RuntimeConf, ctx: RuntimeContext): Promise<ListOutcome> {
  const version = selectVersion(list)
  const out = newOutcome('CHECK', version)
  if (list.disableCheck)
    return {...out, skipped: 'disableCheck is set in the config: CHECK succeeds without calling any plugin'}
  if (!hasCheck(version))
    return {...out, failure: `CHECK is not defined for cniVersion ${version} (needs 0.4.0 or later)`, ok: false}
  const paths = resolvePlugins(list, ctx.cniPath)
  const prev = cachedResult(list, rt, ctx, version)
  if (!prev)
    return {
      ...out,
      failure: `no cached ADD result for ${list.name}/${rt.containerId}/${rt.ifname} in ${ctx.cacheDir}; CHECK needs the result of a previous ADD`,
      ok: false,
    }
  for (const [i, plugin] of list.plugins.entries()) {
    const o = await invoke(
      ctx,
      paths[i] as string,
      'CHECK',
      buildAttachmentRequest(plugin, {cniVersion: version, name: list.name, prevResult: prev, rt}),
      rt,
    )
    collect(out, o)
    if (!o.ok) return fail(out, o)
  }
  return out
}

export interface GcOutcome extends ListOutcome {
  /** Cached attachments that were not valid and got a DEL first (libcni GCNetworkList). */
  deleted: Attachment[]
  /** Every error: GC keeps going (SPEC §3 GC, R23). */
  errors: string[]
}

/** SPEC §3 "Garbage-collecting a network" (R23), as libcni does it: DEL stale cached attachments, then GC each plugin. */
export async function gcNetworkList(list: NetConfList, valid: Attachment[], ctx: RuntimeContext): Promise<GcOutcome> {
  const version = selectVersion(list)
  const out: GcOutcome = {...newOutcome('GC', version), deleted: [], errors: []}
  if (list.disableGC)
    return {...out, skipped: 'disableGC is set in the config: this network must not be garbage-collected'}
  const paths = resolvePlugins(list, ctx.cniPath)
  const isValid = (cid: string, ifname: string) => valid.some((v) => v.containerID === cid && v.ifname === ifname)
  for (const cached of listCacheEntries(ctx.cacheDir, list.name)) {
    const {containerId, ifName} = cached.entry
    if (isValid(containerId, ifName)) continue
    const rt: RuntimeConf = {
      args: cached.entry.cniArgs ?? [],
      capabilityArgs: cached.entry.capabilityArgs ?? {},
      containerId,
      ifname: ifName,
      netns: cached.entry.netns ?? '',
    }
    const del = await delNetworkList(list, rt, ctx)
    out.outcomes.push(...del.outcomes)
    out.problems.push(...del.problems)
    if (del.ok) out.deleted.push({containerID: containerId, ifname: ifName})
    else out.errors.push(`DEL ${containerId}/${ifName}: ${del.failure}`)
  }
  if (hasGc(version)) {
    for (const [i, plugin] of list.plugins.entries()) {
      const o = await invoke(
        ctx,
        paths[i] as string,
        'GC',
        buildGcRequest(plugin, {cniVersion: version, name: list.name, valid}),
      )
      collect(out, o)
      if (!o.ok) out.errors.push(o.failure ?? `${plugin.type} GC failed`)
    }
  } else out.skipped = `cniVersion ${version} has no GC verb; only stale cached attachments were deleted`
  if (out.errors.length > 0) {
    out.ok = false
    out.failure = out.errors.join('; ')
  }
  return out
}

/** SPEC §2 STATUS (R24): success for configs below 1.1.0; otherwise each plugin, stopping at the first error. */
export async function statusNetworkList(list: NetConfList, ctx: RuntimeContext): Promise<ListOutcome> {
  const version = selectVersion(list)
  const out = newOutcome('STATUS', version)
  if (!hasStatus(version)) return {...out, skipped: `cniVersion ${version} has no STATUS verb; libcni reports success`}
  const paths = resolvePlugins(list, ctx.cniPath)
  for (const [i, plugin] of list.plugins.entries()) {
    const o = await invoke(
      ctx,
      paths[i] as string,
      'STATUS',
      buildPlainRequest(plugin, {cniVersion: version, name: list.name}),
    )
    collect(out, o)
    if (!o.ok) return fail(out, o)
  }
  return out
}

export interface PluginVersionInfo {
  type: string
  path: string
  cniVersion?: string
  supportedVersions: string[]
  supportsConfigVersion: boolean
  failure?: string
}

/** VERSION for every plugin in the list (R34): stdin {"cniVersion": current}, dummy container variables. */
export async function versionNetworkList(
  list: NetConfList,
  ctx: RuntimeContext,
): Promise<{cniVersion: string; plugins: PluginVersionInfo[]; outcomes: PluginOutcome[]}> {
  const version = selectVersion(list)
  const outcomes: PluginOutcome[] = []
  const plugins: PluginVersionInfo[] = []
  for (const plugin of list.plugins) {
    const path = findPlugin(plugin.type, ctx.cniPath)
    const o = await invokePlugin({
      env: {
        CNI_CONTAINERID: 'cnidbg-version-probe',
        CNI_IFNAME: 'dummy',
        CNI_NETNS: 'dummy',
        CNI_PATH: ctx.cniPath.join(':'),
      },
      executor: ctx.executor,
      path,
      request: {cniVersion: CURRENT_VERSION},
      timeoutMs: ctx.timeoutMs,
      verb: 'VERSION',
    })
    ctx.onInvocation?.(o)
    outcomes.push(o)
    const v = (o.value ?? {}) as {cniVersion?: string; supportedVersions?: unknown}
    // R34: a plugin that predates VERSION answers "unknown CNI_COMMAND: VERSION" and speaks only 0.1.0.
    const legacy = !o.ok && o.error?.msg === 'unknown CNI_COMMAND: VERSION'
    const supported = legacy
      ? ['0.1.0']
      : Array.isArray(v.supportedVersions)
        ? v.supportedVersions.map(valueText)
        : v.cniVersion === '0.2.0'
          ? ['0.1.0', '0.2.0']
          : []
    plugins.push({
      cniVersion: v.cniVersion,
      failure: o.ok || legacy ? undefined : (o.failure ?? (o.error ? describeError(o.error) : undefined)),
      path,
      supportedVersions: supported,
      supportsConfigVersion: supported.includes(version),
      type: plugin.type,
    })
  }
  return {cniVersion: version, outcomes, plugins}
}
