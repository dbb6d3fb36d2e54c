/**
 * The fixtures' bookkeeping and the positive controls. The broken fixtures themselves are exercised
 * by mutants-*.ts (one file per group of areas, see test/helpers/mutant-cases.ts).
 */
import {existsSync, lstatSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import t from 'tap'

import {run} from '../../src/process/exec.js'
import {CniHarness, FIXTURE_BIN, FIXTURE_CONF, fixtureConflist, requestConf, type Json} from '../helpers/cni-harness.js'
import {assertNothingLeft, machineState} from '../helpers/machine.js'
import {
  add,
  AREA_GROUPS,
  CASES,
  gcScenario,
  lifecycle,
  lifecycleOk,
  MANIFEST,
  MUTANT,
  sandboxIface,
  type Plugin,
} from '../helpers/mutant-cases.js'

const before = await machineState()

t.test('manifest, configs and bin/ agree with the mutant table', async (t) => {
  const {MODES} = (await import(pathToFileURL(MUTANT).href)) as {MODES: Record<string, {meta: Json}>}
  const names = Object.keys(MODES)
  const broken = names.filter((n) => !MODES[n]!.meta.control)
  t.same(
    MANIFEST.map((e) => e.name),
    broken,
    'manifest lists every broken mode, in order',
  )
  t.ok(MANIFEST.length >= 25, `${MANIFEST.length} fixtures`)
  for (const n of names) {
    const link = join(FIXTURE_BIN, n)
    t.ok(lstatSync(link).isSymbolicLink() && readlinkSync(link) === '../mutant.cjs', `bin/${n} links to the mutant`)
    t.ok(existsSync(join(FIXTURE_CONF, `${n}.conflist`)), `conf/${n}.conflist exists`)
  }
  t.same(
    readdirSync(FIXTURE_BIN)
      .filter((f) => f.startsWith('broken-') || f.startsWith('ok-'))
      .sort(),
    [...names].sort(),
    'no stray fixtures in bin/',
  )
  for (const e of MANIFEST) {
    t.ok(e.breaks.length > 0 && e.breaks.every((b) => /^P\d+$/.test(b)), `${e.name}: breaks ${e.breaks.join(',')}`)
    const conf = fixtureConflist(e.name)
    t.equal(`fixtures/conf/${e.name}.conflist`, e.conf)
    t.ok(
      (conf.plugins as Json[]).some((p) => p.type === e.name),
      `${e.name}: its conf runs it`,
    )
  }
  t.same(Object.keys(CASES).sort(), MANIFEST.map((e) => e.name).sort(), 'every fixture has a self-test case')
  const grouped = new Set<string>(Object.values(AREA_GROUPS).flat())
  for (const e of MANIFEST) t.ok(grouped.has(e.area), `${e.name}: area ${e.area} is run by a mutants-*.ts file`)
})

t.test('the positive controls behave', async (t) => {
  await t.test('ok-ptp: ADD/CHECK/DEL at every version with CHECK, like ptp', async (t) => {
    const h = await CniHarness.create(t)
    const p: Plugin = {path: join(FIXTURE_BIN, 'ok-ptp'), conf: requestConf(fixtureConflist('ok-ptp')), kind: 'control'}
    for (const v of ['0.4.0', '1.0.0']) {
      const o = await lifecycle(h, p, {cniVersion: v})
      t.equal(o.add.json?.cniVersion, v, `${v}: result version`)
      lifecycleOk(t, o)
    }
    const old = await add(h, p, {cniVersion: '0.2.0'}, {cid: 'old'})
    t.ok(old.json?.ip4?.ip, '0.2.0: ip4 result')
  })
  await t.test('ok-ptp11: a correct 1.1.0 plugin', async (t) => {
    const h = await CniHarness.create(t)
    const p: Plugin = {
      path: join(FIXTURE_BIN, 'ok-ptp11'),
      conf: requestConf(fixtureConflist('ok-ptp11')),
      kind: 'control',
    }
    const ver = await h.call(p.path, {verb: 'VERSION', conf: {cniVersion: '1.1.0'}})
    t.same(ver.json, {
      cniVersion: '1.1.0',
      supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    })
    t.equal((await h.call(p.path, {verb: 'STATUS', conf: p.conf})).exitCode, 0, 'STATUS')
    const o = await lifecycle(h, p)
    t.equal(o.add.json?.cniVersion, '1.1.0')
    t.equal(sandboxIface(o.add.json)?.mtu, 1500, 'interfaces[].mtu')
    lifecycleOk(t, o)
    const gcOld = await h.call(p.path, {verb: 'GC', conf: {...p.conf, cniVersion: '1.0.0'}})
    t.equal(gcOld.json?.code, 1, 'GC on a 1.0.0 config: code 1')
    const gc = gcScenarioResult(await gcScenario(h, p))
    t.same(gc, {gc: 0, gcOut: '', after: ['a']}, 'GC releases only the stale attachment and prints nothing')
  })
  await t.test('ok-ptp11: GC does nothing without a valid-attachments key, and reads the old key', async (t) => {
    const h = await CniHarness.create(t)
    const p: Plugin = {
      path: join(FIXTURE_BIN, 'ok-ptp11'),
      conf: requestConf(fixtureConflist('ok-ptp11')),
      kind: 'control',
    }
    const held = () =>
      h
        .reservations(p.conf.ipam.dataDir as string, p.conf.name as string)
        .map((r) => r.cid)
        .sort()
    const c1 = await h.container('c1')
    t.equal((await add(h, p, {}, {cid: 'a'})).exitCode, 0)
    t.equal((await add(h, p, {}, {cid: 'b', netns: c1.path})).exitCode, 0)
    await h.removeContainer('c1')
    t.equal((await h.call(p.path, {verb: 'GC', conf: p.conf})).exitCode, 0)
    t.same(held(), ['a', 'b'], 'no key: nothing released (P97)')
    const valid = [{containerID: 'a', ifname: 'eth0'}]
    t.equal((await h.call(p.path, {verb: 'GC', conf: {...p.conf, 'cni.dev/attachments': valid}})).exitCode, 0)
    t.same(held(), ['a'], 'cni.dev/attachments (the spec-v1.1.0 tag name) is honoured (P96)')
  })
})

const gcScenarioResult = (o: Json) => ({gc: o.gc, gcOut: o.gcOut, after: o.after})

t.test('the wrapper passes on the answer of a plugin that exits without reading its stdin', async (t) => {
  // A VERSION answered without reading the config, which is larger than a pipe holds: the wrapper's
  // write of it fails with EPIPE once the plugin is gone. That plugin still answered, as it would have
  // to a runtime; a load-dependent race once turned this into "failed to run ptp" (code 999).
  const dir = mkdtempSync(join(tmpdir(), 'cnidbg-mutant-epipe-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  const answer = '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}'
  writeFileSync(join(dir, 'ptp'), `#!/bin/sh\nprintf '%s' '${answer}'\n`, {mode: 0o755})
  const conf = JSON.stringify({cniVersion: '1.0.0', name: 'epipe', type: 'ok-ptp', pad: 'x'.repeat(1 << 20)})
  const r = await run(join(FIXTURE_BIN, 'ok-ptp'), [], {
    env: {PATH: process.env.PATH, CNI_COMMAND: 'VERSION', CNIDBG_UPSTREAM_DIR: dir},
    extendEnv: false,
    input: conf,
    timeoutMs: 60_000,
  })
  t.equal(r.exitCode, 0, r.stderr)
  t.same(JSON.parse(r.stdout), JSON.parse(answer))
})

t.test('left nothing behind', async (t) => {
  await assertNothingLeft(t, before)
})
