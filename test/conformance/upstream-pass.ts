import {EventEmitter} from 'node:events'
import {readFileSync} from 'node:fs'

import t from 'tap'

import type {PluginRole} from '../../src/checks/types.js'
import {type RunEmitter, runConformance} from '../../src/conformance/runner.js'

// A correct upstream plugin passes: the real Debian plugins, in every role,
// must come out with zero failures under the default profile.
const ROOT = new URL('../../', import.meta.url).pathname
const passing = JSON.parse(readFileSync(`${ROOT}fixtures/conf/passing.json`, 'utf8')) as Array<{
  conf: string
  role: PluginRole
  description: string
}>

t.setTimeout(60 * 60 * 1000)
for (const p of passing) {
  // bridge runs at every version it claims (the suite's speed figure); the rest at their newest.
  const allVersions = p.conf.endsWith('upstream-bridge.conflist')
  t.test(`${p.conf} passes (${p.role})`, async (t) => {
    const report = await runConformance(
      {
        cniPath: [`${ROOT}fixtures/plugins/bin`, '/usr/lib/cni'],
        conf: `${ROOT}${p.conf}`,
        host: false,
        parallel: 3,
        profile: 'default',
        role: p.role,
        strict: false,
        timeoutSeconds: 30,
        versions: allVersions ? undefined : ['highest'],
      },
      new EventEmitter() as RunEmitter,
    )
    const failed = report.checks.filter((c) => c.status === 'fail')
    t.same(
      failed.map((c) => `${c.id}@${c.version}: ${c.message}`),
      [],
      `${p.description} ${report.summary.passed} passed, ${report.summary.warned} warned`,
    )
    t.ok(report.summary.passed > 10, 'a real run, not an empty one')
  })
}
