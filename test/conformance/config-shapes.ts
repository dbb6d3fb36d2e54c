/**
 * Configs whose shape once gave false results: a dual-stack bridge whose two IPv6 default routes
 * merge into one multipath route.
 */
import {EventEmitter} from 'node:events'
import {mkdtempSync, rmSync} from 'node:fs'
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

t.test("dual-stack bridge: DEL of net1 leaves eth0's IPv6 default route, which was multipath", async (t) => {
  const report = await run(`${ROOT}fixtures/conf/dualstack-bridge.conflist`, {
    cniPath: ['/usr/lib/cni'],
    only: ['isolation.del-leaves-others'],
  })
  t.same(statuses(report), {'isolation.del-leaves-others': 'pass'})
})

t.test('left nothing behind', async (t) => {
  await assertNothingLeft(t, before)
})
