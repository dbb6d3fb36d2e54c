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
  description: string
}

const ROOT = new URL('../../', import.meta.url).pathname
// Breaks that only show at some versions (result layout per version) need every version.
const VERSION_SHAPED = new Set(['P26', 'P27', 'P39', 'P48'])

export const manifest = (): FixtureEntry[] =>
  JSON.parse(readFileSync(`${ROOT}fixtures/plugins/manifest.json`, 'utf8')) as FixtureEntry[]

/**
 * The suite's own test: every broken fixture must FAIL, and a failing check must name one of the
 * requirements the fixture breaks. Sharded so tap can run the shards in parallel.
 */
export function fixtureShard(t: Test, shard: number, of: number): void {
  const entries = manifest().filter((_e, i) => i % of === shard)
  for (const f of entries) {
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
          timeoutSeconds: 15,
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
