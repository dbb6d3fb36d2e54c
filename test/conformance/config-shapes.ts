/**
 * Configs whose shape once gave false results: a dual-stack bridge whose two IPv6 default routes
 * merge into one multipath route, and a list with disableCheck and disableGC, which keep a runtime
 * from calling the plugins at all (the checks run them anyway: they judge the plugin).
 */
import {EventEmitter} from 'node:events'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

import {type ConformanceOptions, type RunEmitter, runConformance} from '../../src/conformance/runner.js'
import {installSignalCleanup} from '../../src/process/cleanup.js'
import {assertNothingLeft, machineState} from '../helpers/machine.js'

const ROOT = new URL('../../', import.meta.url).pathname
installSignalCleanup()
const before = await machineState()
const dir = mkdtempSync(join(tmpdir(), 'cnidbg-config-shapes-'))
t.teardown(() => rmSync(dir, {force: true, recursive: true}))

const run = (conf: string, over: Partial<ConformanceOptions>) =>
  runConformance(
    {
      cniPath: [`${ROOT}fixtures/plugins/bin`, '/usr/lib/cni'],
      conf,
      host: false,
      parallel: 3,
      profile: 'default',
      role: 'interface',
      strict: false,
      timeoutSeconds: 30,
      versions: ['highest'],
      ...over,
    },
    new EventEmitter() as RunEmitter,
  )

const statuses = (r: Awaited<ReturnType<typeof run>>) =>
  Object.fromEntries(r.checks.map((c) => [c.id, `${c.status}${c.status === 'pass' ? '' : `: ${c.message}`}`]))

/** A fixture's config with `disableCheck` and `disableGC` set. */
function disabled(name: string): string {
  const conf = JSON.parse(readFileSync(`${ROOT}fixtures/conf/${name}.conflist`, 'utf8')) as Record<string, unknown>
  const path = join(dir, `${name}.conflist`)
  writeFileSync(path, JSON.stringify({...conf, disableCheck: true, disableGC: true}))
  return path
}

t.test("dual-stack bridge: DEL of net1 leaves eth0's IPv6 default route, which was multipath", async (t) => {
  const report = await run(`${ROOT}fixtures/conf/dualstack-bridge.conflist`, {
    cniPath: ['/usr/lib/cni'],
    only: ['isolation.del-leaves-others'],
  })
  t.same(statuses(report), {'isolation.del-leaves-others': 'pass'})
})

t.test('disableCheck and disableGC: the checks still run the plugins', async (t) => {
  const report = await run(disabled('ok-ptp11'), {
    only: ['check.after-add', 'check.detects-tampering', 'delegation.protocol'],
  })
  t.same(
    statuses(report),
    {'check.after-add': 'pass', 'check.detects-tampering': 'pass', 'delegation.protocol': 'pass'},
    'a correct plugin passes: its CHECK sees the tampering, the spy sees CHECK and GC',
  )
  const broken = await run(disabled('broken-check-always-fails'), {only: ['check.after-add']})
  t.match(
    broken.checks,
    [{id: 'check.after-add', message: /CHECK right after ADD failed/, status: 'fail'}],
    'a CHECK that always fails is not passed untested',
  )
})

t.test('left nothing behind', async (t) => {
  await assertNothingLeft(t, before)
})
