/**
 * Every finding names its plugin, and under the chained role a finding that shows with the plugins
 * before the one under test alone is about them: reported apart, not counted against it.
 */
import {EventEmitter} from 'node:events'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

import {type RunEmitter, runConformance} from '../../src/conformance/runner.js'
import {installSignalCleanup} from '../../src/process/cleanup.js'
import {assertNothingLeft, machineState} from '../helpers/machine.js'

const ROOT = new URL('../../', import.meta.url).pathname
installSignalCleanup()
const before = await machineState()
const dir = mkdtempSync(join(tmpdir(), 'cnidbg-attribution-'))
t.teardown(() => rmSync(dir, {recursive: true, force: true}))

/** tuning (mtu) after `first`, as a chained conflist in a temp file. */
function chain(first: Record<string, unknown>): string {
  const path = join(dir, `${String(first.type)}.conflist`)
  writeFileSync(
    path,
    JSON.stringify({cniVersion: '1.0.0', name: 'cnidbg-attr', plugins: [first, {mtu: 1400, type: 'tuning'}]}),
  )
  return path
}

const run = (conf: string) =>
  runConformance(
    {
      cniPath: [`${ROOT}fixtures/plugins/bin`, '/usr/lib/cni'],
      conf,
      host: false,
      only: ['check.after-add'],
      parallel: 2,
      profile: 'default',
      role: 'chained',
      strict: false,
      timeoutSeconds: 30,
      versions: ['1.0.0'],
    },
    new EventEmitter() as RunEmitter,
  )

const ipam = {dataDir: '/var/lib/cni/networks-cnidbg-attr', subnet: '10.201.90.0/24', type: 'host-local'}

t.test('a correct chain: the findings are about the plugin under test', async (t) => {
  const report = await run(chain({ipam, type: 'ptp'}))
  t.same(
    report.checks.map((c) => [c.id, c.plugin, c.status, c.context]),
    [['check.after-add', 'tuning', 'pass', undefined]],
  )
  t.equal(report.context, undefined, 'nothing about the plugins before it')
})

t.test('a broken plugin before the one under test: its finding is context, and does not fail the run', async (t) => {
  // Its CHECK fails right after ADD: the chain's CHECK fails there, and so does the plugin alone.
  const report = await run(chain({ipam, type: 'broken-check-always-fails'}))
  const [finding] = report.checks
  t.match(finding, {context: true, id: 'check.after-add', plugin: 'broken-check-always-fails', status: 'fail'})
  t.same(report.summary, {failed: 0, passed: 0, skipped: 0, warned: 0}, 'not counted against tuning')
  t.same(report.context, {
    plugins: ['broken-check-always-fails'],
    summary: {failed: 1, passed: 0, skipped: 0, warned: 0},
  })
})

t.test('left nothing behind', async (t) => {
  await assertNothingLeft(t, before)
})
