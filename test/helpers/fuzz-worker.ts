// The fuzz test's worker (test/reference-plugin/fuzz.ts bundles it with esbuild). It runs inside the
// fuzz sandbox's node namespace, with /sys remounted for it by `ip netns exec`, and executes cases sent
// as JSON lines on stdin, one at a time: ADD, then DEL, of cnidbg-ref, either in this process through
// runPlugin (the entry point the plugin server uses, so a case that fails validation costs no fork) or
// as the real program with its shell front. After each verb it snapshots the node, the pod and the
// bystander namespace (netlink dumps by one long-lived `ip` in each: no process per snapshot, and no
// snapshot after a verb that started no process, see snapAfter), then puts back whatever a case left
// behind, so every case starts from the same state. It answers each case with a JSON line of raw
// observations; the test decides what they mean.
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'
import {createInterface} from 'node:readline'

import {refPlugin} from '../../src/reference-plugin/plugin-ref.js'
import {runPlugin} from '../../src/reference-plugin/skel.js'
import {
  firstIpWord,
  foreignPid,
  IPAM_TYPE,
  substitute,
  type FuzzCase,
  type LinkInfo,
  type Observation,
  type Profile,
  type Snap,
  type World,
} from './fuzz-world.js'

const world = JSON.parse(process.argv[2]!) as World
const PROFILE = process.argv[3] === 'profile'
const STUB = join(world.stubDir, IPAM_TYPE)
const TAIL = ['/usr/bin/tail', '/bin/tail'].find((p) => existsSync(p)) ?? 'tail'
const NETWORKS = '/var/lib/cni/networks'
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

const latin1 = (b: Buffer): string => b.toString('latin1')

/** What a link shows that follows its carrier or its queueing, not its configuration. */
const CARRIER_FLAGS = new Set(['LOWER_UP', 'NO-CARRIER', 'DORMANT', 'M-DOWN'])
const VOLATILE = new Set(['operstate', 'qdisc'])

/** A link as `ip -j addr show` prints it, minus what changes without anyone configuring it. */
function linkInfo(raw: Record<string, unknown>): LinkInfo {
  const out: LinkInfo = {}
  for (const [k, v] of Object.entries(raw)) {
    if (VOLATILE.has(k)) continue
    if (k === 'flags' && Array.isArray(v)) out[k] = v.filter((f) => !CARRIER_FLAGS.has(String(f)))
    else if (k === 'addr_info' && Array.isArray(v)) {
      // Lifetimes count down; the addresses and their flags are what a command sets.
      out[k] = v.map((a: Record<string, unknown>) => {
        const {valid_life_time: _v, preferred_life_time: _p, ...rest} = a
        return rest
      })
    } else out[k] = v
  }
  return out
}

/**
 * A long-lived `ip -j -batch -` in one namespace, answering every snapshot from netlink dumps: the
 * whole state of the namespace (links with their addresses, every route of every table) for two
 * lines on a pipe, instead of a process or dozens of /sys reads per snapshot. iproute2 flushes after
 * each batch command; -force keeps it reading after a command that failed.
 */
class Observer {
  readonly pid: number | undefined
  private readonly proc: ChildProcess
  private readonly waiting: Array<{resolve: (line: string) => void; reject: (e: Error) => void}> = []
  private buf = ''
  private stderr = ''
  private exited: Error | undefined

  constructor(
    private readonly label: string,
    netns?: string,
  ) {
    const args = [...(netns ? ['-n', netns] : []), '-j', '-force', '-batch', '-']
    this.proc = spawn('ip', args, {stdio: ['pipe', 'pipe', 'pipe']})
    this.pid = this.proc.pid
    // Names and aliases are bytes: latin1 keeps each one a char, as the rest of the fuzz test does.
    this.proc.stdout!.setEncoding('latin1')
    this.proc.stdout!.on('data', (d: string) => {
      this.buf += d
      let nl
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl)
        this.buf = this.buf.slice(nl + 1)
        this.waiting.shift()?.resolve(line)
      }
    })
    this.proc.stderr!.setEncoding('latin1')
    this.proc.stderr!.on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-2000)))
    this.proc.stdin!.on('error', () => {})
    this.proc.on('exit', (code, signal) => {
      this.exited = new Error(`the ${label} observer (ip) exited (${code ?? signal}): ${this.stderr}`)
      for (const w of this.waiting.splice(0)) w.reject(this.exited)
    })
  }

  private ask(commands: string[]): Promise<string[]> {
    if (this.exited) return Promise.reject(this.exited)
    const lines = commands.map(() => new Promise<string>((resolve, reject) => this.waiting.push({resolve, reject})))
    this.proc.stdin!.write(commands.map((c) => `${c}\n`).join(''))
    return Promise.all(lines)
  }

  /** Every link with its addresses, by name, and every route (JSON text, sorted). */
  async state(): Promise<{links: Record<string, LinkInfo>; routes: string[]}> {
    const [addrs, routes] = await this.ask(['addr show', 'route show table all'])
    // No prototype: a link may be named "__proto__" (CNI_IFNAME can be).
    const links = Object.create(null) as Record<string, LinkInfo>
    for (const l of parseIpJson(addrs!, this.label)) links[String(l.ifname)] = linkInfo(l)
    return {
      links,
      routes: parseIpJson(routes!, this.label)
        .map((r) => JSON.stringify(r))
        .sort(),
    }
  }
}

/**
 * iproute2 writes the bytes of a name or alias as they are, so a control character other than the
 * few it escapes would make the line invalid JSON: escape them first (a line never holds a raw newline).
 */
function parseIpJson(line: string, label: string): Array<Record<string, unknown>> {
  // eslint-disable-next-line no-control-regex -- those bytes are what this escapes
  const text = line.replace(/[\x00-\x1f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  try {
    return JSON.parse(text) as Array<Record<string, unknown>>
  } catch (error) {
    throw new Error(`the ${label} observer printed what is not JSON (${String(error)}): ${line.slice(0, 300)}`)
  }
}

const observers = {
  node: new Observer('node'),
  pod: new Observer('pod', world.podName),
  by: new Observer('bystander', world.byName),
}

async function snap(): Promise<Snap> {
  const [node, pod, by] = await Promise.all([observers.node.state(), observers.pod.state(), observers.by.state()])
  const ports = Object.entries(node.links)
    .filter(([, l]) => l.master === world.bridge)
    .map(([n]) => n)
    .sort()
  return {
    node: node.links,
    nodeRoutes: node.routes,
    pod: Object.keys(pod.links).sort(),
    podState: {links: pod.links, routes: pod.routes},
    by: by.links,
    byRoutes: by.routes,
    ports: world.bridge in node.links ? ports : ['<bridge gone>'],
    canary: existsSync(world.canary),
  }
}

/**
 * Processes the plugin has started, and how many of them still run. Every way node:child_process
 * has to start one is counted on the module object, which the plugin's runner (src/process/lite-exec.ts)
 * calls through; the worker's own processes (observers, repairs, the shell front) bypass the count.
 */
const processes = {started: 0, running: 0}
{
  const cp = createRequire(import.meta.url)('node:child_process') as Record<string, unknown>
  for (const name of ['spawn', 'execFile', 'exec', 'fork', 'spawnSync', 'execFileSync', 'execSync']) {
    const real = cp[name] as (...a: unknown[]) => unknown
    cp[name] = function (this: unknown, ...args: unknown[]) {
      processes.started++
      const child = real.apply(this, args)
      if (name.endsWith('Sync')) return child
      const c = child as ChildProcess
      processes.running++
      c.once('exit', () => processes.running--)
      // A process that could not be started sends no 'exit'.
      c.once('error', () => c.pid === undefined && processes.running--)
      return child
    }
  }
}

/**
 * The snapshot after a verb. The plugin changes links, addresses and routes only through the
 * processes it starts (ip, nsenter, its delegates: Node has no netlink), so after a verb in this
 * process that started none, with none still running, the namespaces are as the last snapshot
 * (`prev`) saw them, and that one stands for this one; only the canary file is looked at again.
 */
async function snapAfter(mode: FuzzCase['mode'], startedBefore: number, prev: Snap): Promise<Snap> {
  if (mode === 'front' || processes.started !== startedBefore || processes.running !== 0) return snap()
  return existsSync(world.canary) ? {...prev, canary: true} : prev
}

/** The cwd and tmp entries the world itself owns (everything else there is a case's). */
const KEEP = new Set(['stub', 'nosrv', 'cwd', 'var-lib-cni', 'run-cni'])

function ip(args: string[]): void {
  spawnSync('ip', args, {stdio: 'ignore', timeout: 30_000})
}

const utf8Ok = (latin: string): string | undefined => {
  const b = Buffer.from(latin, 'latin1')
  const s = b.toString('utf8')
  return Buffer.from(s).equals(b) ? s : undefined
}

const texts = new WeakMap<Snap, string>()
/** A snapshot as JSON, kept: the base of every case is compared with each of its snapshots. */
function textOf(s: Snap): string {
  let t = texts.get(s)
  if (t === undefined) texts.set(s, (t = JSON.stringify(s)))
  return t
}

/** Puts the world back to `base` from `now`; returns what it could not. */
async function restore(base: Snap, now: Snap): Promise<string[]> {
  // Nearly every case leaves nothing behind: then the state needs neither repairs nor a second look.
  const clean = now === base || JSON.stringify(now) === textOf(base)
  for (const n of Object.keys(now.node).filter((n) => !(n in base.node))) {
    const name = utf8Ok(n)
    if (name !== undefined) ip(['link', 'del', 'dev', name])
  }
  for (const [ns, before, after] of [
    [world.podName, base.pod, now.pod],
    [world.byName, Object.keys(base.by), Object.keys(now.by)],
  ] as const) {
    for (const n of after.filter((n) => !before.includes(n))) {
      const name = utf8Ok(n)
      if (name !== undefined) ip(['-n', ns, 'link', 'del', 'dev', name])
    }
  }
  for (const p of now.ports.filter((p) => !base.ports.includes(p))) {
    const name = utf8Ok(p)
    if (name !== undefined) ip(['link', 'set', 'dev', name, 'nomaster'])
  }
  // The sandbox's own links as they were: a payload may have unenslaved, downed or moved one.
  for (const [n, was] of Object.entries(base.node)) {
    const is = now.node[n]
    if (is === undefined || JSON.stringify(is) === JSON.stringify(was)) continue
    if (is.master !== was.master)
      ip(['link', 'set', 'dev', n, ...(was.master ? ['master', String(was.master)] : ['nomaster'])])
    if (is.mtu !== was.mtu) ip(['link', 'set', 'dev', n, 'mtu', String(was.mtu)])
    ip(['link', 'set', 'dev', n, Array.isArray(was.flags) && was.flags.includes('UP') ? 'up' : 'down'])
  }
  rmSync(world.canary, {force: true})
  rmSync(NETWORKS, {recursive: true, force: true})
  for (const dir of [world.cwd, world.tmp]) {
    for (const e of readdirSync(dir, {encoding: 'buffer'})) {
      if (!KEEP.has(latin1(e))) rmSync(Buffer.concat([Buffer.from(`${dir}/`), e]), {recursive: true, force: true})
    }
  }
  if (clean) return []
  return diffSnap(base, await snap())
}

/** cnidbg-ipam's reservations in this worker's private /var/lib/cni. */
function reservations(): string[] {
  const out: string[] = []
  try {
    for (const net of readdirSync(NETWORKS)) {
      for (const f of readdirSync(join(NETWORKS, net))) {
        if (f !== 'lock' && !f.startsWith('last_reserved_ip')) out.push(`${net}/${f}`)
      }
    }
  } catch {
    // No store yet.
  }
  return out.sort()
}

export function diffSnap(a: Snap, b: Snap): string[] {
  const out: string[] = []
  const ja = JSON.stringify
  for (const k of ['nodeRoutes', 'pod', 'podState', 'by', 'byRoutes', 'ports', 'canary'] as const) {
    if (ja(a[k]) !== ja(b[k])) out.push(`${k}: ${ja(a[k])} -> ${ja(b[k])}`)
  }
  const names = new Set([...Object.keys(a.node), ...Object.keys(b.node)])
  for (const n of names)
    if (ja(a.node[n]) !== ja(b.node[n])) out.push(`node ${ja(n)}: ${ja(a.node[n])} -> ${ja(b.node[n])}`)
  return out
}

async function invoke(mode: FuzzCase['mode'], env: NodeJS.ProcessEnv, stdin: string) {
  if (mode === 'inproc') return runPlugin(refPlugin, env, stdin)
  // A real environment cannot hold NUL; the test's front cases never carry one.
  const r = spawnSync(world.front, [], {env, input: stdin, encoding: 'utf8', timeout: 60_000, cwd: world.cwd})
  return {stdout: r.stdout ?? '', exitCode: r.status ?? (r.error ? -1 : 128), stderr: r.stderr ?? ''}
}

const initial = await snap()
let last = initial

function jsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

const nsIno = (path: string): number | undefined => {
  try {
    return statSync(path).ino
  } catch {
    return undefined
  }
}
const OURS = new Set([nsIno(world.pod), nsIno(world.by), nsIno('/proc/self/ns/net')])
const NSFS = nsIno(world.pod) === undefined ? -1 : statSync(world.pod).dev
const pids = new Set([String(world.podPid), String(world.byPid)])

/**
 * The last line of defence for the machine: generated values may aim `ip` at a process or namespace
 * only if it is the sandbox's own. A case that could name another one is refused, never run (the
 * generators make sure none is generated: see separatePids).
 */
function unsafe(c: FuzzCase): string | undefined {
  const pid = foreignPid(c, pids)
  if (pid) return pid
  const netns = c.env.CNI_NETNS
  if (netns !== undefined) {
    const word = firstIpWord(netns)
    for (const p of [netns, word, word.includes('/') ? '' : `/run/netns/${word}`]) {
      if (!p) continue
      let st
      try {
        st = statSync(p)
      } catch {
        continue
      }
      if (st.dev === NSFS && !OURS.has(st.ino)) return `CNI_NETNS reaches ${p}, a namespace outside the sandbox`
    }
  }
  return undefined
}

/** CPU ms of this process and of its children: those waited for, and the observers, which live on. */
function cpuMs(): {self: number; children: number} {
  const u = process.cpuUsage()
  let children = 0
  for (const [pid, waited] of [
    ['self', true],
    ...Object.values(observers).map((o) => [o.pid, false] as const),
  ] as const) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      // utime, stime, cutime, cstime (fields 14-17), in clock ticks of 10 ms.
      children += (waited ? Number(f[13]) + Number(f[14]) : Number(f[11]) + Number(f[12])) * 10
    } catch {
      // An observer that exited is reported by the case that needs it.
    }
  }
  return {self: (u.user + u.system) / 1000, children}
}

/** With CNIDBG_FUZZ_PROFILE set, runs `fn` as step `name` of the case's profile. */
async function step<T>(profile: Profile | undefined, name: string, fn: () => T | Promise<T>): Promise<T> {
  if (!profile) return fn()
  const t0 = performance.now()
  const c0 = cpuMs()
  try {
    return await fn()
  } finally {
    const c1 = cpuMs()
    const e = (profile[name] ??= [0, 0, 0])
    e[0] += performance.now() - t0
    e[1] += c1.self - c0.self
    e[2] += c1.children - c0.children
  }
}

async function runCase(raw: FuzzCase): Promise<Observation> {
  const profile: Profile | undefined = PROFILE ? {} : undefined
  const obs = await step(profile, 'case', () => runSteps(raw, profile))
  return profile ? {...obs, profile} : obs
}

async function runSteps(raw: FuzzCase, profile: Profile | undefined): Promise<Observation> {
  const c = substitute(raw, world)
  if (c.stub) {
    writeFileSync(STUB, `#!${TAIL} -n+2\n${c.ipam}\n`)
    chmodSync(STUB, 0o755)
  }
  let planted: string | undefined
  // Only in the scratch dirs: a plant elsewhere (say /run/netns) would outlive the sandbox.
  if (c.plant !== undefined && !(c.plant.includes('/') ? dirname(c.plant) === world.tmp : true)) {
    throw new Error(`refused to plant ${JSON.stringify(c.plant)} outside ${world.tmp}`)
  }
  if (c.plant !== undefined) {
    // A local user's file at the path CNI_NETNS names: a link to the pod's namespace.
    try {
      symlinkSync(world.pod, c.plant)
      planted = c.plant
    } catch (error) {
      planted = `not planted: ${(error as Error).message}`
    }
  }
  const refused = unsafe(c)
  if (refused) {
    if (planted) rmSync(planted, {force: true})
    throw new Error(`refused an unsafe case: ${refused}`)
  }
  const env: NodeJS.ProcessEnv = {
    PATH,
    CNI_PATH: c.stub ? world.stubDir : world.plugins,
    CNIDBG_REF_SERVER: join(world.tmp, 'nosrv'),
  }
  for (const [k, v] of Object.entries(c.env)) if (v !== undefined) env[k] = v
  // The state the last case was put back to (the initial one, unless that failed).
  const base = last
  const started0 = processes.started
  const add = await step(profile, 'ADD', () => invoke(c.mode, {...env, CNI_COMMAND: 'ADD'}, c.stdin))
  if (c.mode === 'inproc' && add.exitCode === 0 && processes.started === started0) {
    throw new Error('ADD succeeded without starting a process: the worker no longer sees what the plugin starts')
  }
  const afterAdd = await step(profile, 'snapshots', () => snapAfter(c.mode, started0, base))
  let gc: Observation['gc']
  const conf = add.exitCode === 0 ? jsonObject(c.stdin) : undefined
  if (c.gc && conf?.cniVersion === '1.1.0') {
    const valid = [{containerID: c.env.CNI_CONTAINERID, ifname: c.env.CNI_IFNAME}]
    const stdin = JSON.stringify({...conf, 'cni.dev/valid-attachments': valid})
    const started1 = processes.started
    const out = await step(profile, 'GC', () => invoke(c.mode, {...env, CNI_COMMAND: 'GC'}, stdin))
    gc = {...out, snap: await step(profile, 'snapshots', () => snapAfter(c.mode, started1, afterAdd))}
  }
  const started2 = processes.started
  const del = await step(profile, 'DEL', () => invoke(c.mode, {...env, CNI_COMMAND: 'DEL'}, c.stdin))
  const afterDel = await step(profile, 'snapshots', () => snapAfter(c.mode, started2, gc?.snap ?? afterAdd))
  const leases = await step(profile, 'restore', reservations)
  // Back to the state the sandbox started in, not merely to this case's: one case's leftovers must
  // not become the next one's normal.
  const left = await step(profile, 'restore', () => restore(initial, afterDel))
  // Reported once, by the case that left it: later cases are judged against the state they found.
  const unrestored = last === initial ? left : []
  last = left.length ? await snap() : initial
  // On the wire, a snapshot that is the base's is null (most are), and so is a base that is the initial one.
  const same = (s: Snap) => s === base || JSON.stringify(s) === textOf(base)
  const wire = {
    add,
    del,
    base: base === initial ? null : base,
    afterAdd: same(afterAdd) ? null : afterAdd,
    gc: gc && {...gc, snap: same(gc.snap) ? null : gc.snap},
    afterDel: same(afterDel) ? null : afterDel,
    planted,
    leases,
    unrestored,
  }
  return wire as unknown as Observation
}

mkdirSync(world.cwd, {recursive: true})
process.chdir(world.cwd)
const rl = createInterface({input: process.stdin, crlfDelay: Infinity})
process.stdout.write(JSON.stringify({ready: true, base: initial}) + '\n')
for await (const line of rl) {
  if (!line.trim()) continue
  const msg = JSON.parse(line) as {id: number; case: FuzzCase}
  let reply: unknown
  try {
    reply = {id: msg.id, obs: await runCase(msg.case)}
  } catch (error) {
    reply = {id: msg.id, error: String((error as Error)?.stack ?? error)}
  }
  process.stdout.write(JSON.stringify(reply) + '\n')
}
