import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {resolve} from 'node:path'

import {UsageError} from '../core/errors.js'
import {shellWord} from '../core/quote.js'
import {oneLine} from '../core/text.js'
import {
  createNetns,
  ip,
  ipJson,
  isNetnsFile,
  type Marker,
  markerState,
  NETNS_PREFIX,
  netnsPath,
  newRunId,
  onCleanup,
  ownMarker,
  readMarker,
  readMarkers,
  releaseMarker,
  requireEnvironment,
  Sandbox,
  writeMarker,
} from '../netns/index.js'
import {parseCapArgs, parseCniArgs} from '../runtime/args.js'
import {DEFAULT_CACHE_DIR} from '../runtime/cache.js'
import {DEFAULT_CNI_PATH} from '../runtime/find.js'
import {
  DEFAULT_NETCONFPATH,
  loadConfByName,
  loadConfFile,
  validateAttachment,
  parseNetConf,
  selectVersion,
} from '../runtime/conf.js'
import {type Invocation, invokePlugin, type PluginOutcome} from '../runtime/invoke.js'
import {
  addNetworkList,
  checkNetworkList,
  delNetworkList,
  gcNetworkList,
  type ListOutcome,
  resolvePlugins,
  type PluginProblem,
  type PluginVersionInfo,
  type RuntimeContext,
  statusNetworkList,
  versionNetworkList,
} from '../runtime/ops.js'
import type {Attachment, JsonObject, NetConfList, RuntimeConf, Verb} from '../runtime/types.js'

/** Options of `cnidbg exec <verb>`; the fields match the flags, so commands only copy them. */
export interface ExecOptions {
  network?: string
  conf?: string
  /** The config text when --conf - (read from stdin by the command). */
  confText?: string
  netns?: string
  cniPath: string[]
  netconfPath?: string
  ifname: string
  containerId?: string
  args?: string
  capArgs?: string
  cacheDir?: string
  timeoutSeconds: number
  /** add: create a sandboxed host; check/del: the sandbox id ('' = find it from the netns). */
  sandbox?: boolean | string
  rm?: boolean
  rollback?: boolean
  valid?: string[]
  onInvocation?: (o: PluginOutcome) => void
}

export interface AttachmentInfo {
  network: string
  containerId: string
  netns: string
  ifname: string
  cacheDir: string
  sandbox?: string
}

export interface ExecResult {
  verb: string
  ok: boolean
  cniVersion: string
  attachment?: AttachmentInfo
  result?: JsonObject
  failure?: string
  error?: ListOutcome['error']
  skipped?: string
  problems: PluginProblem[]
  invocations: Invocation[]
  rolledBack?: boolean
  removed?: boolean
  deleted?: Attachment[]
  plugins?: PluginVersionInfo[]
  /** The command that undoes or inspects this (printed for people, kept for scripts). */
  next?: string[]
}

// cnitool derives the container ID from a hash of the netns path; we do the same, with our prefix.
export function deriveContainerId(netns: string): string {
  return 'cnidbg-' + createHash('sha512').update(resolve(netns)).digest('hex').slice(0, 20)
}

function loadList(opts: ExecOptions): NetConfList {
  if (opts.conf === '-') return parseNetConf(opts.confText ?? '', '<stdin>')
  if (opts.conf) return loadConfFile(opts.conf)
  if (!opts.network)
    throw new UsageError('Name a network, or pass --conf FILE.', {
      code: 'MISSING_NETWORK',
      suggestions: [
        'cnidbg exec add mynet /run/netns/x',
        'cnidbg exec add --conf ./10-bridge.conflist --netns auto --rm',
      ],
    })
  return loadConfByName(opts.netconfPath ?? DEFAULT_NETCONFPATH, opts.network)
}

function resolveNetnsPath(netns: string): string {
  const path = netns.includes('/') ? netns : netnsPath(netns)
  if (!existsSync(path))
    throw new UsageError(`Network namespace ${path} does not exist.`, {
      code: 'NETNS_NOT_FOUND',
      suggestions: [
        `Create it: ip netns add ${netns.includes('/') ? 'NAME' : netns}`,
        'Or let cnidbg make a throwaway one: --netns auto (add) / add --rm',
      ],
    })
  // A network namespace, mounted under /run/netns or reached through /proc/PID/ns/net; not a plain file
  // nor another kind of namespace (/proc/PID/ns/uts). Checked before any plugin runs: bridge, for one, makes
  // its bridge on this node before it opens CNI_NETNS, and leaves it there when that open fails.
  if (!isNetnsFile(path))
    throw new UsageError(`${path} is not a network namespace.`, {
      code: 'NETNS_NOT_FOUND',
      suggestions: [
        'Give a namespace `ip netns add` made (a name, or /run/netns/NAME), or /proc/PID/ns/net.',
        'Or let cnidbg make a throwaway one: --netns auto (add) / add --rm',
      ],
    })
  return path
}

/** The sandbox that owns a `cnidbg-<id>-…` namespace, if any. */
function sandboxOfNetns(path: string): Sandbox | undefined {
  const m = /\/cnidbg-([0-9a-f]{6})-/.exec(path)
  return m ? Sandbox.open(m[1] as string) : undefined
}

function summarize(
  out: ListOutcome,
): Pick<ExecResult, 'cniVersion' | 'error' | 'failure' | 'invocations' | 'ok' | 'problems' | 'result' | 'skipped'> {
  return {
    cniVersion: out.cniVersion,
    error: out.error,
    failure: out.failure,
    invocations: out.outcomes.map((o) => o.invocation),
    ok: out.ok,
    problems: out.problems,
    result: out.result,
    skipped: out.skipped,
  }
}

function context(opts: ExecOptions, cacheDir: string, sb?: Sandbox): RuntimeContext {
  return {
    cacheDir,
    cniPath: opts.cniPath,
    executor: sb ? sb.run.bind(sb) : undefined,
    onInvocation: opts.onInvocation,
    timeoutMs: opts.timeoutSeconds * 1000,
  }
}

function runtimeConf(opts: ExecOptions, netns: string): RuntimeConf {
  const containerId = opts.containerId ?? deriveContainerId(netns || 'no-netns')
  validateAttachment(containerId, opts.ifname)
  return {
    args: parseCniArgs(opts.args),
    capabilityArgs: parseCapArgs(opts.capArgs),
    containerId,
    ifname: opts.ifname,
    netns,
  }
}

/** `exec add`: optional sandbox and throwaway netns, ADD through the chain, rollback DEL on failure, --rm. */
export async function execAdd(opts: ExecOptions): Promise<ExecResult> {
  const list = loadList(opts)
  requireEnvironment()
  const autoNetns = !opts.netns || opts.netns === 'auto'
  if (autoNetns && !opts.rm && !opts.sandbox && opts.netns !== 'auto')
    throw new UsageError('Give a netns path, or --netns auto (a throwaway one), or --rm.', {
      code: 'MISSING_NETNS',
      suggestions: ['cnidbg exec add mynet /run/netns/pod1', 'cnidbg exec add mynet --netns auto --sandbox'],
    })
  resolvePlugins(list, opts.cniPath) // a missing plugin fails before anything is created
  // Everything made here is an ordinary run resource (removed on Ctrl-C, reaped after a SIGKILL)
  // until the ADD has worked; only then does `--sandbox` / `--netns auto` keep it for the del.
  const sb =
    opts.sandbox || opts.rm
      ? await Sandbox.create({label: opts.rm ? 'exec add --rm' : 'exec add --sandbox'})
      : undefined
  let ownNetns: Marker | undefined
  let unregisterNetns = () => {}
  let releaseNetns: () => Promise<unknown> = async () => {}
  let keep = false
  try {
    let netns: string
    if (!autoNetns) netns = resolveNetnsPath(opts.netns as string)
    else if (sb) netns = (await sb.addNetns('ctr')).path
    else {
      const id = newRunId()
      const m = ownMarker(id, 'exec netns')
      m.netns.push(`${NETNS_PREFIX}${id}-ctr`)
      writeMarker(m)
      ownNetns = m
      // One removal, whether the finally below or a signal starts it: each waits for it to finish.
      let releasing: Promise<unknown> | undefined
      releaseNetns = () => (releasing ??= releaseMarker(m))
      unregisterNetns = onCleanup(`netns ${id}`, () => releaseNetns().then(() => {}))
      netns = (await createNetns(`${NETNS_PREFIX}${id}-ctr`)).path
    }
    const rt = runtimeConf(opts, netns)
    const cacheDir = opts.cacheDir ?? (sb ? sb.hostPath('/var/lib/cni') : DEFAULT_CACHE_DIR)
    const ctx = context(opts, cacheDir, sb)
    const attachment: AttachmentInfo = {
      cacheDir,
      containerId: rt.containerId,
      ifname: rt.ifname,
      netns,
      network: list.name,
      sandbox: sb && !opts.rm ? sb.id : undefined,
    }
    const out = await addNetworkList(list, rt, ctx)
    const result: ExecResult = {...summarize(out), attachment, verb: 'add'}
    if (!out.ok && opts.rollback !== false) {
      // SPEC §3 lifecycle / R26: a failed ADD is followed by DEL of the whole list, reverse order.
      const del = await delNetworkList(list, rt, ctx)
      result.invocations.push(...del.outcomes.map((o) => o.invocation))
      result.rolledBack = del.ok
    }
    if (opts.rm && out.ok) {
      const del = await delNetworkList(list, rt, ctx)
      result.invocations.push(...del.outcomes.map((o) => o.invocation))
      result.problems.push(...del.problems)
      if (!del.ok) {
        result.ok = false
        result.failure = `ADD worked but DEL failed: ${del.failure}`
      }
    }
    // Kept: a working attachment, or a failed one the user asked to inspect (--no-rollback).
    keep = !opts.rm && (out.ok || opts.rollback === false)
    if (keep) {
      sb?.keep()
      if (ownNetns) {
        Object.assign(ownNetns, {persistent: true, pid: null, pidStart: null})
        writeMarker(ownNetns)
      }
      result.next = ['check', 'del'].map((verb) => nextCommand(verb, opts, list, rt, sb))
    } else {
      // A sandbox is named only while it exists: a rolled-back --sandbox is gone.
      delete attachment.sandbox
      if (sb || ownNetns) result.removed = true
    }
    return result
  } finally {
    // Nothing of a failed or --rm run is kept, not even a --sandbox meant to outlive us. The signal
    // cleanup goes only once the removal is done: a signal meanwhile waits for it instead of exiting halfway.
    try {
      if (!keep) {
        await sb?.dispose()
        await releaseNetns()
      }
    } finally {
      unregisterNetns()
    }
  }
}

/**
 * The sandbox `--sandbox ID` names, or undefined without the flag. An id that names no sandbox is an
 * error: falling back to this host would run the plugins here, against this host's cache.
 */
function namedSandboxOf(opts: ExecOptions): Sandbox | undefined {
  if (typeof opts.sandbox !== 'string' || !opts.sandbox) return undefined
  const sb = Sandbox.open(opts.sandbox)
  if (!sb)
    throw new UsageError(`No sandbox ${opts.sandbox}.`, {
      code: 'SANDBOX_NOT_FOUND',
      suggestions: ['List them: cnidbg sandbox ls'],
    })
  return sb
}

/**
 * The `exec check` / `exec del` line for what `exec add` made: every flag that decides which plugins
 * run and which cache they read (a del without add's --cni-path could find another plugin of that
 * name), each word quoted for the shell.
 */
function nextCommand(verb: string, opts: ExecOptions, list: NetConfList, rt: RuntimeConf, sb?: Sandbox): string {
  const words = ['cnidbg', 'exec', verb]
  if (opts.conf) words.push('--conf', opts.conf)
  else {
    words.push(list.name)
    if (opts.netconfPath && opts.netconfPath !== DEFAULT_NETCONFPATH) words.push('--netconf-path', opts.netconfPath)
  }
  words.push(rt.netns, '--container-id', rt.containerId, '--ifname', rt.ifname)
  if (sb) words.push('--sandbox', sb.id)
  if (opts.cniPath.join(':') !== DEFAULT_CNI_PATH.join(':')) words.push('--cni-path', opts.cniPath.join(':'))
  if (opts.cacheDir) words.push('--cache-dir', opts.cacheDir)
  // DEL gets what ADD got (SPEC §2: the same parameters).
  if (opts.args) words.push('--args', opts.args)
  if (opts.capArgs) words.push('--cap-args', opts.capArgs)
  return words.map(shellWord).join(' ')
}

async function withAttachment(
  opts: ExecOptions,
  fn: (list: NetConfList, rt: RuntimeConf, ctx: RuntimeContext, sb?: Sandbox) => Promise<ExecResult>,
  gone: (list: NetConfList, runId: string) => ExecResult,
): Promise<ExecResult> {
  const list = loadList(opts)
  requireEnvironment()
  if (!opts.netns)
    throw new UsageError('Give the netns path of the attachment.', {
      code: 'MISSING_NETNS',
      suggestions: ['Use the path printed by exec add (also in its --json attachment.netns).'],
    })
  const netns = opts.netns.includes('/') ? opts.netns : netnsPath(opts.netns)
  const explicit = typeof opts.sandbox === 'string' && opts.sandbox
  const sb = explicit ? namedSandboxOf(opts) : sandboxOfNetns(netns)
  // A cnidbg run namespace without a marker went away with its sandbox (or an earlier del): its
  // plugins ran in that sandbox, so never fall back to running them on this host.
  const runId = explicit ? undefined : /\/cnidbg-([0-9a-f]{6})-[^/]+$/.exec(netns)?.[1]
  const owner = runId ? readMarker(runId) : sb?.marker
  if (runId && !owner) return gone(list, runId)
  // A run still under way (an `exec add --rm`, a conformance case) owns its namespaces and sandbox: a
  // del here would run its plugins there and then remove all of it, and stop its processes, under it.
  if (owner && markerState(owner) === 'live')
    throw new UsageError(
      `cnidbg run ${owner.id} is still running (pid ${owner.pid}: ${oneLine(owner.command)}); its namespaces are its own.`,
      {
        code: 'RUN_IN_PROGRESS',
        suggestions: [
          'Let it finish: it removes what it made.',
          `Or stop it (kill ${owner.pid}): it cleans up after itself.`,
        ],
      },
    )
  const rt = runtimeConf(opts, netns)
  const cacheDir = opts.cacheDir ?? (sb ? sb.hostPath('/var/lib/cni') : DEFAULT_CACHE_DIR)
  return fn(list, rt, context(opts, cacheDir, sb), sb)
}

function goneResult(verb: 'check' | 'del', list: NetConfList, runId: string): ExecResult {
  const why = `cnidbg run ${runId} and its namespaces are already gone`
  const base = {cniVersion: selectVersion(list), invocations: [], problems: [], verb}
  // SPEC §2 DEL: deleting what is gone succeeds; there is nothing left to CHECK.
  return verb === 'del'
    ? {...base, ok: true, skipped: `${why}: nothing to delete`}
    : {...base, failure: `${why}: nothing to check`, ok: false}
}

export function execCheck(opts: ExecOptions): Promise<ExecResult> {
  return withAttachment(
    opts,
    async (list, rt, ctx) => ({...summarize(await checkNetworkList(list, rt, ctx)), verb: 'check'}),
    (list, id) => goneResult('check', list, id),
  )
}

/** `exec del`: DEL in reverse; then removes the throwaway netns/sandbox that `add` made for it. */
export function execDel(opts: ExecOptions): Promise<ExecResult> {
  return withAttachment(
    opts,
    async (list, rt, ctx, sb) => {
      const out = await delNetworkList(list, rt, ctx)
      const result: ExecResult = {...summarize(out), verb: 'del'}
      if (out.ok) {
        if (sb) {
          await sb.dispose()
          result.removed = true
        } else {
          const owner = readMarkers().find((m) => m.netns.some((n) => netnsPath(n) === rt.netns))
          if (owner) {
            await releaseMarker(owner, {stopProcesses: true})
            result.removed = true
          }
        }
      }
      return result
    },
    (list, id) => goneResult('del', list, id),
  )
}

export async function execGc(opts: ExecOptions): Promise<ExecResult> {
  const list = loadList(opts)
  requireEnvironment()
  const valid: Attachment[] = (opts.valid ?? []).map((v) => {
    const [containerID, ifname] = v.split(':')
    if (!containerID || !ifname)
      throw new UsageError(`--valid "${v}" must be CONTAINER_ID:IFNAME.`, {code: 'INVALID_ATTACHMENT'})
    return {containerID, ifname}
  })
  const sb = namedSandboxOf(opts)
  const cacheDir = opts.cacheDir ?? (sb ? sb.hostPath('/var/lib/cni') : DEFAULT_CACHE_DIR)
  const out = await gcNetworkList(list, valid, context(opts, cacheDir, sb))
  return {...summarize(out), deleted: out.deleted, verb: 'gc'}
}

export async function execStatus(opts: ExecOptions): Promise<ExecResult> {
  const list = loadList(opts)
  const sb = namedSandboxOf(opts)
  return {
    ...summarize(await statusNetworkList(list, context(opts, opts.cacheDir ?? DEFAULT_CACHE_DIR, sb))),
    verb: 'status',
  }
}

export async function execVersion(opts: ExecOptions): Promise<ExecResult> {
  const list = loadList(opts)
  const v = await versionNetworkList(list, context(opts, opts.cacheDir ?? DEFAULT_CACHE_DIR))
  const bad = v.plugins.filter((p) => p.failure || !p.supportsConfigVersion)
  return {
    cniVersion: v.cniVersion,
    failure: bad.length
      ? bad
          .map((p) => (p.failure ? `${p.type}: ${p.failure}` : `${p.type} does not support ${v.cniVersion}`))
          .join('; ')
      : undefined,
    invocations: v.outcomes.map((o) => o.invocation),
    ok: bad.length === 0,
    plugins: v.plugins,
    problems: [],
    verb: 'version',
  }
}

/** Options of `cnidbg exec invoke`: one plugin call, exactly as given, in a named kept sandbox. */
export interface InvokeOptions {
  /** The plugin binary. */
  plugin: string
  /** The sandbox to run in: a sandbox id, or a name; a name not in use yet makes a new kept sandbox. */
  sandbox: string
  /** CNI_* variables as K=V; nothing else of this kind reaches the plugin. */
  env: string[]
  /** A container namespace of the sandbox (made when missing), given to the plugin as CNI_NETNS. */
  netns?: string
  /** The request, sent on stdin as is. */
  stdin: string
  timeoutSeconds: number
  /** Remove the sandbox after the call (the last line of a sequence). */
  rm?: boolean
  /** Host links the plugin expects (a macvlan master, a host-device device): a veth each, made when missing. */
  hostLinks?: string[]
}

const SANDBOX_NAME_RE = /^[a-z0-9][a-z0-9-]{0,39}$/
const INVOKE_LABEL = 'exec invoke '

/** The kept sandbox called `name` (an id, or the name it was made with), made when there is none. */
async function namedSandbox(name: string): Promise<Sandbox> {
  if (!SANDBOX_NAME_RE.test(name))
    throw new UsageError(`Sandbox name "${name}" is invalid: 1–40 characters of a-z, 0-9 and -.`, {
      code: 'INVALID_SANDBOX',
    })
  const found =
    Sandbox.open(name) ??
    readMarkers()
      .filter((m) => m.label === INVOKE_LABEL + name)
      .map((m) => Sandbox.open(m.id))
      .find((sb) => sb !== undefined)
  if (found) return found
  const sb = await Sandbox.create({label: INVOKE_LABEL + name})
  sb.keep()
  return sb
}

/**
 * `exec invoke`: runs one plugin once, with exactly the CNI_* variables and stdin given, from a
 * sandbox's host (never this host). The by-hand reproduce lines of `conformance` are made of these:
 * the first call makes the sandbox, the later ones find it by name, the last one removes it (--rm).
 */
export async function execInvoke(opts: InvokeOptions): Promise<ExecResult> {
  const env: Record<string, string | undefined> = {}
  for (const kv of opts.env) {
    const eq = kv.indexOf('=')
    if (eq < 1 || !kv.startsWith('CNI_'))
      throw new UsageError(`--env "${kv}" must be CNI_NAME=VALUE.`, {code: 'INVALID_ENV'})
    env[kv.slice(0, eq)] = kv.slice(eq + 1)
  }
  const verb = env.CNI_COMMAND as Verb | undefined
  if (!verb) throw new UsageError('Give the verb: --env CNI_COMMAND=ADD (or DEL, CHECK, …).', {code: 'INVALID_ENV'})
  if (opts.netns !== undefined && !/^[a-z0-9]{1,12}$/.test(opts.netns))
    throw new UsageError(`--netns "${opts.netns}" must be 1–12 characters of a-z and 0-9.`, {code: 'INVALID_NETNS'})
  if (!existsSync(opts.plugin)) throw new UsageError(`No plugin at ${opts.plugin}.`, {code: 'PLUGIN_NOT_FOUND'})
  requireEnvironment()
  // Only what was given: CNI_* variables of our own environment must not leak into the call.
  for (const k of Object.keys(process.env)) if (k.startsWith('CNI_') && !(k in env)) env[k] = undefined
  for (const l of opts.hostLinks ?? [])
    if (!/^[a-z0-9][a-z0-9-]{0,12}$/.test(l))
      throw new UsageError(`--host-link "${l}" must be 1–13 characters of a-z, 0-9 and -.`, {code: 'INVALID_LINK'})
  const sb = await namedSandbox(opts.sandbox)
  try {
    const links = await ipJson<Array<{ifname: string}>>(['link', 'show'], sb.host.name)
    for (const l of opts.hostLinks ?? []) {
      if (links.some((k) => k.ifname === l)) continue
      await ip(['link', 'add', l, 'type', 'veth', 'peer', 'name', `${l}p`], sb.host.name)
      await ip(['link', 'set', l, 'up'], sb.host.name)
      await ip(['link', 'set', `${l}p`, 'up'], sb.host.name)
    }
    if (opts.netns !== undefined) {
      const name = `${NETNS_PREFIX}${sb.id}-${opts.netns}`
      env.CNI_NETNS = existsSync(netnsPath(name)) ? netnsPath(name) : (await sb.addNetns(opts.netns)).path
    }
    const o = await invokePlugin({
      env: {},
      executor: sb.run.bind(sb),
      extraEnv: env,
      path: resolve(opts.plugin),
      request: opts.stdin,
      timeoutMs: opts.timeoutSeconds * 1000,
      verb,
    })
    const version = (o.value as {cniVersion?: unknown} | undefined)?.cniVersion
    return {
      cniVersion: typeof version === 'string' ? version : '',
      error: o.error,
      failure: o.failure,
      invocations: [o.invocation],
      ok: o.ok,
      problems: o.problems.map((p) => ({...p, plugin: o.invocation.plugin})),
      removed: opts.rm ? true : undefined,
      result: o.ok && o.value && typeof o.value === 'object' ? (o.value as JsonObject) : undefined,
      verb: 'invoke',
    }
  } finally {
    if (opts.rm) await sb.dispose()
  }
}
