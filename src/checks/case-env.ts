import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'
import {basename, resolve} from 'node:path'

import {shellQuote, shellWord} from '../core/quote.js'
import {capText} from '../core/text.js'
import {DhcpNet} from './dhcp-net.js'
import {CaseServer, type ServerReport} from './plugin-server.js'
import type {Evidence, PluginRole} from './types.js'
import {
  deleteNetns,
  diffLines,
  ip,
  ipJson,
  type Netns,
  requireEnvironment,
  run,
  runInNetns,
  Sandbox,
  snapshotDir,
  snapshotNetnsPath,
} from '../netns/index.js'
import type {CniEnv, Executor, PluginOutcome} from '../runtime/invoke.js'
import {findPlugin} from '../runtime/find.js'
import {invokePlugin} from '../runtime/invoke.js'
import {
  addNetworkList,
  buildCniEnv,
  checkNetworkList,
  delNetworkList,
  gcNetworkList,
  type GcOutcome,
  type ListOutcome,
  resolvePlugins,
  type RuntimeContext,
  statusNetworkList,
} from '../runtime/ops.js'
import {buildAttachmentRequest} from '../runtime/request.js'
import type {Attachment, JsonObject, NetConfList, RuntimeConf, Verb} from '../runtime/types.js'

export interface CaseSetup {
  version: string
  role: PluginRole
  /** The config under test at this version (cniVersion set, cniVersions dropped). */
  list: NetConfList
  /** The config file as the user gave it (for reproduce lines). */
  confPath: string
  cniPath: string[]
  timeoutMs: number
  /** Run plugins in the real host namespace instead of a sandbox (--host). */
  host: boolean
  /** Extra plugin dir (spy plugins), searched after the user's dirs. */
  spyDir?: string
  /** Index of the plugin under test in the list (chained role: after the upstream that makes the interface). */
  subject: number
  /** cnidbg-ref's served mode: the case's sandbox host runs its own plugin server (plugin-server.ts). */
  served?: boolean
}

/** The largest single argument Linux passes to a program (MAX_ARG_STRLEN, 32 pages of 4 KiB). */
const MAX_ARG_BYTES = 128 * 1024
/** The diff lines evidence keeps: a result with 100,000 addresses makes as many lines. */
const MAX_DIFF_LINES = 100
const capLines = (lines: string[]): string[] =>
  lines.length > MAX_DIFF_LINES
    ? [...lines.slice(0, MAX_DIFF_LINES), `…[${lines.length - MAX_DIFF_LINES} more lines cut]`]
    : lines

/**
 * Everything one conformance case needs, over its own sandboxed host and container namespaces
 * (so cases never interfere and can run in parallel), plus the invocation log for evidence.
 */
export class CaseEnv {
  readonly invocations: PluginOutcome[] = []
  private readonly owned: Netns[] = []
  /** Namespaces the case removed (by path), with the number of plugin calls made before. */
  private readonly gone = new Map<string, number>()
  private dhcp?: DhcpNet
  private server?: CaseServer

  private constructor(
    readonly setup: CaseSetup,
    readonly sb: Sandbox,
  ) {}

  get version(): string {
    return this.setup.version
  }

  get role(): PluginRole {
    return this.setup.role
  }

  get list(): NetConfList {
    return this.setup.list
  }

  get cniPath(): string[] {
    return this.setup.spyDir ? [...this.setup.cniPath, this.setup.spyDir] : this.setup.cniPath
  }

  get executor(): Executor | undefined {
    return this.setup.host ? undefined : this.sb.run.bind(this.sb)
  }

  /**
   * Where plugin state lives for this case: the sandbox's private /var/lib/cni, or with --host, where
   * the plugins run on this host, the host's own.
   */
  get stateDir(): string {
    return this.statePath('/var/lib/cni')
  }

  /** A state dir (/var/lib/cni, /run/cni) as the case's plugins see it: the sandbox's, or the host's with --host. */
  statePath(dir: '/var/lib/cni' | '/run/cni'): string {
    return this.setup.host ? dir : this.sb.hostPath(dir)
  }

  get ctx(): RuntimeContext {
    return {
      cacheDir: `${this.sb.root}/cache`,
      cniPath: this.cniPath,
      executor: this.executor,
      onInvocation: (o) => this.invocations.push(o),
      timeoutMs: this.setup.timeoutMs,
    }
  }

  static async create(setup: CaseSetup): Promise<CaseEnv> {
    const env = new CaseEnv(setup, await Sandbox.create({label: 'conformance'}))
    try {
      await env.provideMasters()
      await env.provideDhcp()
      if (setup.served) env.server = await CaseServer.start(env.sb, env.pluginPath())
    } catch (error) {
      await env.dispose()
      throw error
    }
    return env
  }

  /**
   * macvlan/ipvlan/vlan configs name a host `master` link, host-device a `device` to move into the
   * container. The sandbox host starts empty, so the suite gives it each one: a veth (this kernel
   * has no dummy), both ends up.
   */
  private async provideMasters(): Promise<void> {
    if (this.setup.host) return
    for (const m of this.hostLinks) {
      const peer = `${m.slice(0, 13)}p`
      await ip(['link', 'add', m, 'type', 'veth', 'peer', 'name', peer], this.sb.host.name)
      await ip(['link', 'set', m, 'up'], this.sb.host.name)
      await ip(['link', 'set', peer, 'up'], this.sb.host.name)
    }
  }

  /** The host links the config names and the suite makes: macvlan/ipvlan/vlan `master`, host-device `device`. */
  private get hostLinks(): string[] {
    return [
      ...new Set(
        this.list.plugins
          .flatMap((p) => [p.master, p.type === 'host-device' ? p.device : undefined])
          .filter((m): m is string => typeof m === 'string' && m !== ''),
      ),
    ]
  }

  /**
   * The dhcp IPAM plugin needs its daemon and a DHCP server to get a lease from: the suite starts
   * both in the sandbox host (DhcpNet). In the IPAM role every container namespace gets the interface
   * dhcp asks a lease on; behind a macvlan/ipvlan master, the master's peer joins the server's bridge.
   */
  private async provideDhcp(): Promise<void> {
    if (this.setup.host) return
    const uses = this.list.plugins.some(
      (p) => (p.ipam as {type?: string} | undefined)?.type === 'dhcp' || (this.role === 'ipam' && p.type === 'dhcp'),
    )
    if (!uses) return
    requireEnvironment(['dnsmasq'])
    this.dhcp = await DhcpNet.start(this.sb, findPlugin('dhcp', this.cniPath))
    for (const p of this.list.plugins)
      if (typeof p.master === 'string' && p.master !== '') await this.dhcp.join(`${p.master.slice(0, 13)}p`)
  }

  /**
   * Served mode: stops the case's plugin server and says what it did (undefined otherwise). Called once
   * the check is done, so a server that died during the case is known (its calls fell back to standalone).
   */
  async stopServer(): Promise<ServerReport | undefined> {
    const server = this.server
    this.server = undefined
    return server?.stop()
  }

  async dispose(): Promise<void> {
    await this.stopServer()
    await this.dhcp?.stop()
    // A plugin given the path of a namespace the case removed may make a file there (Debian's sbr
    // takes a lock on it); the name is this case's, so it goes too.
    for (const path of this.gone.keys()) if (existsSync(path)) await deleteNetns(basename(path)).catch(() => {})
    await this.sb.dispose()
  }

  /**
   * A fresh container namespace for this case. Runtimes that use the loopback plugin hand it a
   * namespace whose `lo` is still down (bringing it up is that plugin's whole job), so for the
   * loopback role `lo` goes down again; the kernel keeps 127.0.0.1 on it, as after any DEL.
   */
  async netns(role = 'c'): Promise<Netns> {
    const ns = await this.sb.addNetns(`${role}${this.owned.length}`)
    this.owned.push(ns)
    if (this.role === 'loopback') await ip(['link', 'set', 'lo', 'down'], ns.name)
    // dhcp asks its lease on CNI_IFNAME in the container: as the IPAM under test, that link is the suite's.
    if (this.dhcp && this.role === 'ipam') await this.dhcp.attach(ns)
    return ns
  }

  /**
   * Why the config can have only one attachment at a time, or undefined: host-device moves the one
   * host device its config names into the container, so a second ADD has nothing to move. Checks
   * that need two attachments at once skip for such a config (or do without the second).
   */
  get singleAttachment(): string | undefined {
    const p = this.list.plugins[this.setup.subject]!
    if (p.type === 'host-device' && typeof p.device === 'string')
      return `the config names one host device (${p.device}), which one attachment at a time moves into its container`
    return undefined
  }

  /**
   * A first attachment, made before a leak check looks at a second one: it creates the long-lived
   * shared objects a plugin rightly keeps (a bridge, iptables chains, host-local's last_reserved_ip),
   * which are not leaks (P71). A config with one attachment at a time (host-device) keeps them but
   * frees the device: that one is DELeted at once. Returns why its ADD failed, or what removes it
   * after the check (nothing, when it is gone already).
   */
  async warmAttachment(): Promise<{failure: string} | {done: () => Promise<unknown>}> {
    const warm = this.rt(await this.netns())
    const first = await this.add(warm)
    if (!first.ok) return {failure: first.failure ?? 'ADD failed'}
    if (this.singleAttachment === undefined) return {done: () => this.del(warm)}
    await this.del(warm)
    return {done: async () => undefined}
  }

  /** The `type` of the plugin under test. */
  get subjectType(): string {
    return this.list.plugins[this.setup.subject]!.type
  }

  /** The container interface an attachment is about: CNI_IFNAME, except for loopback, which always configures `lo`. */
  ifnameOf(rt: RuntimeConf): string {
    return this.role === 'loopback' ? 'lo' : rt.ifname
  }

  /** Attachment parameters with a unique container ID. */
  rt(netns: Netns | string, over: Partial<RuntimeConf> = {}): RuntimeConf {
    return {
      args: [],
      capabilityArgs: {},
      containerId: `cnidbg-${randomBytes(4).toString('hex')}`,
      ifname: 'eth0',
      netns: typeof netns === 'string' ? netns : netns.path,
      ...over,
    }
  }

  withList(mutate: (l: NetConfList) => void): NetConfList {
    const copy = structuredClone(this.list)
    mutate(copy)
    copy.bytes = JSON.stringify(copy.raw)
    return copy
  }

  add(rt: RuntimeConf, list = this.list): Promise<ListOutcome> {
    return addNetworkList(list, rt, this.ctx)
  }

  del(rt: RuntimeConf, list = this.list): Promise<ListOutcome> {
    return delNetworkList(list, rt, this.ctx)
  }

  /**
   * CHECK of the list. `disableCheck` tells a runtime not to call the plugins at all, so a check that
   * judges the plugin's CHECK runs the list without it: with it, CHECK "passes" untested.
   */
  check(rt: RuntimeConf, list = this.list): Promise<ListOutcome> {
    return checkNetworkList({...list, disableCheck: false}, rt, this.ctx)
  }

  /** GC of the list, without `disableGC` (which, like disableCheck, would keep the plugins from running). */
  gc(valid: Attachment[], list = this.list): Promise<GcOutcome> {
    return gcNetworkList({...list, disableGC: false}, valid, this.ctx)
  }

  status(list = this.list): Promise<ListOutcome> {
    return statusNetworkList(list, this.ctx)
  }

  /** The path of the plugin under test. */
  pluginPath(index = this.setup.subject, list = this.list): string {
    return resolvePlugins(list, this.cniPath)[index] as string
  }

  /**
   * What a chained plugin under test needs before it can be run on its own: the plugins before it in
   * the list ADDed for `rt`, and their result as its prevResult (a chained plugin without one rightly
   * fails). Nothing for other roles. `undo` DELs them again.
   */
  async upstream(rt: RuntimeConf): Promise<{prevResult?: unknown; undo: () => Promise<void>}> {
    if (this.setup.subject === 0) return {undo: async () => {}}
    const before = this.withList((l) => {
      l.plugins = l.plugins.slice(0, this.setup.subject)
      if (Array.isArray(l.raw.plugins)) l.raw.plugins = l.raw.plugins.slice(0, this.setup.subject)
    })
    const add = await this.add(rt, before)
    return {
      prevResult: add.ok ? add.result : undefined,
      undo: async () => {
        await this.del(rt, before)
      },
    }
  }

  /** The request the runtime would send plugin `index` for an attachment verb. */
  request(rt: RuntimeConf, opts: {prevResult?: unknown; index?: number; list?: NetConfList} = {}): JsonObject {
    const list = opts.list ?? this.list
    return buildAttachmentRequest(list.plugins[opts.index ?? this.setup.subject]!, {
      cniVersion: this.version,
      name: list.name,
      prevResult: opts.prevResult,
      rt,
    })
  }

  /** Runs one plugin directly with a hand-made request or environment (malformed input, missing variables). */
  async raw(opts: {
    verb: Verb
    request: JsonObject | string
    rt?: RuntimeConf
    env?: Partial<CniEnv>
    extraEnv?: Record<string, string | undefined>
    minimalEnv?: boolean
    path?: string
    timeoutMs?: number
  }): Promise<PluginOutcome> {
    const env: Partial<CniEnv> = {...buildCniEnv(this.cniPath, opts.rt), ...opts.env}
    const o = await invokePlugin({
      env,
      executor: this.executor,
      extraEnv: opts.extraEnv,
      minimalEnv: opts.minimalEnv,
      path: opts.path ?? this.pluginPath(),
      request: opts.request,
      timeoutMs: opts.timeoutMs ?? this.setup.timeoutMs,
      verb: opts.verb,
    })
    this.invocations.push(o)
    return o
  }

  /** `ip -j …` in a namespace of this case (the sandbox host when `ns` is undefined). */
  ipJson<T = unknown>(args: string[], ns?: Netns): Promise<T> {
    return ipJson<T>(args, ns?.name ?? (this.setup.host ? undefined : this.sb.host.name))
  }

  ip(args: string[], ns?: Netns): Promise<unknown> {
    return ip(args, ns?.name ?? (this.setup.host ? undefined : this.sb.host.name))
  }

  /** Runs a tool inside the sandbox host (e.g. `ip link add cnidbg-m0 type veth …` for a macvlan master). */
  hostRun(file: string, args: string[]) {
    return this.setup.host ? run(file, args) : runInNetns({name: this.sb.host.name}, file, args, {sysfs: true})
  }

  /** Host netns + every container netns of this case + the plugin state dirs, as sorted lines. */
  async snapshot(): Promise<string[]> {
    const hostPath = this.setup.host ? `/proc/${process.pid}/ns/net` : this.sb.host.path
    const parts = await Promise.all([
      snapshotNetnsPath(hostPath).then((s) => s.lines.map((l) => `host: ${l}`)),
      ...this.owned.map((ns) => snapshotNetnsPath(ns.path).then((s) => s.lines.map((l) => `${this.label(ns)}: ${l}`))),
    ])
    const state = [
      ...snapshotDir(this.statePath('/var/lib/cni')).map((l) => `/var/lib/cni: ${l}`),
      ...snapshotDir(this.statePath('/run/cni')).map((l) => `/run/cni: ${l}`),
    ]
    return [...parts.flat(), ...state]
  }

  /** How a container namespace of this case is named in snapshot lines (`x0: link eth0 …`). */
  label(ns: Netns): string {
    return ns.name.replace(/^cnidbg-[0-9a-f]+-/, '')
  }

  diff(before: string[], after: string[]): string[] {
    return diffLines(before, after)
  }

  /** Evidence from the invocations so far (bounded), plus every plugin call of the case by hand. */
  evidence(extra: Evidence = {}, lastN = 4): Evidence {
    const cap = (s: string) => capText(s, 2000)
    return {
      byHand: this.byHand(),
      invocations: this.invocations.slice(-lastN).map((o) => ({
        durationMs: Math.round(o.invocation.durationMs),
        exitCode: o.invocation.exitCode,
        stderr: cap(o.invocation.stderr),
        stdout: cap(o.invocation.stdout),
        verb: o.invocation.verb,
      })),
      ...extra,
      ...(extra.expected === undefined ? {} : {expected: cap(extra.expected)}),
      ...(extra.observed === undefined ? {} : {observed: cap(extra.observed)}),
      ...(extra.diff === undefined ? {} : {diff: capLines(extra.diff.map(cap))}),
    }
  }

  /** Removes a container namespace of this case (a container that died before its DEL). */
  async removeNetns(ns: Netns): Promise<void> {
    // With --host the attachment's host side is in this host's namespace, not the sandbox's.
    await this.sb.removeNetns(ns.name, this.setup.host ? undefined : this.sb.host.name)
    this.gone.set(ns.path, this.invocations.length)
  }

  /**
   * Every plugin call of the case so far, in order, as `cnidbg exec invoke` lines with exactly its
   * CNI_* variables and stdin, in a sandbox of their own that the last line removes: nothing runs on
   * this host. A container namespace of the case becomes the same-named one of that sandbox, until
   * the case removed it; later calls get its path as it was, which no longer exists, as they did.
   */
  byHand(): string[] {
    const name = `repro-${this.sb.id}`
    const mine = new RegExp(`^/run/netns/cnidbg-${this.sb.id}-([a-z0-9]+)$`)
    const lines = this.invocations.map((o, i) => {
      const inv = o.invocation
      const netns = mine.exec(inv.env.CNI_NETNS ?? '')?.[1]
      const removedAt = this.gone.get(inv.env.CNI_NETNS ?? '')
      const mapped = netns !== undefined && (removedAt === undefined || i < removedAt) ? netns : undefined
      const env = Object.entries(inv.env)
        .filter(([k]) => !(mapped !== undefined && k === 'CNI_NETNS'))
        .map(([k, v]) => `--env ${shellWord(`${k}=${v}`)}`)
      // Linux takes no single argument over 128 KiB (MAX_ARG_STRLEN): a longer stdin can't be typed as one.
      if (Buffer.byteLength(inv.stdin) > MAX_ARG_BYTES)
        return `# call ${i + 1} (${inv.verb}): its stdin is ${Buffer.byteLength(inv.stdin)} bytes, more than one command-line argument may hold; the reproduce line above makes it`
      return [
        'cnidbg exec invoke',
        shellWord(resolve(inv.path)),
        `--sandbox ${name}`,
        ...(i === 0 ? this.hostLinks.map((l) => `--host-link ${shellWord(l)}`) : []),
        ...(mapped === undefined ? [] : [`--netns ${mapped}`]),
        ...env,
        `--stdin ${shellQuote(inv.stdin)}`,
        ...(i === this.invocations.length - 1 ? ['--rm'] : []),
      ].join(' ')
    })
    if (lines.length === 0) return []
    return [
      `# the plugin calls of this case, in order, in sandbox ${name} (the last line removes it); what the check did between them (tampering, removing a namespace) is not repeated: the line above does all of it`,
      ...(this.setup.served
        ? [
            '# they run the plugin standalone: no plugin server is started by hand (the line above runs the check served)',
          ]
        : []),
      ...lines,
    ]
  }
}
