/**
 * Every known departure of Debian's plugins (src/checks/departures.ts) is real: a minimal
 * reproduction with the plain binary, run as a runtime would run it in a throwaway sandbox, still
 * shows it. When an upgrade fixes one, this fails and the entry (and its row in fixtures/README.md)
 * goes. The reproductions are the ones fixtures/README.md prints.
 */
import {join} from 'node:path'

import t from 'tap'
import type {Test} from 'tap'

import {DEPARTURES} from '../../src/checks/departures.js'
import {CniHarness, type Json, UPSTREAM_DIR} from '../helpers/cni-harness.js'
import {assertNothingLeft, machineState} from '../helpers/machine.js'

type Reproduction = (t: Test, h: CniHarness) => Promise<void>

const plugin = (type: string): string => join(UPSTREAM_DIR, type)

/** loopback ADD at `version`: what it prints. */
async function loopbackAdd(t: Test, h: CniHarness, version: string): Promise<Json> {
  const r = await h.call(plugin('loopback'), {verb: 'ADD', conf: {cniVersion: version, name: 'lo', type: 'loopback'}})
  t.equal(r.exitCode, 0, `loopback ADD at ${version} works: ${r.stderr}`)
  return r.json ?? {}
}

const REPRODUCTIONS: Record<string, Reproduction> = {
  'loopback P27': async (t, h) => {
    const r = await loopbackAdd(t, h, '0.2.0')
    t.equal(r.cniVersion, '0.2.0', 'labelled 0.2.0')
    t.ok(Array.isArray(r.ips) && r.ip4 === undefined, 'but in the 1.0.0 layout: ips[], no ip4')
  },
  'loopback P48': async (t, h) => {
    const r = await loopbackAdd(t, h, '0.4.0')
    t.equal(r.cniVersion, '0.4.0', 'labelled 0.4.0')
    t.ok(
      (r.ips as Json[]).every((ip) => ip.version === undefined),
      'its ips[] have no version',
    )
  },
}

const before = await machineState()

t.test('every departure has a reproduction here', async (t) => {
  t.same(
    DEPARTURES.map((d) => `${d.type} ${d.requirement}`).filter((k) => !(k in REPRODUCTIONS)),
    [],
  )
})

for (const d of DEPARTURES) {
  const key = `${d.type} ${d.requirement}`
  const reproduce = REPRODUCTIONS[key]
  if (!reproduce) continue
  t.test(`${key}: ${d.what}`, async (t) => {
    const h = await CniHarness.create(t)
    await reproduce(t, h)
  })
}

t.test('left nothing behind', async (t) => {
  await assertNothingLeft(t, before)
})
