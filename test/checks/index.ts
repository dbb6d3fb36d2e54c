import {readdirSync, readFileSync} from 'node:fs'

import t from 'tap'

import {DEPARTURES, knownDeparture} from '../../src/checks/departures.js'
import {allChecks} from '../../src/checks/index.js'

// The checklist in fixtures/spec is the contract: every requirement id a check cites must exist there.
const checklist = readFileSync(new URL('../../fixtures/spec/cni-spec-checklist.md', import.meta.url), 'utf8')
const known = new Set([...checklist.matchAll(/\*\*(P\d+)[ *]/g)].map((m) => m[1]))

t.test('every check is registered once, with a unique id matching its file', async (t) => {
  const ids = allChecks.map((c) => c.id)
  t.same(ids.length, new Set(ids).size, 'ids are unique')
  const files = readdirSync(new URL('../../src/checks/', import.meta.url)).filter(
    (f) =>
      f.endsWith('.ts') &&
      ![
        'case-env.ts',
        'check.ts',
        'departures.ts',
        'dhcp-net.ts',
        'index.ts',
        'kernel.ts',
        'plugin-server.ts',
        'spy-path.ts',
        'types.ts',
      ].includes(f),
  )
  t.equal(files.length, allChecks.length, 'one module per check, all registered')
  // Users pass ids to --only, so the id is what stays; the file is named after it.
  t.same(
    allChecks.map((c) => `${c.id.replace(/\./g, '-')}.ts`).sort(),
    [...files].sort(),
    'each id, dots as dashes, is the name of its file',
  )
})

t.test('checks cite real requirements and spec anchors', async (t) => {
  t.ok(known.size > 100, `the checklist lists ${known.size} plugin requirements`)
  for (const c of allChecks) {
    t.ok(c.requirements.length > 0, `${c.id} covers at least one requirement`)
    for (const p of c.requirements) t.ok(known.has(p), `${c.id}: ${p} is in the checklist`)
    t.match(c.spec, /^(SPEC|CONVENTIONS)\.md#[a-z0-9_-]+$/, `${c.id}: spec anchor`)
    t.ok(['must', 'should', 'info'].includes(c.severity), `${c.id}: severity`)
    t.ok(c.roles.length > 0, `${c.id}: roles`)
  }
})

t.test('citations and severities match what the check exercises', async (t) => {
  const by = (id: string) => allChecks.find((c) => c.id === id)!
  // Each requirement here is one the check does not exercise: caps.without-runtime-config sends no
  // capability value (P109), del.no-leaks fails no delegate (P106), status.ready never sees a failing
  // STATUS (P91), env.missing-variables always sets CNI_COMMAND (P8), gc.cleans-leaked runs no delegate (P94).
  for (const [id, p] of [
    ['caps.without-runtime-config', 'P109'],
    ['del.no-leaks', 'P106'],
    ['status.ready', 'P91'],
    ['env.missing-variables', 'P8'],
    ['gc.cleans-leaked', 'P94'],
  ] as const)
    t.notOk(by(id).requirements.includes(p), `${id} does not cite ${p}`)
  t.equal(by('error.bad-subnet').severity, 'should', 'a malformed subnet "should" produce an error (P68)')
})

t.test('known upstream departures cite real requirements and are documented', async (t) => {
  const readme = readFileSync(new URL('../../fixtures/README.md', import.meta.url), 'utf8')
  for (const d of DEPARTURES) {
    t.ok(known.has(d.requirement), `${d.type} ${d.requirement} is in the checklist`)
    t.ok(
      readme.split('\n').some((l) => l.includes(`| ${d.type} |`) && l.includes(d.requirement)),
      `${d.type} ${d.requirement} has its row in fixtures/README.md`,
    )
  }
  t.equal(knownDeparture('loopback', 'P27', '0.2.0')?.type, 'loopback', 'found by type, requirement and version')
  t.equal(knownDeparture('loopback', 'P27', '1.0.0'), undefined, 'not at a version where it does not show')
  t.equal(knownDeparture('ptp', 'P27', '0.2.0'), undefined, 'not for another plugin')
})

t.test('the checks cover every area of the checklist', async (t) => {
  const covered = new Set(allChecks.flatMap((c) => c.requirements).map((p) => Number(p.slice(1))))
  const areas: Array<[string, number, number]> = [
    ['process I/O', 1, 7],
    ['environment', 8, 15],
    ['config', 16, 22],
    ['VERSION', 23, 30],
    ['ADD and result', 31, 54],
    ['chaining', 55, 59],
    ['errors', 60, 70],
    ['DEL', 71, 78],
    ['CHECK', 79, 87],
    ['STATUS', 88, 91],
    ['GC', 92, 98],
    ['concurrency', 99, 101],
    ['delegation', 102, 108],
    ['capabilities', 109, 110],
    ['args', 111, 115],
  ]
  for (const [name, lo, hi] of areas) {
    const hit = [...covered].filter((n) => n >= lo && n <= hi)
    t.ok(hit.length > 0, `${name} (P${lo}–P${hi}) has checks: ${hit.map((n) => 'P' + n).join(', ')}`)
  }
})
