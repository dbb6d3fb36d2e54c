/**
 * The broken-plugin fixtures (fixtures/plugins) are the conformance suite's own test, so they are
 * tested too. For each fixture a scenario is run twice, each in its own throwaway Sandbox, as a
 * runtime would run the plugin: once with the fixture, which must really misbehave (the kernel, the
 * IPAM store or a spy shows it), and once with the correct plugin it wraps, which must not. A fixture
 * whose misbehaviour does not happen would let the suite's self-test pass for the wrong reason.
 *
 * A third sandbox runs the fixture through the plain lifecycle with its own config, which must work
 * except where the mutation shows (isolation()).
 *
 * The cases are split over several test files (test/fixtures-selftest/mutants-*.ts) by area, so tap
 * runs them in parallel and each stays well inside the per-file timeout.
 */
import {mkdirSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'

import type {Test} from 'tap'

import {createSpy, readSpyLog, spyCalls} from '../../src/checks/spy/control.js'
import {
  CniHarness,
  FIXTURE_BIN,
  fixtureConflist,
  REPO,
  requestConf,
  UPSTREAM_DIR,
  type CniCall,
  type Json,
} from './cni-harness.js'
import {assertNothingLeft, machineState} from './machine.js'
import {bundleSpy} from './spy-bundle.js'

export interface ManifestEntry {
  name: string
  conf: string
  role: 'interface' | 'chained' | 'ipam'
  breaks: string[]
  area: string
  level: 'must' | 'should'
  tier: 'core' | 'extended'
  versions?: string[]
  needs?: string[]
  description: string
}

export const MANIFEST = JSON.parse(
  readFileSync(join(REPO, 'fixtures/plugins/manifest.json'), 'utf8'),
) as ManifestEntry[]
export const MUTANT = join(REPO, 'fixtures/plugins/mutant.cjs')

/** Which test file (test/fixtures-selftest/mutants-<group>.ts) runs which manifest areas. */
export const AREA_GROUPS = {
  io: ['process-io', 'robustness', 'env', 'config', 'args', 'errors', 'version'],
  result: ['result', 'add', 'ipam', 'concurrency', 'chaining'],
  'del-check': ['del', 'check'],
  delegation: ['status', 'gc', 'delegation'],
} as const

/** A plugin under a scenario: its executable and the request config it is given. */
export interface Plugin {
  path: string
  conf: Json
  kind: 'mutant' | 'control'
}

/**
 * What the fixture wraps, and so what it is compared with. `ok-ptp` is ptp behind the mutant's base,
 * which gives a delegate that failed ADD its DEL (P106), as Debian's ptp does not.
 */
type Control = 'ptp' | 'ok-ptp' | 'ok-ptp11' | 'host-local' | 'tuning'

interface Ctx {
  workDir: string
  /** CNI_PATH with the bundled spy first (for the cases with `spy: true`). */
  spyCniPath: string
}

interface Case {
  control?: Control
  /** Needs the spy IPAM on CNI_PATH. */
  spy?: boolean
  scenario: (h: CniHarness, p: Plugin, ctx: Ctx) => Promise<Json>
  broken: (t: Test, o: Json) => void
  correct: (t: Test, o: Json) => void
}

// ---- scenario helpers ------------------------------------------------------------------------------

const withConf = (p: Plugin, over: Json): Json => ({...structuredClone(p.conf), ...over})
const withPrev = (conf: Json, prev: Json | undefined): Json => ({...conf, prevResult: prev})
export const add = (h: CniHarness, p: Plugin, over: Json = {}, opts: Partial<Parameters<CniHarness['call']>[1]> = {}) =>
  h.call(p.path, {verb: 'ADD', conf: withConf(p, over), ...opts})
const dataDir = (p: Plugin): string => p.conf.ipam.dataDir as string
const cids = (h: CniHarness, p: Plugin): string[] =>
  h
    .reservations(dataDir(p), p.conf.name as string)
    .map((r) => r.cid)
    .sort()
const summary = (r: CniCall) => ({exit: r.exitCode, stdout: r.stdout, stderr: r.stderr, json: r.json})
export const sandboxIface = (res: Json | undefined, ifname = 'eth0'): Json | undefined =>
  (res?.interfaces as Json[] | undefined)?.find((i) => i.name === ifname && i.sandbox)

/** ADD → CHECK with the result as prevResult → DEL: the lie must not break the rest of the lifecycle. */
export async function lifecycle(h: CniHarness, p: Plugin, over: Json = {}): Promise<Json> {
  const a = await add(h, p, over)
  const conf = withPrev(withConf(p, over), a.json)
  const c = await h.call(p.path, {verb: 'CHECK', conf})
  const d = await h.call(p.path, {verb: 'DEL', conf})
  const c0 = await h.container()
  return {add: summary(a), check: c.exitCode, del: d.exitCode, eth0After: Boolean(await h.link(c0, 'eth0'))}
}

export function lifecycleOk(t: Test, o: Json): void {
  t.equal(o.add.exit, 0, 'ADD succeeds')
  t.equal(o.check, 0, 'CHECK with the ADD result as prevResult succeeds')
  t.equal(o.del, 0, 'DEL succeeds')
  t.notOk(o.eth0After, 'DEL removed eth0')
}

// ---- the cases: one per fixture --------------------------------------------------------------------

const UNSUPPORTED = {cniVersion: '0.9.9'}

export const CASES: Record<string, Case> = {
  // process I/O
  'broken-exit0-on-error': {
    scenario: async (h, p) => summary(await add(h, p, UNSUPPORTED)),
    broken: (t, o) => {
      t.equal(o.exit, 0, 'exits 0…')
      t.equal(o.json?.code, 1, '…with an error object (code 1) on stdout')
    },
    correct: (t, o) => {
      t.not(o.exit, 0, 'exits non-zero')
      t.equal(o.json?.code, 1, 'error code 1')
    },
  },
  'broken-nonzero-on-success': {
    scenario: async (h, p) => ({...summary(await add(h, p)), eth0: Boolean(await h.link(await h.container(), 'eth0'))}),
    broken: (t, o) => {
      t.equal(o.exit, 1, 'exits 1…')
      t.ok(o.json?.ips?.length, '…after printing a success result')
      t.ok(o.eth0, 'and eth0 was set up')
    },
    correct: (t, o) => t.equal(o.exit, 0, 'exits 0'),
  },
  'broken-stdout-noise': {
    scenario: async (h, p) => summary(await add(h, p)),
    broken: (t, o) => {
      t.equal(o.exit, 0)
      t.equal(o.json, undefined, 'stdout is not one JSON value')
      t.match(o.stdout, /^ptp: set up eth0 .*\n\{/, 'a log line precedes the result')
    },
    correct: (t, o) => t.equal(o.json?.cniVersion, '1.0.0', 'stdout is exactly the result'),
  },
  'broken-two-json': {
    scenario: async (h, p) => summary(await add(h, p)),
    broken: (t, o) => {
      t.equal(o.json, undefined, 'stdout is not one JSON value')
      t.equal(o.stdout.split('"cniVersion"').length - 1, 2, 'it holds two result objects')
    },
    correct: (t, o) => t.equal(o.json?.cniVersion, '1.0.0'),
  },
  'broken-error-on-stderr': {
    scenario: async (h, p) => summary(await add(h, p, UNSUPPORTED)),
    broken: (t, o) => {
      t.not(o.exit, 0)
      t.equal(o.stdout, '', 'nothing on stdout')
      t.match(o.stderr, /incompatible CNI versions/, 'the error is text on stderr')
    },
    correct: (t, o) => t.equal(o.json?.code, 1, 'error object on stdout'),
  },
  'broken-check-prints': {
    scenario: async (h, p) => {
      const a = await add(h, p)
      const c = await h.call(p.path, {verb: 'CHECK', conf: withPrev(p.conf, a.json)})
      return summary(c)
    },
    broken: (t, o) => {
      t.equal(o.exit, 0, 'CHECK succeeds…')
      t.not(o.stdout.trim(), '', '…and prints something')
    },
    correct: (t, o) => {
      t.equal(o.exit, 0)
      t.equal(o.stdout.trim(), '', 'a successful CHECK prints nothing')
    },
  },
  'broken-hang-add': {
    scenario: async (h, p) => {
      const r = await add(h, p, {}, {timeoutMs: 1500})
      return {timedOut: r.timedOut, exit: r.exitCode}
    },
    broken: (t, o) => t.ok(o.timedOut, 'ADD had to be killed at the timeout'),
    correct: (t, o) => {
      t.notOk(o.timedOut, 'ADD returns')
      t.equal(o.exit, 0)
    },
  },
  'broken-flood-stdout': {
    scenario: async (h, p) => {
      const r = await add(h, p, {}, {maxOutputBytes: 1 << 20})
      return {capped: r.outputLimitExceeded, exit: r.exitCode, bytes: r.stdout.length}
    },
    broken: (t, o) => t.ok(o.capped, 'stdout ran past the 1 MiB cap and the plugin was killed'),
    correct: (t, o) => {
      t.notOk(o.capped)
      t.equal(o.exit, 0)
    },
  },

  // environment and ifname
  'broken-ifname-ignored': {
    scenario: async (h, p) => {
      const r = await add(h, p, {}, {ifname: 'net1'})
      const c0 = await h.container()
      return {exit: r.exitCode, net1: Boolean(await h.link(c0, 'net1')), mut0: Boolean(await h.link(c0, 'mut0'))}
    },
    broken: (t, o) => {
      t.equal(o.exit, 0)
      t.notOk(o.net1, 'no link named CNI_IFNAME (net1)')
      t.ok(o.mut0, 'the link is called mut0 instead')
    },
    correct: (t, o) => t.ok(o.net1, 'net1 exists'),
  },
  'broken-ifname-truncate': {
    scenario: async (h, p) => {
      const r = await add(h, p, {}, {ifname: 'abcdefghijklmnop'})
      return {exit: r.exitCode, cut: Boolean(await h.link(await h.container(), 'abcdefghijklmno'))}
    },
    broken: (t, o) => {
      t.equal(o.exit, 0, 'a 16-character name is accepted')
      t.ok(o.cut, 'and silently cut to 15 characters')
    },
    correct: (t, o) => {
      t.not(o.exit, 0, 'a 16-character name fails')
      t.notOk(o.cut, 'nothing created')
    },
  },
  'broken-env-error-vague': {
    scenario: async (h, p) => summary(await add(h, p, {}, {ifname: null})),
    broken: (t, o) => {
      t.equal(o.json?.code, 4)
      t.notMatch(o.stdout, /CNI_IFNAME/, 'the message does not name the variable')
    },
    correct: (t, o) => {
      t.equal(o.json?.code, 4)
      t.match(o.stdout, /CNI_IFNAME/, 'the message names CNI_IFNAME')
    },
  },

  // stdin config
  'broken-rejects-args': {
    scenario: async (h, p) =>
      summary(await add(h, p, {args: {cni: {labels: [{key: 'team', value: 'net'}]}, 'vendor.x': {y: 1}}})),
    broken: (t, o) => {
      t.not(o.exit, 0, 'ADD fails on args it does not understand')
      t.equal(o.json?.code, 2)
    },
    correct: (t, o) => t.equal(o.exit, 0, 'ADD ignores unknown args'),
  },
  'broken-rejects-reserved-keys': {
    scenario: async (h, p) => summary(await add(h, p, {capabilities: {portMappings: true}, 'cni.dev/foo': 1})),
    broken: (t, o) => t.not(o.exit, 0, 'ADD fails on capabilities / cni.dev/*'),
    correct: (t, o) => t.equal(o.exit, 0, 'ADD tolerates them'),
  },
  'broken-malformed-json-ok': {
    scenario: async (h, p) => summary(await h.call(p.path, {verb: 'ADD', conf: '{not json'})),
    broken: (t, o) => t.equal(o.exit, 0, 'garbage on stdin gets exit 0'),
    correct: (t, o) => {
      t.not(o.exit, 0)
      t.equal(o.json?.code, 6, 'decode error, code 6')
    },
  },
  'broken-code2-no-value': {
    scenario: async (h, p) => summary(await add(h, p, {cnidbgUnknownKey: 'zebra-42'})),
    broken: (t, o) => {
      t.equal(o.json?.code, 2, 'code 2 for the unknown key')
      t.match(o.stdout, /cnidbgUnknownKey/, 'names the key')
      t.notMatch(o.stdout, /zebra-42/, 'but not its value')
    },
    correct: (t, o) => t.notOk(o.json?.code === 2 && !o.stdout.includes('zebra-42'), 'no code 2 without the value'),
  },

  // versions
  'broken-version-no-supported': {
    scenario: async (h, p) => summary(await h.call(p.path, {verb: 'VERSION', conf: {cniVersion: '1.1.0'}})),
    broken: (t, o) => {
      t.equal(o.exit, 0)
      t.equal(o.json?.supportedVersions, undefined, 'no supportedVersions')
    },
    correct: (t, o) => t.ok(Array.isArray(o.json?.supportedVersions) && o.json.supportedVersions.length > 0),
  },
  'broken-version-bad-semver': {
    scenario: async (h, p) => summary(await h.call(p.path, {verb: 'VERSION', conf: {cniVersion: '1.1.0'}})),
    broken: (t, o) =>
      t.ok(
        (o.json?.supportedVersions as string[]).some((v) => !/^\d+\.\d+\.\d+$/.test(v)),
        'an entry is not semver',
      ),
    correct: (t, o) => t.ok((o.json?.supportedVersions as string[]).every((v) => /^\d+\.\d+\.\d+$/.test(v))),
  },
  'broken-result-version-mismatch': {
    scenario: async (h, p) => lifecycle(h, p),
    broken: (t, o) => {
      t.equal(o.add.json?.cniVersion, '1.1.0', 'a 1.0.0 request gets a result labelled 1.1.0')
      lifecycleOk(t, o)
    },
    correct: (t, o) => {
      t.equal(o.add.json?.cniVersion, '1.0.0')
      lifecycleOk(t, o)
    },
  },
  'broken-result-no-cniversion': {
    scenario: async (h, p) => lifecycle(h, p),
    broken: (t, o) => {
      t.equal(o.add.json?.cniVersion, undefined, 'no cniVersion in the result')
      lifecycleOk(t, o)
    },
    correct: (t, o) => t.equal(o.add.json?.cniVersion, '1.0.0'),
  },
  'broken-ips-version-missing': {
    scenario: async (h, p) => lifecycle(h, p, {cniVersion: '0.4.0'}),
    broken: (t, o) => {
      t.equal(o.add.json?.cniVersion, '0.4.0')
      t.equal(o.add.json?.ips?.[0]?.version, undefined, 'a 0.4.0 result without ips[].version')
      lifecycleOk(t, o)
    },
    correct: (t, o) => t.equal(o.add.json?.ips?.[0]?.version, '4'),
  },
  'broken-ips-version-present': {
    scenario: async (h, p) => lifecycle(h, p, {cniVersion: '1.0.0'}),
    broken: (t, o) => {
      t.equal(o.add.json?.ips?.[0]?.version, '4', 'a 1.0.0 result with ips[].version')
      lifecycleOk(t, o)
    },
    correct: (t, o) => t.equal(o.add.json?.ips?.[0]?.version, undefined),
  },
  'broken-accepts-unsupported-version': {
    scenario: async (h, p) => ({
      ...summary(await add(h, p, UNSUPPORTED)),
      eth0: Boolean(await h.link(await h.container(), 'eth0')),
    }),
    broken: (t, o) => {
      t.equal(o.exit, 0, 'cniVersion 0.9.9 is accepted')
      t.equal(o.json?.cniVersion, '0.9.9')
      t.ok(o.eth0, 'and the interface is set up')
    },
    correct: (t, o) => {
      t.equal(o.json?.code, 1, 'code 1: incompatible version')
      t.notOk(o.eth0)
    },
  },

  // ADD and its result
  'broken-ifname-exists-ok': {
    scenario: async (h, p) => {
      const c0 = await h.container()
      await h.ip(c0, ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0peer'])
      const pre = await h.link(c0, 'eth0')
      const r = await add(h, p)
      const post = await h.link(c0, 'eth0')
      return {exit: r.exitCode, same: pre?.ifindex === post?.ifindex && pre?.address === post?.address}
    },
    broken: (t, o) => {
      t.equal(o.exit, 0, 'ADD succeeds though eth0 already exists')
      t.ok(o.same, 'the existing link is untouched')
    },
    correct: (t, o) => {
      t.not(o.exit, 0, 'ADD fails')
      t.ok(o.same, 'the existing link is untouched')
    },
  },
  'broken-phantom-ip': {
    scenario: async (h, p) => {
      const a = await add(h, p)
      const ips = ((a.json?.ips ?? []) as Json[]).map((i) => String(i.address))
      const real = (await h.addrs(await h.container(), 'eth0')).map((x) => `${x.local}/${x.prefixlen}`)
      const c = await h.call(p.path, {verb: 'CHECK', conf: withPrev(p.conf, a.json)})
      return {ips, real, check: c.exitCode}
    },
    broken: (t, o) => {
      t.ok(o.ips.includes('192.0.2.77/24'), 'the result reports 192.0.2.77/24…')
      t.notOk(o.real.includes('192.0.2.77/24'), '…which is not on eth0')
      t.equal(o.check, 0, 'CHECK still passes')
    },
    correct: (t, o) =>
      t.ok(
        o.ips.every((a: string) => o.real.includes(a)),
        'every reported address is on eth0',
      ),
  },
  'broken-phantom-interface': {
    scenario: async (h, p) => {
      const a = await add(h, p)
      const hostSide = ((a.json?.interfaces ?? []) as Json[]).filter((i) => !i.sandbox).map((i) => String(i.name))
      const hostLinks = (await h.links()).map((l) => String(l.ifname))
      const c = await h.call(p.path, {verb: 'CHECK', conf: withPrev(p.conf, a.json)})
      return {hostSide, hostLinks, check: c.exitCode}
    },
    broken: (t, o) => {
      t.ok(o.hostSide.includes('ghost0'), 'the result lists ghost0')
      t.notOk(o.hostLinks.includes('ghost0'), 'which does not exist')
      t.equal(o.check, 0, 'CHECK still passes')
    },
    correct: (t, o) =>
      t.ok(
        o.hostSide.every((n: string) => o.hostLinks.includes(n)),
        'every host interface exists',
      ),
  },
  'broken-wrong-mac': {
    scenario: async (h, p) => {
      const a = await add(h, p)
      const link = await h.link(await h.container(), 'eth0')
      const c = await h.call(p.path, {verb: 'CHECK', conf: withPrev(p.conf, a.json)})
      return {reported: sandboxIface(a.json)?.mac, real: link?.address, check: c.exitCode}
    },
    broken: (t, o) => {
      t.not(o.reported, o.real, 'the reported mac is not the link address')
      t.equal(o.check, 0, 'CHECK still passes')
    },
    correct: (t, o) => t.equal(o.reported, o.real),
  },
  'broken-bare-ip': {
    scenario: async (h, p) => lifecycle(h, p),
    broken: (t, o) => {
      t.notMatch(o.add.json?.ips?.[0]?.address, /\//, 'the address has no prefix length')
      lifecycleOk(t, o)
    },
    correct: (t, o) => t.match(o.add.json?.ips?.[0]?.address, /\/24$/),
  },
  'broken-iface-index': {
    scenario: async (h, p) => lifecycle(h, p),
    broken: (t, o) => {
      t.ok(o.add.json.ips[0].interface >= o.add.json.interfaces.length, 'ips[].interface is out of range')
      lifecycleOk(t, o)
    },
    correct: (t, o) => t.ok(o.add.json.ips[0].interface < o.add.json.interfaces.length),
  },
  'broken-phantom-route': {
    scenario: async (h, p) => {
      const a = await add(h, p)
      const table = (await h.routes(await h.container())).map((r) => String(r.dst))
      const conf = withPrev(p.conf, a.json)
      const c = await h.call(p.path, {verb: 'CHECK', conf})
      const d = await h.call(p.path, {verb: 'DEL', conf})
      return {
        reported: ((a.json?.routes ?? []) as Json[]).map((r) => String(r.dst)),
        table,
        check: c.exitCode,
        del: d.exitCode,
      }
    },
    broken: (t, o) => {
      t.ok(o.reported.includes('198.51.100.0/24'), 'the result reports 198.51.100.0/24')
      t.notOk(o.table.includes('198.51.100.0/24'), 'which is not in the container table')
      t.same([o.check, o.del], [0, 0], 'CHECK and DEL still pass')
    },
    correct: (t, o) =>
      t.ok(
        o.reported.every((d: string) => o.table.includes(d)),
        'every reported route exists',
      ),
  },
  'broken-mtu-wrong': {
    control: 'ok-ptp11',
    scenario: async (h, p) => {
      const a = await add(h, p)
      const link = await h.link(await h.container(), 'eth0')
      return {version: a.json?.cniVersion, reported: sandboxIface(a.json)?.mtu, real: link?.mtu}
    },
    broken: (t, o) => {
      t.equal(o.version, '1.1.0')
      t.not(o.reported, o.real, 'interfaces[].mtu is not the link MTU')
    },
    correct: (t, o) => t.equal(o.reported, o.real, 'interfaces[].mtu is the link MTU'),
  },

  // IPAM role
  'broken-ipam-interfaces': {
    control: 'host-local',
    scenario: async (h, p) => summary(await add(h, p)),
    broken: (t, o) => {
      t.equal(o.exit, 0)
      t.ok(Array.isArray(o.json?.interfaces), 'the IPAM result has interfaces')
      t.equal(o.json?.ips?.[0]?.interface, 0, 'and ips[].interface')
    },
    correct: (t, o) => {
      t.equal(o.json?.interfaces, undefined)
      t.equal(o.json?.ips?.[0]?.interface, undefined)
    },
  },
  'broken-ipam-configures': {
    control: 'host-local',
    scenario: async (h, p) => {
      const c0 = await h.container()
      const a = await add(h, p)
      const lo = (await h.addrs(c0, 'lo')).map((x) => x.local)
      await h.call(p.path, {verb: 'DEL', conf: withPrev(p.conf, a.json)})
      const loAfterDel = (await h.addrs(c0, 'lo')).map((x) => x.local)
      return {address: String(a.json?.ips?.[0]?.address ?? '').split('/')[0], lo, loAfterDel}
    },
    broken: (t, o) => {
      t.ok(o.lo.includes(o.address), 'the allocated address was configured inside CNI_NETNS')
      t.notOk(o.loAfterDel.includes(o.address), 'and DEL takes it away again')
    },
    correct: (t, o) => t.notOk(o.lo.includes(o.address), 'the netns is untouched'),
  },
  'broken-ipam-racy': {
    control: 'host-local',
    scenario: async (h, p) => {
      await h.container()
      const rs = await Promise.all([0, 1, 2, 3].map((i) => add(h, p, {}, {cid: `ctr-${i}`, ifname: 'eth0'})))
      return {exits: rs.map((r) => r.exitCode), ips: rs.map((r) => String(r.json?.ips?.[0]?.address))}
    },
    broken: (t, o) => {
      t.same(o.exits, [0, 0, 0, 0], 'all four parallel ADDs succeed')
      t.ok(new Set(o.ips).size < 4, `but hand out duplicates: ${o.ips.join(' ')}`)
    },
    correct: (t, o) => {
      t.same(o.exits, [0, 0, 0, 0])
      t.equal(new Set(o.ips).size, 4, 'four distinct addresses')
    },
  },

  // DEL
  'broken-del-not-idempotent': {
    scenario: async (h, p) => {
      const a = await add(h, p)
      const conf = withPrev(p.conf, a.json)
      const d1 = await h.call(p.path, {verb: 'DEL', conf})
      const d2 = await h.call(p.path, {verb: 'DEL', conf})
      return {add: a.exitCode, d1: d1.exitCode, d2: d2.exitCode}
    },
    broken: (t, o) => {
      t.equal(o.d1, 0, 'the first DEL works')
      t.not(o.d2, 0, 'the second fails')
    },
    correct: (t, o) => t.same([o.d1, o.d2], [0, 0], 'both DELs succeed'),
  },
  'broken-del-requires-add': {
    scenario: async (h, p) => summary(await h.call(p.path, {verb: 'DEL', conf: p.conf, cid: 'never-added'})),
    broken: (t, o) => {
      t.not(o.exit, 0, 'DEL without ADD fails')
      t.equal(o.json?.code, 3)
    },
    correct: (t, o) => t.equal(o.exit, 0, 'DEL without ADD succeeds'),
  },
  'broken-del-needs-netns': {
    scenario: async (h, p) => {
      const c0 = await h.container()
      const a = await add(h, p)
      const held = cids(h, p)
      await h.removeContainer('c0')
      const d = await h.call(p.path, {verb: 'DEL', conf: withPrev(p.conf, a.json), netns: c0.path})
      return {held, del: d.exitCode, after: cids(h, p)}
    },
    broken: (t, o) => {
      t.same(o.held, ['ctr-0'], 'ADD reserved an address')
      t.not(o.del, 0, 'DEL fails once the netns is gone')
      t.same(o.after, ['ctr-0'], 'and the reservation leaks')
    },
    correct: (t, o) => {
      t.equal(o.del, 0, 'DEL succeeds without the netns')
      t.same(o.after, [], 'and releases the address')
    },
  },
  'broken-del-needs-prevresult': {
    scenario: async (h, p) => {
      const a = await add(h, p)
      const d = await h.call(p.path, {verb: 'DEL', conf: p.conf})
      const d2 = await h.call(p.path, {verb: 'DEL', conf: withPrev(p.conf, {})})
      return {add: a.exitCode, del: d.exitCode, delEmpty: d2.exitCode}
    },
    broken: (t, o) => {
      t.not(o.del, 0, 'DEL without prevResult fails')
      t.not(o.delEmpty, 0, 'DEL with an empty prevResult fails')
    },
    correct: (t, o) => t.same([o.del, o.delEmpty], [0, 0]),
  },
  'broken-del-leaks-ipam': {
    scenario: async (h, p) => {
      const a = await add(h, p)
      const d = await h.call(p.path, {verb: 'DEL', conf: withPrev(p.conf, a.json)})
      return {del: d.exitCode, after: cids(h, p), eth0: Boolean(await h.link(await h.container(), 'eth0'))}
    },
    broken: (t, o) => {
      t.equal(o.del, 0)
      t.notOk(o.eth0, 'the interface is gone')
      t.same(o.after, ['ctr-0'], 'but the reservation is still there')
    },
    correct: (t, o) => t.same(o.after, [], 'nothing reserved after DEL'),
  },
  'broken-del-leaks-masq': {
    scenario: async (h, p) => {
      const a = await add(h, p)
      const during = await h.hostOutput('iptables-save', ['-t', 'nat'])
      const d = await h.call(p.path, {verb: 'DEL', conf: withPrev(p.conf, a.json)})
      const after = await h.hostOutput('iptables-save', ['-t', 'nat'])
      return {add: a.exitCode, del: d.exitCode, during: /-j CNI-/.test(during), after: /-j CNI-/.test(after)}
    },
    broken: (t, o) => {
      t.ok(o.during, 'ADD set up the masquerade chain')
      t.equal(o.del, 0)
      t.ok(o.after, 'DEL left it behind')
    },
    correct: (t, o) => {
      t.ok(o.during)
      t.notOk(o.after, 'DEL removed it')
    },
  },
  'broken-del-no-ipam-forward': {
    spy: true,
    scenario: async (h, p, ctx) => {
      const s = createSpy(ctx.workDir, `${p.kind}-ipam`, {
        verbs: {ADD: {ipam: {ips: [{address: '10.250.0.5/24', gateway: '10.250.0.1'}]}}},
      })
      const conf = withConf(p, {ipam: {type: 'cnidbg-spy', ...s.configKey}})
      const a = await h.call(p.path, {verb: 'ADD', conf, cniPath: ctx.spyCniPath})
      const d = await h.call(p.path, {verb: 'DEL', conf: withPrev(conf, a.json), cniPath: ctx.spyCniPath})
      return {add: a.exitCode, del: d.exitCode, verbs: readSpyLog(s.log).map((e) => e.command)}
    },
    broken: (t, o) => {
      t.same([o.add, o.del], [0, 0])
      t.same(o.verbs, ['ADD'], 'the IPAM delegate never saw DEL')
    },
    correct: (t, o) => t.same(o.verbs, ['ADD', 'DEL'], 'the IPAM delegate got DEL'),
  },

  // CHECK
  'broken-check-always-ok': {
    scenario: async (h, p) => {
      const a = await add(h, p)
      await h.ip(await h.container(), ['addr', 'flush', 'dev', 'eth0'])
      const c = await h.call(p.path, {verb: 'CHECK', conf: withPrev(p.conf, a.json)})
      return {add: a.exitCode, check: c.exitCode}
    },
    broken: (t, o) => t.equal(o.check, 0, 'CHECK passes after the address was flushed'),
    correct: (t, o) => t.not(o.check, 0, 'CHECK notices the missing address'),
  },
  'broken-check-always-fails': {
    scenario: async (h, p) => {
      const a = await add(h, p)
      const c = await h.call(p.path, {verb: 'CHECK', conf: withPrev(p.conf, a.json)})
      return {add: a.exitCode, check: c.exitCode}
    },
    broken: (t, o) => t.not(o.check, 0, 'CHECK fails right after ADD'),
    correct: (t, o) => t.equal(o.check, 0),
  },

  // STATUS and GC
  'broken-status-always-fails': {
    control: 'ok-ptp11',
    scenario: async (h, p) => {
      const s = await h.call(p.path, {verb: 'STATUS', conf: p.conf})
      const a = await add(h, p)
      return {status: summary(s), add: a.exitCode}
    },
    broken: (t, o) => {
      t.equal(o.status.json?.code, 50, 'STATUS says code 50…')
      t.equal(o.add, 0, '…yet ADD works')
    },
    correct: (t, o) => t.equal(o.status.exit, 0, 'STATUS succeeds'),
  },
  'broken-status-no-forward': {
    control: 'ok-ptp11',
    spy: true,
    scenario: async (h, p, ctx) => {
      const s = createSpy(ctx.workDir, `${p.kind}-ipam`, {verbs: {STATUS: {error: {code: 50, msg: 'pool exhausted'}}}})
      const conf = withConf(p, {ipam: {type: 'cnidbg-spy', ...s.configKey}})
      const r = await h.call(p.path, {verb: 'STATUS', conf, cniPath: ctx.spyCniPath})
      return {exit: r.exitCode, code: r.json?.code, spyStatus: spyCalls(s.log, 'STATUS').length}
    },
    broken: (t, o) => {
      t.equal(o.spyStatus, 0, 'the delegate never got STATUS')
      t.equal(o.exit, 0, "so the delegate's failure is hidden")
    },
    correct: (t, o) => {
      t.equal(o.spyStatus, 1, 'the delegate got STATUS')
      t.equal(o.code, 50, 'and its error is returned')
    },
  },
  'broken-gc-removes-valid': {
    control: 'ok-ptp11',
    scenario: async (h, p) => gcScenario(h, p),
    broken: (t, o) => {
      t.same(o.before, ['a', 'b'])
      t.same(o.after, [], "GC released the valid attachment's address too")
    },
    correct: (t, o) => {
      t.same(o.before, ['a', 'b'])
      t.same(o.after, ['a'], 'only the stale attachment was released')
    },
  },
  'broken-gc-noop': {
    control: 'ok-ptp11',
    scenario: async (h, p) => gcScenario(h, p),
    broken: (t, o) => {
      t.equal(o.gc, 0)
      t.same(o.after, ['a', 'b'], "GC left the stale attachment's address")
    },
    correct: (t, o) => t.same(o.after, ['a']),
  },
  'broken-gc-no-forward': {
    control: 'ok-ptp11',
    spy: true,
    scenario: async (h, p, ctx) => {
      const s = createSpy(ctx.workDir, `${p.kind}-ipam`)
      const conf = withConf(p, {ipam: {type: 'cnidbg-spy', ...s.configKey}})
      const valid = [{containerID: 'a', ifname: 'eth0'}]
      const r = await h.call(p.path, {
        verb: 'GC',
        conf: {...conf, 'cni.dev/valid-attachments': valid},
        cniPath: ctx.spyCniPath,
      })
      const got = spyCalls(s.log, 'GC')
      return {exit: r.exitCode, n: got.length, valid: got[0]?.config?.['cni.dev/valid-attachments']}
    },
    broken: (t, o) => {
      t.equal(o.exit, 0)
      t.equal(o.n, 0, 'the delegate never got GC')
    },
    correct: (t, o) => {
      t.equal(o.n, 1, 'the delegate got GC')
      t.same(o.valid, [{containerID: 'a', ifname: 'eth0'}], 'with the same valid attachments')
    },
  },

  // chaining and delegation
  'broken-chained-drops-prevresult': {
    control: 'tuning',
    scenario: async (h, p) => {
      const first = requestConf(fixtureConflist('broken-chained-drops-prevresult'), 0)
      const up = await h.call(join(UPSTREAM_DIR, 'ptp'), {verb: 'ADD', conf: first})
      const r = await add(h, p, {prevResult: up.json})
      return {prevIps: up.json?.ips, ips: r.json?.ips, exit: r.exitCode}
    },
    broken: (t, o) => {
      t.equal(o.exit, 0)
      t.ok(o.prevIps?.length, 'prevResult had ips')
      t.equal(o.ips, undefined, 'the output dropped them')
    },
    correct: (t, o) => t.same(o.ips, o.prevIps, 'prevResult ips passed through'),
  },
  'broken-delegate-partial-config': {
    spy: true,
    scenario: async (h, p, ctx) => {
      const s = createSpy(ctx.workDir, `${p.kind}-ipam`, {
        verbs: {ADD: {ipam: {ips: [{address: '10.250.0.5/24', gateway: '10.250.0.1'}]}}},
      })
      const conf = withConf(p, {ipam: {type: 'cnidbg-spy', ...s.configKey}})
      const a = await h.call(p.path, {verb: 'ADD', conf, cniPath: ctx.spyCniPath})
      return {add: a.exitCode, sent: conf, got: spyCalls(s.log, 'ADD')[0]?.config}
    },
    broken: (t, o) => {
      t.equal(o.add, 0)
      t.same(
        Object.keys(o.got ?? {}).sort(),
        ['cniVersion', 'ipam', 'name'],
        'the delegate got only part of the config',
      )
    },
    correct: (t, o) => t.same(o.got, o.sent, 'the delegate got the complete config'),
  },
  'broken-delegate-env': {
    spy: true,
    scenario: async (h, p, ctx) => {
      const s = createSpy(ctx.workDir, `${p.kind}-ipam`, {
        verbs: {ADD: {ipam: {ips: [{address: '10.250.0.5/24', gateway: '10.250.0.1'}]}}},
      })
      const conf = withConf(p, {ipam: {type: 'cnidbg-spy', ...s.configKey}})
      const c0 = await h.container()
      const a = await h.call(p.path, {verb: 'ADD', conf, cniPath: ctx.spyCniPath, args: 'IgnoreUnknown=1;TEAM=net'})
      const env = spyCalls(s.log, 'ADD')[0]?.env ?? {}
      // The fixture's own config (host-local) must still work: only the delegate's view is wrong.
      const own = await h.call(p.path, {verb: 'ADD', conf: p.conf, cid: 'own', netns: (await h.container('c1')).path})
      return {
        add: a.exitCode,
        env,
        want: {args: 'IgnoreUnknown=1;TEAM=net', netns: c0.path, path: ctx.spyCniPath},
        own: own.exitCode,
      }
    },
    broken: (t, o) => {
      t.equal(o.add, 0)
      t.equal(o.env.CNI_ARGS, undefined, 'the delegate got no CNI_ARGS')
      t.not(o.env.CNI_PATH, o.want.path, 'and another CNI_PATH')
      t.equal(o.env.CNI_NETNS, o.want.netns, 'the rest is as given')
      t.equal(o.own, 0, 'with host-local the fixture works')
    },
    correct: (t, o) => {
      t.equal(o.env.CNI_ARGS, o.want.args)
      t.equal(o.env.CNI_PATH, o.want.path)
      t.equal(o.env.CNI_NETNS, o.want.netns)
      t.equal(o.own, 0)
    },
  },

  // args / CNI_ARGS
  'broken-cniargs-precedence': {
    scenario: async (h, p) => {
      const net = String(p.conf.ipam.subnet).replace(/\.0\/24$/, '')
      const r = await add(h, p, {args: {cni: {ips: [`${net}.7`]}}}, {args: `IgnoreUnknown=1;IP=${net}.9`})
      const got = ((r.json?.ips ?? []) as Json[]).map((i) => String(i.address).split('/')[0])
      return {exit: r.exitCode, got, a: `${net}.7`, b: `${net}.9`}
    },
    broken: (t, o) => {
      t.ok(o.got.includes(o.b), 'the CNI_ARGS address was used')
      t.notOk(o.got.includes(o.a), 'args.cni.ips was ignored')
    },
    // Debian's host-local refuses the pair outright rather than preferring args.cni.ips; what matters
    // here is that it never hands out the CNI_ARGS address.
    correct: (t, o) => t.notOk(o.got.includes(o.b), 'the CNI_ARGS address is not used'),
  },
  'broken-rejects-k8s-args': {
    scenario: async (h, p) =>
      summary(
        await add(
          h,
          p,
          {},
          {
            args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=ctr-0;K8S_POD_UID=42',
          },
        ),
      ),
    broken: (t, o) => t.not(o.exit, 0, 'kubelet-style CNI_ARGS are rejected'),
    correct: (t, o) => t.equal(o.exit, 0, 'kubelet-style CNI_ARGS are accepted'),
  },

  // failed ADD, prevResult layout, and what an upper plugin owes its delegate
  'broken-add-no-rollback': {
    scenario: async (h, p) => {
      // ptp reserves an address with host-local first, then fails to create eth0, which exists.
      const c0 = await h.container()
      await h.ip(c0, ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0peer'])
      const a = await add(h, p)
      const held = cids(h, p)
      const d = await h.call(p.path, {verb: 'DEL', conf: p.conf})
      return {add: a.exitCode, held, del: d.exitCode, after: cids(h, p)}
    },
    broken: (t, o) => {
      t.not(o.add, 0, 'ADD fails (eth0 exists)…')
      t.same(o.held, ['ctr-0'], '…and keeps the address IPAM gave it')
      t.same([o.del, o.after], [0, []], "the runtime's DEL releases it")
    },
    correct: (t, o) => {
      t.not(o.add, 0, 'ADD fails (eth0 exists)')
      t.same(o.held, [], 'and has released the address already')
    },
  },
  'broken-chained-old-layout': {
    control: 'tuning',
    scenario: async (h, p) => {
      const out: Json = {}
      for (const [i, v] of ['1.0.0', '0.4.0'].entries()) {
        const netns = (await h.container(`c${i}`)).path
        const first = requestConf(fixtureConflist('broken-chained-old-layout'), 0, {cniVersion: v})
        const up = await h.call(join(UPSTREAM_DIR, 'ptp'), {verb: 'ADD', conf: first, cid: `ctr-${i}`, netns})
        const r = await add(h, p, {cniVersion: v, prevResult: up.json}, {cid: `ctr-${i}`, netns})
        out[v] = {exit: r.exitCode, prevIps: up.json?.ips, ips: r.json?.ips ?? []}
      }
      return out
    },
    broken: (t, o) => {
      t.equal(o['1.0.0'].exit, 0)
      t.ok(o['1.0.0'].prevIps?.length, 'the 1.0.0 prevResult had ips')
      t.same(o['1.0.0'].ips, [], 'the output lost them (read as the 0.4.0 layout, they have no version)')
      t.same(o['0.4.0'].ips, o['0.4.0'].prevIps, 'a 0.4.0 prevResult keeps them: only the layout is misread')
    },
    correct: (t, o) => {
      t.same(o['1.0.0'].ips, o['1.0.0'].prevIps, '1.0.0: prevResult ips passed through')
      t.same(o['0.4.0'].ips, o['0.4.0'].prevIps, '0.4.0: prevResult ips passed through')
    },
  },
  'broken-check-ipam-error-swallowed': {
    spy: true,
    scenario: async (h, p, ctx) => {
      const s = createSpy(ctx.workDir, `${p.kind}-ipam`, {
        verbs: {
          ADD: {ipam: {ips: [{address: '10.250.0.5/24', gateway: '10.250.0.1'}]}},
          CHECK: {error: {code: 11, msg: 'spy: the address is gone'}},
        },
      })
      const conf = withConf(p, {ipam: {type: 'cnidbg-spy', ...s.configKey}})
      const a = await h.call(p.path, {verb: 'ADD', conf, cniPath: ctx.spyCniPath})
      const c = await h.call(p.path, {verb: 'CHECK', conf: withPrev(conf, a.json), cniPath: ctx.spyCniPath})
      const spyChecks = spyCalls(s.log, 'CHECK').length
      await h.call(p.path, {verb: 'DEL', conf: withPrev(conf, a.json), cniPath: ctx.spyCniPath})
      return {add: a.exitCode, check: summary(c), spyChecks}
    },
    broken: (t, o) => {
      t.equal(o.add, 0)
      t.equal(o.spyChecks, 1, 'the delegate got CHECK and failed it…')
      t.equal(o.check.exit, 0, '…yet CHECK succeeds')
    },
    correct: (t, o) => {
      t.equal(o.spyChecks, 1, 'the delegate got CHECK')
      t.not(o.check.exit, 0, 'CHECK fails')
      t.match(o.check.json?.msg, /spy: the address is gone/, "with the delegate's error")
    },
  },
  'broken-delegate-stderr-dropped': {
    spy: true,
    scenario: async (h, p, ctx) => {
      const s = createSpy(ctx.workDir, `${p.kind}-ipam`, {
        verbs: {ADD: {ipam: {ips: [{address: '10.250.0.5/24', gateway: '10.250.0.1'}]}, stderr: 'spy-marker-105'}},
      })
      const conf = withConf(p, {ipam: {type: 'cnidbg-spy', ...s.configKey}})
      const a = await h.call(p.path, {verb: 'ADD', conf, cniPath: ctx.spyCniPath})
      await h.call(p.path, {verb: 'DEL', conf: withPrev(conf, a.json), cniPath: ctx.spyCniPath})
      return {add: a.exitCode, stderr: a.stderr, spyAdds: spyCalls(s.log, 'ADD').length}
    },
    broken: (t, o) => {
      t.same([o.add, o.spyAdds], [0, 1], 'the delegate ran on ADD')
      t.notMatch(o.stderr, /spy-marker-105/, "but its stderr did not reach the plugin's")
    },
    correct: (t, o) => t.match(o.stderr, /spy-marker-105/, "the delegate's stderr came through"),
  },
  'broken-delegate-add-no-del': {
    control: 'ok-ptp',
    spy: true,
    scenario: async (h, p, ctx) => {
      const s = createSpy(ctx.workDir, `${p.kind}-ipam`, {verbs: {ADD: {error: {code: 11, msg: 'spy: try again'}}}})
      const conf = withConf(p, {ipam: {type: 'cnidbg-spy', ...s.configKey}})
      const a = await h.call(p.path, {verb: 'ADD', conf, cniPath: ctx.spyCniPath})
      // What the delegate saw before any DEL from the runtime.
      return {add: summary(a), verbs: readSpyLog(s.log).map((e) => e.command)}
    },
    broken: (t, o) => {
      t.not(o.add.exit, 0, 'ADD fails with its delegate')
      t.same(o.verbs, ['ADD'], 'without calling the delegate with DEL')
    },
    correct: (t, o) => {
      t.not(o.add.exit, 0, 'ADD fails')
      t.equal(o.add.json?.code, 11, "with the delegate's error")
      t.same(o.verbs, ['ADD', 'DEL'], 'after calling the delegate with DEL')
    },
  },
  'broken-del-netns-gone-noop': {
    scenario: async (h, p) => {
      const c0 = await h.container()
      const a = await add(h, p)
      const held = cids(h, p)
      await h.removeContainer('c0')
      const d = await h.call(p.path, {verb: 'DEL', conf: withPrev(p.conf, a.json), netns: c0.path})
      return {held, del: d.exitCode, after: cids(h, p)}
    },
    broken: (t, o) => {
      t.same(o.held, ['ctr-0'], 'ADD reserved an address')
      t.equal(o.del, 0, 'DEL succeeds once the netns is gone')
      t.same(o.after, ['ctr-0'], 'but the reservation leaks')
    },
    correct: (t, o) => {
      t.equal(o.del, 0, 'DEL succeeds without the netns')
      t.same(o.after, [], 'and releases the address')
    },
  },
  'broken-del-releases-others': {
    scenario: async (h, p) => {
      const c0 = await h.container('c0')
      const c1 = await h.container('c1')
      const a = await add(h, p, {}, {cid: 'a', netns: c0.path})
      const b = await add(h, p, {}, {cid: 'b', netns: c1.path})
      const held = cids(h, p)
      const d = await h.call(p.path, {verb: 'DEL', conf: withPrev(p.conf, b.json), cid: 'b', netns: c1.path})
      const after = cids(h, p)
      await h.call(p.path, {verb: 'DEL', conf: withPrev(p.conf, a.json), cid: 'a', netns: c0.path})
      return {add: [a.exitCode, b.exitCode], held, del: d.exitCode, after}
    },
    broken: (t, o) => {
      t.same(o.held, ['a', 'b'], 'both containers hold an address')
      t.equal(o.del, 0, "DEL of b's eth0 succeeds")
      t.same(o.after, [], "and releases a's eth0 too")
    },
    correct: (t, o) => {
      t.same(o.held, ['a', 'b'])
      t.same(o.after, ['a'], "DEL of b's eth0 leaves a's address")
    },
  },
}

/** A (cid a, netns c0) and B (cid b, netns c1); B's netns vanishes without DEL; GC keeps only A. */
export async function gcScenario(h: CniHarness, p: Plugin): Promise<Json> {
  const c0 = await h.container('c0')
  const c1 = await h.container('c1')
  const a = await add(h, p, {}, {cid: 'a', netns: c0.path})
  const b = await add(h, p, {}, {cid: 'b', netns: c1.path})
  const before = cids(h, p)
  await h.removeContainer('c1')
  const valid = [{containerID: 'a', ifname: 'eth0'}]
  const gc = await h.call(p.path, {verb: 'GC', conf: {...p.conf, 'cni.dev/valid-attachments': valid}})
  return {add: [a.exitCode, b.exitCode], gc: gc.exitCode, gcOut: gc.stdout, before, after: cids(h, p)}
}

/** The correct plugin a fixture wraps, with the fixture's request rewritten for it. */
function controlPlugin(entry: ManifestEntry, kind: Control): Plugin {
  const conf = requestConf(fixtureConflist(entry.name))
  switch (kind) {
    case 'ok-ptp':
      return {path: join(FIXTURE_BIN, 'ok-ptp'), conf: {...conf, type: 'ok-ptp'}, kind: 'control'}
    case 'ok-ptp11':
      return {path: join(FIXTURE_BIN, 'ok-ptp11'), conf: {...conf, type: 'ok-ptp11'}, kind: 'control'}
    case 'host-local':
      return {
        path: join(UPSTREAM_DIR, 'host-local'),
        conf: {...conf, type: 'host-local', ipam: {...conf.ipam, type: 'host-local'}},
        kind: 'control',
      }
    case 'tuning':
      return {path: join(UPSTREAM_DIR, 'tuning'), conf: {...conf, type: 'tuning'}, kind: 'control'}
    default:
      return {path: join(UPSTREAM_DIR, 'ptp'), conf: {...conf, type: 'ptp'}, kind: 'control'}
  }
}

const NORMAL = 'ADD 0 json | CHECK 0 | DEL 0'
const NORMAL_11 = 'ADD 0 json | CHECK 0 | STATUS 0 | GC 0 | DEL 0'

/** Where the plain lifecycle shows the mutation; every other fixture must go NORMAL(_11). */
const ISOLATION_EXPECTED: Record<string, string> = {
  'broken-nonzero-on-success': 'ADD 1 json | CHECK 0 | DEL 0',
  // ADD's stdout does not parse, so CHECK gets no prevResult and fails.
  'broken-stdout-noise': 'ADD 0 nojson | CHECK 1 +out | DEL 0',
  'broken-two-json': 'ADD 0 nojson | CHECK 1 +out | DEL 0',
  'broken-check-prints': 'ADD 0 json | CHECK 0 +out | DEL 0',
  'broken-check-always-fails': 'ADD 0 json | CHECK 1 +out | DEL 0',
  'broken-status-always-fails': 'ADD 0 json | CHECK 0 | STATUS 1 | GC 0 | DEL 0',
}
/** Their only ADD never finishes; their cases cover them. */
const ISOLATION_SKIP = new Set(['broken-hang-add', 'broken-flood-stdout'])

/**
 * The fixture with its own config through the plain lifecycle (ADD, CHECK, [STATUS, GC,] DEL): it
 * must work like the plugin it wraps except where its mutation shows. A fixture that failed
 * everywhere would fail the suite for the wrong reason, and the suite's self-test could not tell.
 */
async function isolation(
  h: CniHarness,
  e: ManifestEntry,
): Promise<{line: string; expected: string; eth0After: boolean}> {
  const list = fixtureConflist(e.name)
  const path = join(FIXTURE_BIN, e.name)
  const out: string[] = []
  let prev: Json | undefined
  if (e.role === 'chained')
    prev = (await h.call(join(UPSTREAM_DIR, 'ptp'), {verb: 'ADD', conf: requestConf(list, 0)})).json
  const a = await h.call(path, {verb: 'ADD', conf: {...requestConf(list), ...(prev ? {prevResult: prev} : {})}})
  out.push(`ADD ${a.exitCode} ${a.json ? 'json' : 'nojson'}`)
  const fin = {...requestConf(list), prevResult: a.json}
  const c = await h.call(path, {verb: 'CHECK', conf: fin})
  out.push(`CHECK ${c.exitCode}${c.stdout.trim() ? ' +out' : ''}`)
  if (list.cniVersion === '1.1.0') {
    out.push(`STATUS ${(await h.call(path, {verb: 'STATUS', conf: requestConf(list)})).exitCode}`)
    const valid = [{containerID: 'ctr-0', ifname: 'eth0'}]
    const gc = await h.call(path, {verb: 'GC', conf: {...requestConf(list), 'cni.dev/valid-attachments': valid}})
    out.push(`GC ${gc.exitCode}`)
  }
  out.push(`DEL ${(await h.call(path, {verb: 'DEL', conf: fin})).exitCode}`)
  return {
    line: out.join(' | '),
    expected: ISOLATION_EXPECTED[e.name] ?? (list.cniVersion === '1.1.0' ? NORMAL_11 : NORMAL),
    eth0After: Boolean(await h.link(await h.container(), 'eth0')),
  }
}

function defaultControl(e: ManifestEntry): Control {
  if (e.role === 'ipam') return 'host-local'
  if (e.role === 'chained') return 'tuning'
  return 'ptp'
}

/**
 * Runs the cases of the fixtures whose manifest area is in `areas`, two fixtures at a time: both
 * scenarios of a fixture at once (two sandboxes), then the assertions. Ends with the leak check,
 * once every fixture is done.
 */
export async function runFixtureCases(t: Test, areas: readonly string[]): Promise<void> {
  const before = await machineState()
  const workDir = mkdtempSync('/tmp/cnidbgtest-mutant-')
  t.teardown(() => rmSync(workDir, {recursive: true, force: true}))
  const entries = MANIFEST.filter((e) => areas.includes(e.area))
  let spyCniPath = ''
  if (entries.some((e) => CASES[e.name]?.spy)) {
    const spyDir = join(workDir, 'spy-bin')
    mkdirSync(spyDir)
    await bundleSpy(spyDir)
    spyCniPath = `${spyDir}:${FIXTURE_BIN}:${UPSTREAM_DIR}`
  }
  t.ok(entries.length > 0, `${entries.length} fixtures in ${areas.join(', ')}`)
  // Fixtures share nothing (each scenario has its own sandbox, work dir and container IDs), so two
  // run at a time: most of a scenario is waiting on plugin processes and namespace set-up.
  t.jobs = 2
  const running: Array<Promise<unknown>> = []
  for (const entry of entries) {
    const c = CASES[entry.name]
    if (!c) {
      t.fail(`${entry.name}: no self-test case`)
      continue
    }
    const run = t.test(`${entry.name} breaks ${entry.breaks.join('/')}`, async (t) => {
      const ctx = {workDir: mkdtempSync(join(workDir, `${entry.name}-`)), spyCniPath}
      const mutant: Plugin = {
        path: join(FIXTURE_BIN, entry.name),
        conf: requestConf(fixtureConflist(entry.name)),
        kind: 'mutant',
      }
      const control = controlPlugin(entry, c.control ?? defaultControl(entry))
      const [hm, hc, hi] = await Promise.all([CniHarness.create(t), CniHarness.create(t), CniHarness.create(t)])
      const [om, oc, iso] = await Promise.all([
        c.scenario(hm, mutant, ctx),
        c.scenario(hc, control, ctx),
        ISOLATION_SKIP.has(entry.name) ? undefined : isolation(hi, entry),
      ])
      // What each plugin printed goes with a failure: a code or message that differs says little alone.
      const checked = (outcome: unknown, check: (t: Test) => unknown) => async (t: Test) => {
        await check(t)
        if (!t.passing()) t.comment(`what it did: ${JSON.stringify(outcome)?.slice(0, 4000)}`)
      }
      await t.test(
        'the fixture misbehaves',
        checked(om, (t) => c.broken(t, om)),
      )
      await t.test(
        `the correct plugin (${control.path.split('/').pop()}) does not`,
        checked(oc, (t) => c.correct(t, oc)),
      )
      if (iso) {
        await t.test('otherwise it works: ADD, CHECK, [STATUS, GC,] DEL with its own config', async (t) => {
          t.equal(iso.line, iso.expected)
          if (entry.role === 'interface') t.notOk(iso.eth0After, 'DEL took eth0 away')
        })
      }
    })
    running.push(run)
  }
  await Promise.all(running)
  await t.test('left nothing behind', async (t) => assertNothingLeft(t, before))
}
