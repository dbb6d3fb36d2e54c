import {EventEmitter} from 'node:events'
import {readFileSync} from 'node:fs'

import type {Test} from 'tap'

import type {PluginRole} from '../../src/checks/types.js'
import {type RunEmitter, runConformance} from '../../src/conformance/runner.js'

interface FixtureEntry {
  name: string
  conf: string
  role: PluginRole
  breaks: string[]
  needs?: string[]
  description: string
}

const ROOT = new URL('../../', import.meta.url).pathname
// Breaks that only show at some versions (result layout per version) need every version.
const VERSION_SHAPED = new Set(['P26', 'P27', 'P39', 'P48'])

export const manifest = (): FixtureEntry[] =>
  JSON.parse(readFileSync(`${ROOT}fixtures/plugins/manifest.json`, 'utf8')) as FixtureEntry[]

// A fixture that never returns is found out only by the timeout, once per call that hangs: a short
// one keeps its run short. Its calls that do return take a fraction of it, and one that ran past it
// would fail the run on P1 too, which is what this fixture must do anyway.
const timeoutSeconds = (f: FixtureEntry): number => (f.needs?.includes('timeout') ? 3 : 15)

// Rough cost of one fixture's run, in units of a fixture whose breaks select one cheap check (about a
// second): the timed-out calls (two, a full timeout each), 16 parallel ADDs (concurrency), the
// delegation check's many calls of the plugin and the spy, and every version for the version-shaped
// breaks. Only the balance between shards uses it.
function cost(f: FixtureEntry): number {
  if (f.needs?.includes('timeout')) return 2 * timeoutSeconds(f) + 1
  if (f.needs?.includes('parallel')) return 6
  if (f.needs?.includes('spy-ipam') || f.breaks.some((p) => VERSION_SHAPED.has(p))) return 3
  return 1
}

/**
 * The fixtures shard `shard` of `of` runs: every manifest entry lands in exactly one shard, the
 * costliest first into the cheapest shard so far (so tap's parallel jobs finish close together).
 */
export function fixtureShardEntries(shard: number, of: number): FixtureEntry[] {
  const load = Array.from({length: of}, () => 0)
  const out: FixtureEntry[][] = Array.from({length: of}, () => [])
  const entries = manifest()
    .map((f, i) => ({f, i}))
    .sort((a, b) => cost(b.f) - cost(a.f) || a.i - b.i)
  for (const {f} of entries) {
    const k = load.indexOf(Math.min(...load))
    load[k]! += cost(f)
    out[k]!.push(f)
  }
  return out[shard]!
}

/**
 * What each broken fixture must make the suite say: the check that fails, and a pattern its message
 * (or the evidence's diff) matches, naming the misbehaviour the fixture describes. A fixture's run
 * selects only these checks.
 */
export const EXPECTED: Record<string, Array<{check: string; says: RegExp}>> = {
  'broken-exit0-on-error': [{check: 'io.framing', says: /exit code 0 but stdout is an error object/}],
  'broken-nonzero-on-success': [{check: 'io.framing', says: /exit code 1 but stdout is a success result/}],
  'broken-stdout-noise': [{check: 'io.framing', says: /stdout has text outside the JSON object/}],
  'broken-two-json': [{check: 'io.framing', says: /stdout has 2 JSON values/}],
  'broken-error-on-stderr': [{check: 'io.framing', says: /the error went to stderr as plain text/}],
  'broken-check-prints': [{check: 'check.after-add', says: /CHECK succeeded but printed output/}],
  'broken-flood-stdout': [{check: 'io.framing', says: /flooded its output/}],
  'broken-hang-add': [{check: 'io.framing', says: /ADD did not exit within 3s/}],
  'broken-ifname-ignored': [{check: 'env.ifname-length', says: /did not create it under that exact name/}],
  'broken-ifname-truncate': [
    {check: 'env.ifname-length', says: /16-character ifname succeeded .*must fail, not truncate/},
  ],
  'broken-env-error-vague': [
    {check: 'env.missing-variables', says: /code 4 for a missing CNI_IFNAME, but the message does not name it/},
  ],
  'broken-rejects-args': [{check: 'config.tolerates-extra-keys', says: /P19 unknown args: .*code 2/}],
  'broken-rejects-reserved-keys': [{check: 'config.tolerates-extra-keys', says: /P20 reserved keys .*code 2/}],
  'broken-malformed-json-ok': [{check: 'error.malformed-config', says: /malformed JSON: ADD succeeded/}],
  'broken-code2-no-value': [{check: 'error.unsupported-field', says: /does not name both the key and the value/}],
  'broken-version-no-supported': [{check: 'version.output', says: /supportedVersions is missing, empty or not a list/}],
  'broken-version-bad-semver': [{check: 'version.output', says: /supportedVersions is missing, empty or not a list/}],
  'broken-result-version-mismatch': [
    {check: 'add.result-schema', says: /P26: the result's cniVersion is \S+ but the request's is/},
  ],
  'broken-result-no-cniversion': [{check: 'add.result-schema', says: /P39: the result has no cniVersion/}],
  'broken-ips-version-missing': [{check: 'add.result-schema', says: /P48: ips\[0\] has no version/}],
  'broken-ips-version-present': [
    {check: 'add.result-schema', says: /P48: ips\[0\] has version, which 1\.0\.0 removed/},
  ],
  'broken-accepts-unsupported-version': [
    {check: 'version.unsupported-rejected', says: /ADD with cniVersion 0\.9\.9 succeeded/},
  ],
  'broken-ifname-exists-ok': [
    {check: 'add.existing-ifname-fails', says: /ADD succeeded although eth0 already existed/},
  ],
  'broken-add-no-rollback': [
    {check: 'add.existing-ifname-fails', says: /left 1 difference\(s\) behind until DEL: it did not roll back/},
  ],
  'broken-phantom-ip': [{check: 'add.kernel-matches-result', says: /192\.0\.2\.77\/24 is not configured on eth0/}],
  'broken-phantom-interface': [{check: 'add.kernel-matches-result', says: /ghost0 does not exist in the host/}],
  'broken-wrong-mac': [{check: 'add.kernel-matches-result', says: /eth0: result says mac \S+, kernel has/}],
  'broken-bare-ip': [{check: 'add.result-schema', says: /P45: ips\[0\]\.address "[\d.]+" is not in CIDR form/}],
  'broken-iface-index': [{check: 'add.result-schema', says: /P47: ips\[0\]\.interface 2 is out of range/}],
  'broken-phantom-route': [
    {
      check: 'add.kernel-matches-result',
      says: /routes\[0\] 198\.51\.100\.0\/24 .*is not in the container's routing table/,
    },
  ],
  'broken-mtu-wrong': [{check: 'add.kernel-matches-result', says: /result says mtu 9000, kernel has 1500/}],
  'broken-ipam-interfaces': [{check: 'add.result-schema', says: /P54: an IPAM plugin returned interfaces/}],
  'broken-ipam-configures': [{check: 'ipam.leaves-netns-alone', says: /the IPAM plugin changed network state itself/}],
  'broken-ipam-racy': [{check: 'concurrency.parallel-add', says: /parallel ADDs handed out the same address twice/}],
  'broken-del-requires-add': [{check: 'del.without-add', says: /never added failed: .*code 3/}],
  'broken-del-not-idempotent': [{check: 'del.idempotent', says: /DEL #\d failed/}],
  'broken-del-needs-netns': [
    {check: 'del.netns-gone', says: /DEL failed after the netns was deleted: .*failed to open netns/},
  ],
  'broken-del-netns-gone-noop': [
    {
      check: 'del.netns-gone',
      says: /\+ \/var\/lib\/cni: file networks-cnidbg-fixtures\/cnidbg-fx-broken-del-netns-gone-noop\//,
    },
  ],
  'broken-del-needs-prevresult': [
    {check: 'del.without-prevresult', says: /DEL without prevResult failed: .*prevResult is required/},
  ],
  'broken-del-leaks-ipam': [
    {
      check: 'del.no-leaks',
      says: /\+ \/var\/lib\/cni: file networks-cnidbg-fixtures\/cnidbg-fx-broken-del-leaks-ipam\//,
    },
  ],
  'broken-del-leaks-masq': [{check: 'del.no-leaks', says: /\+ host: ipt4 .*CNI-/}],
  'broken-del-no-ipam-forward': [{check: 'delegation.protocol', says: /DEL was not forwarded to the delegate/}],
  'broken-del-releases-others': [
    {
      check: 'isolation.del-leaves-others',
      says: /- \/var\/lib\/cni: file networks-cnidbg-fixtures\/cnidbg-fx-broken-del-releases-others\//,
    },
  ],
  'broken-check-always-ok': [
    {
      check: 'check.detects-tampering',
      says: /CHECK passed on a visibly broken attachment: address removed, link set down/,
    },
  ],
  'broken-check-always-fails': [
    {check: 'check.after-add', says: /CHECK right after ADD failed: .*not configured as expected/},
  ],
  'broken-check-ipam-error-swallowed': [
    {check: 'delegation.protocol', says: /CHECK succeeded although the delegate's CHECK failed/},
  ],
  'broken-status-always-fails': [{check: 'status.ready', says: /STATUS failed on a healthy plugin: .*code 50/}],
  'broken-status-no-forward': [{check: 'delegation.protocol', says: /STATUS was not forwarded to the delegate/}],
  'broken-gc-removes-valid': [{check: 'gc.cleans-leaked', says: /GC removed state of a valid attachment/}],
  'broken-gc-noop': [{check: 'gc.cleans-leaked', says: /GC left the leaked attachment’s IPAM\/state behind/}],
  'broken-gc-no-forward': [{check: 'delegation.protocol', says: /GC was not forwarded to the delegate/}],
  'broken-chained-drops-prevresult': [{check: 'chain.prevresult', says: /result dropped what prevResult had: ip /}],
  'broken-chained-old-layout': [{check: 'chain.prevresult', says: /result dropped what prevResult had: ip /}],
  'broken-delegate-partial-config': [{check: 'delegation.protocol', says: /did not get the complete request config/}],
  'broken-delegate-env': [{check: 'delegation.protocol', says: /delegate got CNI_PATH="\/usr\/lib\/cni"/}],
  'broken-delegate-stderr-dropped': [{check: 'delegation.protocol', says: /the delegate's stderr was not forwarded/}],
  'broken-delegate-add-no-del': [{check: 'delegation.protocol', says: /returned without calling it with DEL/}],
  'broken-cniargs-precedence': [
    {check: 'args.ips-precedence', says: /args\.cni\.ips \(\S+\) must win over CNI_ARGS IP=/},
  ],
  'broken-rejects-k8s-args': [
    {check: 'args.kubelet-style', says: /ADD with kubelet-style CNI_ARGS failed: .*unknown args/},
  ],
}

/**
 * The SHOULDs the default profile fails because they hurt in production (README "cnidbg
 * conformance"): a leak on DEL (P71, P74), a CHECK that sees nothing (P81), a result that lies (P40,
 * P47), a GC that cleans nothing or too much (P92). A fixture that breaks one runs without --strict,
 * and must fail all the same. Listed here, not read from the checks, so a check that loses its
 * `productionCritical` fails this test.
 */
const PRODUCTION_CRITICAL = new Set(['P40', 'P47', 'P71', 'P74', 'P81', 'P92'])

/** The others run with --strict, as a plugin author gates releases: SHOULD-level breaks must fail there too. */
export const runsStrict = (f: FixtureEntry): boolean => !f.breaks.some((p) => PRODUCTION_CRITICAL.has(p))

/**
 * The suite's own test: every broken fixture must FAIL the check it is written to break, saying what
 * it does wrong, and that check names one of the requirements the fixture breaks. Sharded so tap can
 * run the shards in parallel.
 */
export function fixtureShard(t: Test, shard: number, of: number): void {
  // Fixtures share nothing (each run has its own sandboxes and subnet), and most of a run is waiting
  // on its few plugin calls one after another: two at a time.
  t.jobs = 2
  if (shard === 0)
    t.test('every fixture has its expected findings, and every one of them is a fixture', async (t) => {
      t.same(
        Object.keys(EXPECTED).sort(),
        manifest()
          .map((f) => f.name)
          .sort(),
      )
      t.ok(
        manifest().filter((f) => !runsStrict(f)).length >= 8,
        'the production-critical breaks (P71, P74, P81, P40/P47, P92) run without --strict',
      )
    })
  for (const f of fixtureShardEntries(shard, of)) {
    const expected = EXPECTED[f.name] ?? []
    const strict = runsStrict(f)
    t.test(
      `${f.name} fails ${expected.map((e) => e.check).join(', ')} (${f.breaks.join('/')}${strict ? '' : ', not strict'})`,
      async (t) => {
        t.ok(expected.length > 0, `${f.name} has its expected findings in EXPECTED`)
        const report = await runConformance(
          {
            cniPath: [`${ROOT}fixtures/plugins/bin`, '/usr/lib/cni'],
            conf: `${ROOT}${f.conf}`,
            host: false,
            only: expected.map((e) => e.check),
            parallel: 3,
            profile: 'default',
            role: f.role,
            strict,
            timeoutSeconds: timeoutSeconds(f),
            versions: f.breaks.some((p) => VERSION_SHAPED.has(p)) ? undefined : ['highest'],
          },
          new EventEmitter() as RunEmitter,
        )
        const failing = report.checks.filter((c) => c.status === 'fail')
        const failed = failing.map((c) => `${c.id}@${c.version}: ${c.message}`).join('; ') || 'none'
        t.notOk(
          failing.some((c) => c.message.startsWith('the check could not run')),
          `every check ran (failed: ${failed})`,
        )
        for (const e of expected) {
          const hits = failing.filter((c) => c.id === e.check)
          t.ok(
            hits.some((c) => c.requirements.some((p) => f.breaks.includes(p))),
            `${e.check} fails and names ${f.breaks.join(' or ')} (failed: ${failed}; ${f.description})`,
          )
          t.ok(
            hits.some((c) => e.says.test(c.message) || (c.evidence?.diff ?? []).some((l) => e.says.test(l))),
            `${e.check} says ${e.says} (failed: ${failed})`,
          )
        }
      },
    )
  }
}
