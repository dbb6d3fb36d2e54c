// Full conformance suite on upstream bridge + host-local, across every version they claim:
// wall time against the summed plugin run time (the overhead the suite adds), for several --parallel.
// Usage: node bench/conformance.mjs [--parallel 2,4] (needs root and a built dist/).
import {EventEmitter} from 'node:events'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {runConformance} from '../dist/conformance/runner.js'

const arg = process.argv.indexOf('--parallel')
const parallels = (arg > 0 ? process.argv[arg + 1] : '2,4').split(',').map(Number)
const dir = mkdtempSync(join(tmpdir(), 'cnidbg-bench-'))
const conf = join(dir, 'bridge.conflist')
writeFileSync(
  conf,
  JSON.stringify({
    cniVersion: '1.0.0',
    name: 'benchbr',
    plugins: [
      {
        bridge: 'cni0',
        ipam: {ranges: [[{subnet: '10.99.0.0/24'}]], routes: [{dst: '0.0.0.0/0'}], type: 'host-local'},
        isGateway: true,
        type: 'bridge',
      },
    ],
  }),
)
const rows = []
try {
  for (const parallel of parallels) {
    const r = await runConformance(
      {cniPath: ['/usr/lib/cni'], conf, host: false, parallel, profile: 'default', strict: false, timeoutSeconds: 30},
      new EventEmitter(),
    )
    rows.push({
      parallel,
      cases: r.checks.length,
      versions: r.versions.join(','),
      'wall s': (r.durationMs / 1000).toFixed(1),
      'plugin s (summed)': (r.pluginTimeMs / 1000).toFixed(1),
      'plugin s / parallel': (r.pluginTimeMs / 1000 / parallel).toFixed(1),
      'overhead ratio (wall ÷ plugin/parallel)': (r.durationMs / (r.pluginTimeMs / parallel)).toFixed(2),
      failed: r.summary.failed,
    })
  }
} finally {
  rmSync(dir, {force: true, recursive: true})
}
console.table(rows)
