// The fuzz test's worker (test/reference-plugin/fuzz.ts bundles it with esbuild). It runs inside the
// fuzz sandbox's node namespace, with /sys remounted for it by `ip netns exec`, and executes cases sent
// as JSON lines on stdin, one at a time: ADD, then DEL, of cnidbg-ref, either in this process through
// runPlugin (the entry point the plugin server uses, so a case that fails validation costs no fork) or
// as the real program with its shell front. Around each verb it snapshots the node, the pod and the
// bystander namespace from /proc and /sys (no fork), then puts back whatever a case left behind, so
// every case starts from the same state. It answers each case with a JSON line of raw observations;
// the test decides what they mean.
import {spawnSync} from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {basename, dirname, join} from 'node:path'
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
  type Snap,
  type World,
} from './fuzz-world.js'

const world = JSON.parse(process.argv[2]!) as World
const STUB = join(world.stubDir, IPAM_TYPE)
const TAIL = ['/usr/bin/tail', '/bin/tail'].find((p) => existsSync(p)) ?? 'tail'
const NETWORKS = '/var/lib/cni/networks'
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

const latin1 = (b: Buffer): string => b.toString('latin1')
const sys = (name: string, file: string): Buffer =>
  Buffer.concat([Buffer.from('/sys/class/net/'), Buffer.from(name, 'latin1'), Buffer.from(`/${file}`)])

function readSys(name: string, file: string): string {
  try {
    return readFileSync(sys(name, file), 'latin1').trim()
  } catch {
    return ''
  }
}

/** Link names of the namespace `pid` is in, byte for byte (latin1), from /proc/<pid>/net/dev. */
function procLinks(pid: number | 'self'): string[] {
  const raw = readFileSync(`/proc/${pid}/net/dev`)
  const out: string[] = []
  let start = 0
  for (let n = 0; start < raw.length; n++) {
    let end = raw.indexOf(10, start)
    if (end < 0) end = raw.length
    const line = raw.subarray(start, end)
    start = end + 1
    if (n < 2 || line.length === 0) continue
    let i = 0
    while (line[i] === 0x20) i++
    // The kernel forbids ':' in a name, so the first one ends it.
    const colon = line.indexOf(0x3a, i)
    if (colon > i) out.push(latin1(line.subarray(i, colon)))
  }
  return out.sort()
}

function routes(pid: number | 'self'): string[] {
  const lines: string[] = []
  for (const f of ['route', 'ipv6_route']) {
    try {
      lines.push(
        ...readFileSync(`/proc/${pid}/net/${f}`, 'latin1')
          .split('\n')
          .slice(f === 'route' ? 1 : 0),
      )
    } catch {
      // IPv6 disabled.
    }
  }
  return lines.filter((l) => l.trim() !== '').sort()
}

function nodeLink(name: string): LinkInfo {
  let master = ''
  try {
    master = basename(readlinkSync(sys(name, 'master'), 'buffer').toString('latin1'))
  } catch {
    master = ''
  }
  return {
    ifindex: readSys(name, 'ifindex'),
    master,
    flags: readSys(name, 'flags'),
    mtu: readSys(name, 'mtu'),
    address: readSys(name, 'address'),
    ifalias: readSys(name, 'ifalias'),
  }
}

function snap(): Snap {
  const node: Record<string, LinkInfo> = {}
  for (const n of readdirSync('/sys/class/net', {encoding: 'buffer'})) node[latin1(n)] = nodeLink(latin1(n))
  let ports: string[] = []
  try {
    ports = readdirSync(sys(world.bridge, 'brif'), {encoding: 'buffer'}).map(latin1).sort()
  } catch {
    ports = ['<bridge gone>']
  }
  return {
    node,
    nodeRoutes: routes('self'),
    pod: procLinks(world.podPid),
    by: procLinks(world.byPid),
    byRoutes: routes(world.byPid),
    ports,
    canary: existsSync(world.canary),
  }
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

/** Puts the world back to `base` from `now`; returns what it could not. */
function restore(base: Snap, now: Snap): string[] {
  // Reads cost more than the few cases that leave something behind: skip the check when clean.
  const clean = diffSnap(base, now).length === 0
  for (const n of Object.keys(now.node).filter((n) => !(n in base.node))) {
    const name = utf8Ok(n)
    if (name !== undefined) ip(['link', 'del', 'dev', name])
  }
  for (const [ns, before, after] of [
    [world.podName, base.pod, now.pod],
    [world.byName, base.by, now.by],
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
    if (is.master !== was.master) ip(['link', 'set', 'dev', n, ...(was.master ? ['master', was.master] : ['nomaster'])])
    if (is.mtu !== was.mtu) ip(['link', 'set', 'dev', n, 'mtu', was.mtu])
    ip(['link', 'set', 'dev', n, (Number(was.flags) & 1) === 1 ? 'up' : 'down'])
  }
  rmSync(world.canary, {force: true})
  rmSync(NETWORKS, {recursive: true, force: true})
  for (const dir of [world.cwd, world.tmp]) {
    for (const e of readdirSync(dir, {encoding: 'buffer'})) {
      if (!KEEP.has(latin1(e))) rmSync(Buffer.concat([Buffer.from(`${dir}/`), e]), {recursive: true, force: true})
    }
  }
  if (clean) return []
  const after = snap()
  return diffSnap(base, after)
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
  for (const k of ['nodeRoutes', 'pod', 'by', 'byRoutes', 'ports', 'canary'] as const) {
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

const initial = snap()
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

async function runCase(raw: FuzzCase): Promise<Observation> {
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
  const add = await invoke(c.mode, {...env, CNI_COMMAND: 'ADD'}, c.stdin)
  const afterAdd = snap()
  let gc: Observation['gc']
  const conf = add.exitCode === 0 ? jsonObject(c.stdin) : undefined
  if (c.gc && conf?.cniVersion === '1.1.0') {
    const valid = [{containerID: c.env.CNI_CONTAINERID, ifname: c.env.CNI_IFNAME}]
    const stdin = JSON.stringify({...conf, 'cni.dev/valid-attachments': valid})
    const out = await invoke(c.mode, {...env, CNI_COMMAND: 'GC'}, stdin)
    gc = {...out, snap: snap()}
  }
  const del = await invoke(c.mode, {...env, CNI_COMMAND: 'DEL'}, c.stdin)
  const afterDel = snap()
  const leases = reservations()
  // Back to the state the sandbox started in, not merely to this case's: one case's leftovers must
  // not become the next one's normal.
  const left = restore(initial, afterDel)
  // Reported once, by the case that left it: later cases are judged against the state they found.
  const unrestored = last === initial ? left : []
  last = left.length ? snap() : initial
  return {add, del, base, afterAdd, gc, afterDel, planted, leases, unrestored}
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
