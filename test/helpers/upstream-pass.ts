import {EventEmitter} from 'node:events'
import {readFileSync} from 'node:fs'

import type {Test} from 'tap'

import type {PluginRole} from '../../src/checks/types.js'
import {type RunEmitter, runConformance} from '../../src/conformance/runner.js'

interface PassingEntry {
  conf: string
  /** The role the suite must test it in. */
  role: PluginRole
  /** Run without --role: the suite must recognise `role` by itself. */
  detected?: boolean
  /** What the suite must provide (`master:X`, `device:X`) or the kernel must have (`kernel:KIND`). */
  needs?: string[]
  description: string
}

const ROOT = new URL('../../', import.meta.url).pathname

export const passing = (): PassingEntry[] =>
  JSON.parse(readFileSync(`${ROOT}fixtures/conf/passing.json`, 'utf8')) as PassingEntry[]

/**
 * Every entry runs at its newest version. bridge at every version it claims is the README's first
 * conformance example, which test/readme.ts runs and fails on any finding (the run exits 1): running it
 * here again cost about 5 of the 63 CPU seconds of the four shards. README_BRIDGE is that example; the
 * test below fails if the README stops running it.
 */
export const README_BRIDGE = 'cnidbg conformance fixtures/conf/upstream-bridge.conflist --cni-path /usr/lib/cni'

// Rough cost of one entry, in units of a plain IPAM plugin at one version (each measured alone): the
// mutant wrappers (ok-*) start a node process per call, and ok-ptp11 adds GC and STATUS; the long chain
// and dhcp (whose daemon each case starts), bridge, macvlan, ptp, host-device and sbr make more kernel
// state per case than the IPAM-only or chained roles. Only the balance between shards uses it.
function cost(p: PassingEntry): number {
  if (p.conf.endsWith('ok-ptp11.conflist')) return 9
  if (p.conf.endsWith('ok-ptp.conflist')) return 6
  if (/upstream-(chain|dhcp)\.conflist$/.test(p.conf)) return 5
  if (/upstream-(bridge|macvlan|ptp|host-device|sbr)\.conflist$/.test(p.conf)) return 4
  return 2
}

/**
 * The entries shard `shard` of `of` runs: every entry of passing.json lands in exactly one shard,
 * the costliest first into the cheapest shard so far (so tap's parallel jobs finish close together).
 */
export function upstreamShardEntries(shard: number, of: number): PassingEntry[] {
  const load = Array.from({length: of}, () => 0)
  const out: PassingEntry[][] = Array.from({length: of}, () => [])
  const entries = passing()
    .map((p, i) => ({p, i}))
    .sort((a, b) => cost(b.p) - cost(a.p) || a.i - b.i)
  for (const {p} of entries) {
    const k = load.indexOf(Math.min(...load))
    load[k]! += cost(p)
    out[k]!.push(p)
  }
  return out[shard]!
}

/**
 * Done means "a correct upstream plugin passes": the real Debian plugins, in every role, must come
 * out with zero failures under the default profile. Sharded so tap can run the shards in parallel.
 */
export function upstreamShard(t: Test, shard: number, of: number): void {
  // Two entries at a time: a run waits on the kernel and on the plugins' own timers far more than it
  // computes, and every case has a sandbox of its own (its namespaces and /var/lib/cni), so entries
  // don't see each other.
  t.jobs = 2
  if (shard === 0) {
    t.test('bridge at every version it claims runs as the README example test/readme.ts runs', async (t) => {
      const lines = readFileSync(`${ROOT}README.md`, 'utf8').split('\n')
      t.ok(lines.includes(README_BRIDGE), `README.md has the line ${JSON.stringify(README_BRIDGE)}`)
      t.ok(
        passing().some((p) => p.conf.endsWith('upstream-bridge.conflist')),
        'and bridge is in fixtures/conf/passing.json',
      )
    })
  }
  for (const p of upstreamShardEntries(shard, of)) {
    t.test(`${p.conf} passes (${p.role})`, async (t) => {
      const report = await runConformance(
        {
          cniPath: [`${ROOT}fixtures/plugins/bin`, '/usr/lib/cni'],
          conf: `${ROOT}${p.conf}`,
          host: false,
          parallel: 3,
          profile: 'default',
          role: p.detected ? undefined : p.role,
          strict: false,
          timeoutSeconds: 30,
          versions: ['highest'],
        },
        new EventEmitter() as RunEmitter,
      )
      t.equal(report.role, p.role, p.detected ? 'the suite recognised the role by itself' : 'the role given')
      const failed = report.checks.filter((c) => c.status === 'fail')
      t.same(
        failed.map((c) => `${c.id}@${c.version}: ${c.message}`),
        [],
        `${p.description} ${report.summary.passed} passed, ${report.summary.warned} warned`,
      )
      // A kernel without the kind of link the plugin makes skips every check, each saying why.
      const kinds = (p.needs ?? []).filter((n) => n.startsWith('kernel:')).map((n) => n.slice('kernel:'.length))
      if (kinds.length && report.checks.every((c) => c.status === 'skip' && /^this kernel has no /.test(c.message)))
        t.pass(`skipped: ${report.checks[0]?.message}`)
      else t.ok(report.summary.passed > 10, 'a real run, not an empty one')
    })
  }
}
