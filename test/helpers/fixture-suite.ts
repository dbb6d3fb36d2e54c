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
 * The suite's own test: every broken fixture must FAIL, and a failing check must name one of the
 * requirements the fixture breaks. Sharded so tap can run the shards in parallel.
 */
export function fixtureShard(t: Test, shard: number, of: number): void {
  // Fixtures share nothing (each run has its own sandboxes and subnet), and most of a run is waiting
  // on its few plugin calls one after another: two at a time.
  t.jobs = 2
  for (const f of fixtureShardEntries(shard, of)) {
    t.test(`${f.name} fails on ${f.breaks.join('/')}`, async (t) => {
      const report = await runConformance(
        {
          cniPath: [`${ROOT}fixtures/plugins/bin`, '/usr/lib/cni'],
          conf: `${ROOT}${f.conf}`,
          host: false,
          only: f.breaks,
          parallel: 3,
          profile: 'default',
          role: f.role,
          // A plugin author gates releases with --strict: SHOULD-level breaks must fail there too.
          strict: true,
          timeoutSeconds: timeoutSeconds(f),
          versions: f.breaks.some((p) => VERSION_SHAPED.has(p)) ? undefined : ['highest'],
        },
        new EventEmitter() as RunEmitter,
      )
      const failing = report.checks.filter((c) => c.status === 'fail')
      const named = failing.filter((c) => c.requirements.some((p) => f.breaks.includes(p)))
      t.ok(
        named.length > 0,
        `a failing check names ${f.breaks.join(' or ')} (failed: ${failing.map((c) => `${c.id}@${c.version}`).join(', ') || 'none'}; ${f.description})`,
      )
    })
  }
}
