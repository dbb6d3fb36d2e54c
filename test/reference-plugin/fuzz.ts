// Property-based fuzz test of cnidbg-ref against hostile input (docs/security.md has the threat model):
// a pod author picks CNI_IFNAME, the runtime passes CNI_CONTAINERID, CNI_NETNS and CNI_ARGS, the
// config is a file anyone with write access to the CNI config dir wrote, and the IPAM plugin's result
// is another program's output. For each input class, fast-check generates values (random bytes, and
// the tokens that matter to the commands the plugin runs: quotes, "#", backslashes, newlines, and
// payloads that try to run `touch`, to create a link, to enslave to a bridge or to move a link to
// another namespace), runs ADD then DEL of the real plugin in a sandbox, and checks the contract:
//   1. no command beyond the plan runs: the canary file, link and bridge port never appear;
//   2. nothing outside the attachment changes: after ADD only the attachment's node-side veth (with
//      its addresses and routes) is new in the node namespace (none after a failed ADD), the node's
//      and the pod's other links, addresses and routes (every table) stay, the bystander namespace
//      never changes, and after DEL the node and the pod are as before;
//   3. ADD either succeeds with the literal values (the pod has an interface named exactly CNI_IFNAME,
//      the result's interfaces and ips are what CNI_NETNS and the IPAM result said, and a GC listing
//      the attachment as valid keeps it), or prints a CNI error object and exits non-zero.
// Most cases run in the worker's process through runPlugin (fuzz-worker.ts), so only a case that gets
// past validation forks `ip`; 40 run the built program with its shell front.
//
// Reproduce a failure with the seed and path it prints:
//   CNIDBG_FUZZ_SEED=<seed> CNIDBG_FUZZ_PATH=<path> CNIDBG_FUZZ_ONLY=<class> npx tap test/reference-plugin/fuzz.ts
// CNIDBG_FUZZ_RUNS and CNIDBG_FUZZ_FRONT_RUNS change the number of cases (default 2000 per class, 40);
// CNIDBG_FUZZ_PROFILE=1 adds where a case's time goes, step by step, to the timings printed at the end.
import {performance} from 'node:perf_hooks'

import fc from 'fast-check'
import t, {type Test} from 'tap'

import {formatCIDR, parseCIDR, parseIP} from '../../src/core/ip.js'
import {buildWorker, FuzzSandbox} from '../helpers/fuzz-sandbox.js'
import {
  foreignPid,
  IPAM_TYPE,
  noForeignPid,
  separatePids,
  substitute,
  type FuzzCase,
  type Observation,
  type Profile,
  type Snap,
  type World,
} from '../helpers/fuzz-world.js'
import {bundle} from '../helpers/ref-plugins.js'

const SEED = process.env.CNIDBG_FUZZ_SEED ? Number(process.env.CNIDBG_FUZZ_SEED) : Date.now() % 2 ** 31
const PATH = process.env.CNIDBG_FUZZ_PATH
const ONLY = process.env.CNIDBG_FUZZ_ONLY
const RUNS = Number(process.env.CNIDBG_FUZZ_RUNS ?? 2000)
const FRONT_RUNS = Number(process.env.CNIDBG_FUZZ_FRONT_RUNS ?? 40)
const t0 = performance.now()
t.comment(`fuzz seed ${SEED} (set CNIDBG_FUZZ_SEED=${SEED} to replay this run)`)

// ---------------------------------------------------------------------------------------------------
// Generators. Uniform bytes are nearly always rejected at the first check, so most values are short
// mixes of a valid value, dangerous characters, random characters and payloads.

/** What Node makes of a string passed through an environment or a pipe (lone surrogates become U+FFFD). */
const wellFormed = (s: string): string => Buffer.from(s, 'utf8').toString('utf8')

const DANGER = [
  '"',
  "'",
  '#',
  '\\',
  '\n',
  '\r',
  '\t',
  '\0',
  ' ',
  ';',
  '=',
  ':',
  '/',
  '$',
  '`',
  '*/',
  '\\\n',
  '\u00e9',
  '\u2603',
  '\u{1f4a5}',
  '\u00a0',
  '\u2028',
  '\ufeff',
  '\x7f',
]

/** Payloads for a value that lands in an `ip` command line (any of them running is a failure). */
const LINE_PAYLOADS = [
  '\nnetns exec {BYNAME} touch {CANARY} #',
  '\nlink add {CLINK} type bridge #',
  '\nlink set fzd0 nomaster #',
  ' master {BR} ',
  '"master"{BR}',
  "'master'{BR}",
  ' netns {BYPID} ',
  '"netns"{BYPID}',
  '" netns {BYPID} "',
  '#',
  '\\',
]

/** Payloads short enough for a 15-byte interface name. */
const NAME_PAYLOADS = [
  `"'master'"{BR}`,
  `x"'master'"{BR}`,
  `"'netns'"{BYPID}`,
  `'"netns"'{BYPID}`,
  `"master"{BR}`,
  'e#',
  '#',
  'e\\',
  '\\',
  '"',
  "'",
  'x"',
  "x'",
]

function mixed(
  bases: readonly string[],
  payloads: readonly string[],
  maxParts = 5,
  others: readonly string[] = [],
): fc.Arbitrary<string> {
  const part = fc.oneof(
    {weight: 4, arbitrary: fc.constantFrom(...DANGER)},
    {weight: 3, arbitrary: fc.constantFrom(...payloads)},
    {weight: 3, arbitrary: fc.constantFrom(...bases, ...others)},
    {weight: 2, arbitrary: fc.string({unit: 'binary-ascii', maxLength: 4})},
    {weight: 1, arbitrary: fc.string({unit: 'binary', maxLength: 3})},
  )
  return fc
    .oneof(
      {weight: 10, arbitrary: fc.array(part, {minLength: 1, maxLength: maxParts}).map((p) => p.join(''))},
      // A valid value with a payload after it: what gets past a check that looks only at a prefix.
      {
        weight: 6,
        arbitrary: fc
          .tuple(fc.constantFrom(...bases), fc.constantFrom(...payloads), fc.constantFrom('', ...DANGER))
          .map((p) => p.join('')),
      },
      {weight: 2, arbitrary: fc.constantFrom(...bases)},
      {weight: 1, arbitrary: fc.uint8Array({maxLength: 24}).map((b) => Buffer.from(b).toString('utf8'))},
      {weight: 1, arbitrary: fc.string({unit: 'binary', maxLength: 24})},
      {
        weight: 1,
        arbitrary: fc.tuple(fc.constantFrom(...bases), fc.integer({min: 1, max: 400})).map(([b, n]) => b.repeat(n)),
      },
    )
    .map((s) => separatePids(wellFormed(s)))
}

const ifnameArb = mixed(['eth0', 'e', 'net1', 'x', 'eth0\u00e9'], NAME_PAYLOADS, 4)
const cidArb = mixed(['fz-1', 'abc', '0', 'a.b_c-d'], [...LINE_PAYLOADS, ...NAME_PAYLOADS])
const argsArb = mixed(
  ['IgnoreUnknown=1;K8S_POD_NAME=web', 'K8S_POD_NAMESPACE=default', 'IP=10.77.0.9', ';', ''],
  LINE_PAYLOADS,
)
/** CNI_NETNS: the pod's path, name or pid (iproute2 reads all three), a scratch path, with payloads after it. */
const netnsArb = fc.record({
  value: mixed(
    ['{POD}', '{PODNAME}', '{PODPID}', '{TMP}/p', 'p', '/run/netns/{PODNAME}', '{BYNAME}', '{BYPID}'],
    LINE_PAYLOADS,
  ).map(noForeignPid),
  // A local user's file at that path, pointing to the pod's namespace (only where one can be made).
  plant: fc.boolean(),
})

const V4 = ['10.77.0.5/24', '10.77.0.6/32', '10.77.0.1', '10.77.0.254', '0.0.0.0/0', '10.96.0.0/12']
const V6 = ['fd77::5/64', 'fd77::1', '::/0', 'fd96::/108']
const ipArb = (bases: string[]) => mixed(bases, LINE_PAYLOADS, 3, [...V4, ...V6])

const VERSIONS = ['1.1.0', '1.0.0', '0.4.0', '0.3.1', '0.3.0']
/** The config: cnidbg-ipam (in-process, as in production) unless the case's IPAM is the stub. */
const baseConf = (stub = false): Record<string, any> => ({
  cniVersion: '1.1.0',
  name: 'fznet',
  type: 'cnidbg-ref',
  ipam: stub ? {type: IPAM_TYPE} : {type: 'cnidbg-ipam', ranges: [[{subnet: '10.77.0.0/24'}]]},
})
const baseIpam = () => ({
  cniVersion: '1.1.0',
  ips: [{address: '10.77.0.5/24', gateway: '10.77.0.1'}] as Array<Record<string, unknown>>,
  routes: [{dst: '0.0.0.0/0'}] as Array<Record<string, unknown>>,
  dns: {},
})
type Edit = (o: any, v: string) => void

/** Sets `v` at a path into a config; the path's objects are created as needed. */
const CONF_FIELDS: Record<string, [Edit, string[]]> = {
  name: [(o, v) => (o.name = v), ['fznet', 'a', 'fz.net-1_2']],
  cniVersion: [(o, v) => (o.cniVersion = v), VERSIONS],
  type: [(o, v) => (o.type = v), ['cnidbg-ref']],
  'ipam.type': [(o, v) => (o.ipam.type = v), ['cnidbg-ipam']],
  'ipam.subnet': [(o, v) => ((o.ipam.subnet = v), delete o.ipam.ranges), ['10.77.0.0/24']],
  // Always under the scratch dir: cnidbg-ipam creates it.
  'ipam.dataDir': [(o, v) => (o.ipam.dataDir = `{TMP}/${v}`), ['data']],
  'ipam.ranges.subnet': [(o, v) => (o.ipam.ranges = [[{subnet: v}]]), ['10.77.0.0/24', 'fd77::/64']],
  'ipam.ranges.gateway': [
    (o, v) => ((o.ipam.ranges ??= [[{subnet: '10.77.0.0/24'}]])[0][0].gateway = v),
    ['10.77.0.1', '10.77.0.254'],
  ],
  'ipam.routes.dst': [(o, v) => (o.ipam.routes = [{dst: v}]), ['0.0.0.0/0', '10.96.0.0/12']],
  'ipam.routes.gw': [(o, v) => (o.ipam.routes = [{dst: '10.96.0.0/12', gw: v}]), ['10.77.0.1']],
  'dns.nameservers': [(o, v) => ((o.dns ??= {}).nameservers = [v]), ['10.96.0.10', 'fd96::a']],
  'dns.domain': [(o, v) => ((o.dns ??= {}).domain = v), ['cluster.local']],
  'dns.search': [(o, v) => ((o.dns ??= {}).search = [v]), ['svc.cluster.local']],
  'dns.options': [(o, v) => ((o.dns ??= {}).options = [v]), ['ndots:5']],
  'args.cni.ips': [(o, v) => (o.args = {cni: {ips: [v]}}), ['10.77.0.9']],
  'runtimeConfig.portMappings': [(o, v) => (o.runtimeConfig = {portMappings: [{hostPort: 80, protocol: v}]}), ['tcp']],
  'prevResult.interfaces.name': [
    (o, v) => (o.prevResult = {cniVersion: o.cniVersion, interfaces: [{name: v, sandbox: v}], ips: [], routes: []}),
    ['eth9'],
  ],
  'extra key': [(o, v) => (o[v] = v), ['x']],
}

const confArb = fc
  .array(fc.tuple(fc.constantFrom(...Object.keys(CONF_FIELDS)), fc.nat()), {minLength: 1, maxLength: 3})
  .chain((picks) =>
    fc.tuple(...picks.map(([f]) => mixed(CONF_FIELDS[f]![1], LINE_PAYLOADS))).map((vals) => {
      const conf = baseConf()
      picks.forEach(([f], i) => CONF_FIELDS[f]![0](conf, vals[i]!))
      return {fields: picks.map(([f]) => f), stdin: JSON.stringify(conf)}
    }),
  )

const IPAM_FIELDS: Record<string, [Edit, string[]]> = {
  'ips[0].address': [(o, v) => (o.ips[0].address = v), ['10.77.0.5/24']],
  'ips[0].gateway': [(o, v) => (o.ips[0].gateway = v), ['10.77.0.1']],
  'ips[1] (IPv6)': [(o, v) => o.ips.push({address: `fd77::5/64`, gateway: v}), ['fd77::1']],
  'ips[1].address': [(o, v) => o.ips.push({address: v, gateway: 'fd77::1'}), ['fd77::5/64']],
  'ips[0].interface': [(o, v) => (o.ips[0].interface = Number.isNaN(Number(v)) ? v : Number(v)), ['0', '1', '-1']],
  'routes[0].dst': [(o, v) => (o.routes[0].dst = v), ['0.0.0.0/0', '10.96.0.0/12']],
  'routes[0].gw': [(o, v) => (o.routes[0].gw = v), ['10.77.0.1', '10.77.0.254']],
  'routes[1]': [(o, v) => o.routes.push({dst: '10.96.0.0/12', gw: v}), ['10.77.0.1']],
  'dns.nameservers': [(o, v) => (o.dns.nameservers = [v]), ['10.96.0.10']],
  'dns.domain': [(o, v) => (o.dns.domain = v), ['cluster.local']],
  'dns.search': [(o, v) => (o.dns.search = [v]), ['svc.cluster.local']],
  'dns.options': [(o, v) => (o.dns.options = [v]), ['ndots:5']],
  'interfaces[0]': [(o, v) => (o.interfaces = [{name: v, mac: v, sandbox: v}]), ['eth0']],
  cniVersion: [(o, v) => (o.cniVersion = v), VERSIONS],
}

const ipamArb = fc.oneof(
  {
    weight: 20,
    arbitrary: fc.array(fc.constantFrom(...Object.keys(IPAM_FIELDS)), {minLength: 1, maxLength: 3}).chain((fields) =>
      fc.tuple(...fields.map((f) => ipArb(IPAM_FIELDS[f]![1]))).map((vals) => {
        const r = baseIpam()
        fields.forEach((f, i) => IPAM_FIELDS[f]![0](r, vals[i]!))
        return {fields, ipam: JSON.stringify(r), stub: true}
      }),
    ),
  },
  // Not a result at all.
  {
    weight: 1,
    arbitrary: mixed(['{', '{"ips":[]}', 'null', '[]'], LINE_PAYLOADS).map((s) => ({
      fields: ['stdout'],
      ipam: s,
      stub: true,
    })),
  },
)

// ---------------------------------------------------------------------------------------------------
// Cases.

interface Input {
  ifname?: string
  cid?: string
  netns?: string
  args?: string
  plant?: boolean
  stdin?: string
  ipam?: string
  fields?: string[]
  /** The IPAM is the stub printing `ipam` (else the built cnidbg-ipam). */
  stub?: boolean
}

function toCase(i: Input, mode: FuzzCase['mode']): FuzzCase {
  // GC finds an attachment by what ADD recorded of its network, container ID and interface name.
  const gc = mode === 'inproc' && (i.ifname !== undefined || i.cid !== undefined || i.fields?.includes('name') === true)
  const env = {
    CNI_CONTAINERID: i.cid ?? 'fz-1',
    CNI_NETNS: i.netns ?? '{POD}',
    CNI_IFNAME: i.ifname ?? 'eth0',
    CNI_ARGS: i.args ?? 'IgnoreUnknown=1;K8S_POD_NAME=web',
  }
  // An environment cannot hold NUL: the shell front's cases (real processes) carry none.
  if (mode === 'front') for (const [k, v] of Object.entries(env)) env[k as keyof typeof env] = v.replaceAll('\0', '')
  // A planted file needs a name a file can have: one component, relative (in the worker's cwd) or in {TMP}.
  let plant: string | undefined
  const n = env.CNI_NETNS
  const name = n.startsWith('{TMP}/') ? n.slice(6) : n
  const oneName = !/[/\0]|\{(POD|TMP|CANARY)\}/.test(name) && name !== '' && name !== '.' && name !== '..'
  if (i.plant && oneName && Buffer.byteLength(name) < 200) {
    plant = n
  }
  return {
    mode,
    env,
    stdin: i.stdin ?? JSON.stringify(baseConf(i.stub)),
    stub: i.stub ?? false,
    ipam: i.ipam ?? '',
    plant,
    gc,
  }
}

const CLASSES: Record<string, fc.Arbitrary<Input>> = {
  CNI_IFNAME: ifnameArb.map((ifname) => ({ifname})),
  CNI_CONTAINERID: cidArb.map((cid) => ({cid})),
  CNI_NETNS: netnsArb.map(({value, plant}) => ({netns: value, plant})),
  CNI_ARGS: argsArb.map((args) => ({args})),
  config: confArb,
  'IPAM result': ipamArb,
}

// ---------------------------------------------------------------------------------------------------
// The contract.

const latin1 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1')
const fromLatin1 = (s: string): string => Buffer.from(s, 'latin1').toString('utf8')
const J = JSON.stringify

function sameIP(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'string' || typeof b !== 'string') return false
  const ca = parseCIDR(a)
  const cb = parseCIDR(b)
  if (ca && cb) return formatCIDR(ca) === formatCIDR(cb)
  const ia = parseIP(a)
  const ib = parseIP(b)
  return Boolean(ia && ib && ia.family === ib.family && ia.value === ib.value)
}

function parseJson(text: string): any {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** A CNI error object (SPEC §5 Error) and a non-zero exit. */
function errorProblem(verb: string, out: {stdout: string; exitCode: number}): string | undefined {
  const e = parseJson(out.stdout)
  if (out.exitCode !== 0 && e && typeof e === 'object' && typeof e.code === 'number' && typeof e.msg === 'string')
    return undefined
  return `${verb} exited ${out.exitCode} without a CNI error object: ${J(out.stdout.slice(0, 300))}`
}

/** The devices a route (an `ip -j` route as JSON text) goes out of, its nexthops' included. */
function routeDevs(text: string): string[] {
  const r = JSON.parse(text) as {dev?: string; nexthops?: Array<{dev?: string}>}
  return [r.dev, ...(r.nexthops ?? []).map((h) => h.dev)].filter((d): d is string => d !== undefined)
}

/** Routes in `now` not in `base`, and routes of `base` gone from `now`, but those of `own` devices. */
function routeChanges(base: string[], now: string[], own: Set<string>): {added: string[]; gone: string[]} {
  const ours = (r: string) => routeDevs(r).some((d) => own.has(d))
  const b = new Set(base)
  const n = new Set(now)
  return {added: now.filter((r) => !b.has(r) && !ours(r)), gone: base.filter((r) => !n.has(r) && !ours(r))}
}

/**
 * Everything on the node, in the pod and in the bystander besides the attachment (`own`: its node
 * side; `ownPod`: its pod side), and the canaries.
 */
function outside(when: string, base: Snap, s: Snap, own: Set<string>, ownPod: Set<string>): string[] {
  const p: string[] = []
  if (s.canary) p.push(`after ${when}: the canary file exists: a command beyond the plan ran`)
  if ('fzc0' in s.node) p.push(`after ${when}: the canary link fzc0 exists: a command beyond the plan ran`)
  // The worker sends a snapshot equal to the base as none at all (FuzzSandbox.unpack): nothing changed.
  if (s === base) return p
  if (J(s.ports) !== J(base.ports))
    p.push(`after ${when}: the bridge fzb0's ports changed: ${J(base.ports)} -> ${J(s.ports)}`)
  if (J(s.by) !== J(base.by))
    p.push(`after ${when}: the bystander namespace's links changed: ${J(base.by)} -> ${J(s.by)}`)
  if (J(s.byRoutes) !== J(base.byRoutes))
    p.push(`after ${when}: the bystander namespace's routes changed: ${J(base.byRoutes)} -> ${J(s.byRoutes)}`)
  for (const n of Object.keys(base.node)) {
    if (J(base.node[n]) !== J(s.node[n]))
      p.push(`after ${when}: node link ${n} changed: ${J(base.node[n])} -> ${J(s.node[n])}`)
  }
  for (const n of Object.keys(s.node)) {
    if (!(n in base.node) && !own.has(n))
      p.push(`after ${when}: a new node link ${J(fromLatin1(n))} that is not the attachment's`)
  }
  const node = routeChanges(base.nodeRoutes, s.nodeRoutes, own)
  for (const r of node.added) p.push(`after ${when}: a new node route ${r}`)
  for (const r of node.gone) p.push(`after ${when}: node route ${r} is gone`)
  // The pod's other links (its loopback, an earlier attachment) and their routes stay as they were.
  for (const n of Object.keys(base.podState.links)) {
    if (J(base.podState.links[n]) !== J(s.podState.links[n]))
      p.push(
        `after ${when}: pod link ${J(fromLatin1(n))} changed: ${J(base.podState.links[n])} -> ${J(s.podState.links[n])}`,
      )
  }
  const pod = routeChanges(base.podState.routes, s.podState.routes, ownPod)
  for (const r of pod.added) p.push(`after ${when}: a new pod route ${r}`)
  for (const r of pod.gone) p.push(`after ${when}: pod route ${r} is gone`)
  return p
}

function problems(c: FuzzCase, o: Observation): string[] {
  const p: string[] = []
  const {base, afterAdd, afterDel} = o
  const ok = o.add.exitCode === 0
  const res = ok ? parseJson(o.add.stdout) : undefined
  const ifname = c.env.CNI_IFNAME!
  let own = new Set<string>()
  if (ok) {
    const ifaces: any[] = Array.isArray(res?.interfaces) ? res.interfaces : []
    const pod = ifaces.findIndex((i) => i?.sandbox !== undefined && i?.name === ifname)
    const host = ifaces.filter((i) => i?.sandbox === undefined).at(-1)
    own = new Set(host?.name ? [latin1(host.name)] : [])
    if (!res || typeof res !== 'object') p.push(`ADD exited 0 without a result: ${J(o.add.stdout.slice(0, 300))}`)
    else {
      const conf = parseJson(c.stdin)
      if (res.cniVersion !== conf?.cniVersion)
        p.push(`the result's cniVersion ${J(res.cniVersion)} is not the config's`)
      if (pod < 0) p.push(`the result has no interface named ${J(ifname)} in a sandbox: ${J(ifaces)}`)
      else if (ifaces[pod].sandbox !== c.env.CNI_NETNS) {
        p.push(`the pod interface's sandbox ${J(ifaces[pod].sandbox)} is not CNI_NETNS ${J(c.env.CNI_NETNS)}`)
      }
      if (!host) p.push('the result has no node-side interface')
      const newNode = Object.keys(afterAdd.node).filter((n) => !(n in base.node))
      if (host && !newNode.includes(latin1(host.name)))
        p.push(`the result's node interface ${J(host.name)} is not a new node link`)
      // What the IPAM said: the stub's result, or (cnidbg-ipam) some address with a gateway.
      const ipam = c.stub ? parseJson(c.ipam) : undefined
      const fromIpam: any[] = Array.isArray(res.ips) ? res.ips.filter((ip: any) => ip?.interface === pod) : []
      const want: any[] = c.stub ? (Array.isArray(ipam?.ips) ? ipam.ips : []) : fromIpam
      const got: any[] = Array.isArray(res.ips) ? res.ips.slice(-want.length || undefined) : []
      for (const ip of fromIpam) {
        if (
          typeof ip.address !== 'string' ||
          !parseCIDR(ip.address) ||
          (ip.gateway !== undefined && !parseIP(String(ip.gateway)))
        ) {
          p.push(`result ip ${J(ip)} is not an address and a gateway`)
        }
      }
      if (want.length === 0 || got.length !== want.length)
        p.push(`the result's ips ${J(res.ips)} are not the IPAM result's ${J(want)}`)
      want.forEach((w, k) => {
        const g = got[k]
        if (!g || !sameIP(g.address, w.address) || !sameIP(g.gateway, w.gateway) || g.interface !== pod) {
          p.push(`result ips[${k}] ${J(g)} is not the IPAM result's ${J(w)} on interface ${pod}`)
        }
      })
      const wantRoutes: any[] = Array.isArray(ipam?.routes) ? ipam.routes : []
      const gotRoutes: any[] = Array.isArray(res.routes) ? res.routes : []
      for (const w of wantRoutes) {
        if (
          !gotRoutes.some(
            (g) => sameIP(g?.dst, w?.dst) && (w?.gw === undefined || w?.gw === '' ? !g?.gw : sameIP(g?.gw, w?.gw)),
          )
        ) {
          p.push(`the IPAM route ${J(w)} is not in the result's routes ${J(gotRoutes)}`)
        }
      }
    }
    // The pod got exactly one interface, named exactly CNI_IFNAME.
    const added = afterAdd.pod.filter((n) => !base.pod.includes(n))
    if (J(added) !== J([latin1(ifname)]))
      p.push(`the pod's new links are ${J(added.map(fromLatin1))}, not [${J(ifname)}]`)
    if (o.gc) {
      if (o.gc.exitCode !== 0 && errorProblem('GC', o.gc)) p.push(errorProblem('GC', o.gc)!)
      const [before, after] = [afterAdd, o.gc.snap].map((s) => Object.keys(s.node).sort().map(fromLatin1))
      if (J(before) !== J(after)) {
        p.push(`a GC listing the attachment as valid changed the node's links: ${J(before)} -> ${J(after)}`)
      }
    }
  } else {
    const e = errorProblem('ADD', o.add)
    if (e) p.push(e)
  }
  const ownPod = new Set(ok ? [latin1(ifname)] : [])
  p.push(...outside('ADD', base, afterAdd, own, ownPod))
  if (o.gc) p.push(...outside('GC', base, o.gc.snap, own, ownPod))
  // DEL is best effort: it may fail on input it cannot use, but only with an error object, and
  // after a successful ADD it must succeed.
  if (o.del.exitCode !== 0) {
    const e = errorProblem('DEL', o.del)
    if (e) p.push(e)
    else if (ok) p.push(`DEL after a successful ADD failed: ${o.del.stdout.trim()}`)
  }
  p.push(...outside('DEL', base, afterDel, new Set(), new Set()))
  if (J(afterDel.pod) !== J(base.pod)) p.push(`after DEL the pod still has ${J(afterDel.pod.map(fromLatin1))}`)
  if (o.leases.length) p.push(`after DEL cnidbg-ipam still holds ${J(o.leases)}`)
  if (o.unrestored.length) p.push(`the sandbox could not be restored after this case: ${o.unrestored.join('; ')}`)
  return p
}

// ---------------------------------------------------------------------------------------------------
// Running.

const dir = await bundle(t)
await buildWorker(dir)
const timings: string[] = []

/** What the parts of one class found, summed. */
interface ClassStats {
  cases: number
  added: number
  cpu: number
  profile: Profile
  failed: boolean
}
const stats = new Map<string, ClassStats>()

/** One part of a class: `runs` cases from seed SEED + seedOffset, in sandbox `sb`. */
interface Part {
  label: string
  mode: FuzzCase['mode']
  runs: number
  seedOffset: number
}

async function fuzzPart(t: Test, sb: FuzzSandbox, {label, mode, runs, seedOffset}: Part): Promise<void> {
  const arb = CLASSES[label] ?? ALL
  const st = stats.get(label) ?? {cases: 0, added: 0, cpu: 0, profile: {}, failed: false}
  stats.set(label, st)
  const cpu0 = sb.cpuSeconds()
  const prop = fc.asyncProperty(arb, async (input) => {
    const c = toCase(input, mode)
    const o = await sb.run(c)
    st.cases++
    if (o.add.exitCode === 0) st.added++
    for (const [k, v] of Object.entries(o.profile ?? {})) {
      const e = (st.profile[k] ??= [0, 0, 0])
      v.forEach((x, i) => (e[i] += x))
    }
    const found = problems(substitute(c, sb.world), o)
    if (found.length) throw new Error(found.join('\n'))
  })
  const details = await fc.check(prop, {
    seed: SEED + seedOffset,
    numRuns: runs,
    ...(PATH ? {path: PATH} : {}),
    verbose: 0,
  })
  st.cpu += sb.cpuSeconds() - cpu0
  if (!details.failed) return
  st.failed = true
  const ce = details.counterexample?.[0]
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)
  t.fail(`${label}: the plugin broke its contract`, {
    diagnostic: true,
    seed: details.seed,
    path: details.counterexamplePath,
    replay: `CNIDBG_FUZZ_SEED=${details.seed} CNIDBG_FUZZ_PATH='${details.counterexamplePath}' CNIDBG_FUZZ_ONLY='${label}' npx tap test/reference-plugin/fuzz.ts`,
    counterexample: ce === undefined ? undefined : J(ce),
    case: ce === undefined ? undefined : toCase(ce, mode),
    problems: error.split('\n'),
    shrinks: details.numShrinks,
  })
}

const wanted = (label: string) => !ONLY || ONLY === label

/**
 * CPU milliseconds a case of each class costs, roughly (CNIDBG_FUZZ_PROFILE prints them): the costliest
 * parts start first, so the last ones to finish are short.
 */
const COST: Record<string, number> = {
  'shell front': 80,
  'IPAM result': 25,
  CNI_ARGS: 18,
  config: 15,
  CNI_IFNAME: 12,
  CNI_NETNS: 8,
  CNI_CONTAINERID: 6,
}
/** Cases per part: small enough that the lanes end together, large enough for fast-check to shrink in. */
const PART = 250

/**
 * Every class is cut into parts of PART cases, each run from its own seed (SEED, SEED + 1, …), and the
 * parts run in lanes, each lane a sandbox taking the next part as soon as it is free. A case spends
 * part of its time waiting for the kernel (a veth's deletion waits for RCU grace periods), so a few
 * more lanes than cores keep both cores busy. A failure's replay line names its part's seed; a replay
 * (CNIDBG_FUZZ_PATH set) runs one part of the class from that seed.
 */
function parts(): Part[] {
  const out: Part[] = []
  for (const label of [...Object.keys(CLASSES), 'shell front'].filter(wanted)) {
    const mode = label === 'shell front' ? 'front' : 'inproc'
    const total = mode === 'front' ? FRONT_RUNS : RUNS
    const n = PATH ? 1 : Math.max(1, Math.ceil(total / PART))
    for (let k = 0; k < n; k++) {
      const runs = Math.floor(total / n) + (k < total % n ? 1 : 0)
      if (runs > 0) out.push({label, mode, runs, seedOffset: k})
    }
  }
  return out.sort((a, b) => (COST[b.label] ?? 1) * b.runs - (COST[a.label] ?? 1) * a.runs)
}
const LANES = Number(process.env.CNIDBG_FUZZ_LANES ?? 6)
const ALL = fc.oneof(...Object.values(CLASSES))

// The worker refuses a case that could name a process outside its sandbox, and the run fails: the
// generators must never make one. Checked on values drawn from this run's seed, in a stand-in world.
t.test('the generators name no process outside the sandbox', async (t) => {
  const world: World = {
    bridge: 'fzb0',
    clink: 'fzc0',
    canary: '/tmp/cnidbg-fz000000-x/canary',
    podName: 'cnidbg-fz000000-pod',
    pod: '/run/netns/cnidbg-fz000000-pod',
    podPid: 4242,
    byName: 'cnidbg-fz000000-by',
    by: '/run/netns/cnidbg-fz000000-by',
    byPid: 1263,
    tmp: '/tmp/cnidbg-fz000000-x',
    cwd: '/tmp/cnidbg-fz000000-x/cwd',
    stubDir: '/tmp/cnidbg-fz000000-x/stub',
    plugins: '/tmp/cnidbg-plugins-x',
    front: '/tmp/cnidbg-plugins-x/cnidbg-ref',
  }
  const pids = new Set([String(world.podPid), String(world.byPid)])
  const refused = (i: Input) => foreignPid(substitute(toCase(i, 'inproc'), world), pids)
  // Values the generators once made: a sign, a digit or "0x" before a pid, a digit after one.
  for (const v of [
    '-{BYPID}\nnetns exec {BYNAME} touch {CANARY} #',
    '+{PODPID}',
    '0x{BYPID}',
    '0{BYPID}',
    '{BYPID}7',
  ]) {
    t.equal(refused({netns: noForeignPid(separatePids(v))}), undefined, `CNI_NETNS ${J(v)}`)
    t.equal(refused({args: separatePids(` netns ${v}`)}), undefined, `CNI_ARGS ${J(` netns ${v}`)}`)
  }
  for (const [label, arb] of Object.entries(CLASSES)) {
    // Values beyond those the run's parts draw (seeds SEED + 0, 1, …).
    const bad = fc.sample(arb, {seed: SEED + 1000, numRuns: 2000}).filter((i) => refused(i) !== undefined)
    t.same(bad.slice(0, 3), [], `${label}: no generated value names a process outside the sandbox`)
  }
})

t.test('cnidbg-ref keeps its contract under hostile input', async (t) => {
  const queue = parts()
  const busy: string[] = []
  // Settled, not all: a lane that breaks must not end the test (and its sandboxes) under the others.
  const lanes = await Promise.allSettled(
    Array.from({length: Math.min(LANES, queue.length)}, async (_, n) => {
      const sb = await FuzzSandbox.create(t, `lane ${n}`, dir)
      const start = performance.now()
      let part: Part | undefined
      while ((part = queue.shift())) await fuzzPart(t, sb, part)
      busy.push(((performance.now() - start) / 1000).toFixed(1))
    }),
  )
  for (const l of lanes)
    if (l.status === 'rejected') t.fail(`a fuzz lane broke: ${String(l.reason?.stack ?? l.reason)}`)
  for (const [label, st] of stats) {
    const line = `${label}: ${st.cases} cases (${st.added} ADDs succeeded), ${st.cpu.toFixed(1)} CPU s`
    timings.push(line)
    t.comment(line)
    if (st.cases && Object.keys(st.profile).length) {
      const per = (x: number) => (x / st.cases).toFixed(2)
      timings.push(
        `  per case, in the worker (ms of wall time, worker CPU, children's CPU):`,
        ...Object.entries(st.profile).map(([k, [w, c, ch]]) => `    ${k}: ${per(w)}, ${per(c)}, ${per(ch)}`),
      )
    }
    if (!st.failed) t.pass(`${label}: ${st.cases} cases kept the contract`)
  }
  timings.push(`lanes busy (s): ${busy.join(', ')}`)
})

t.teardown(() => {
  timings.push(`whole file: ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  process.stderr.write(`fuzz timings (seed ${SEED}):\n  ${timings.join('\n  ')}\n`)
})
