// scripts/test-loader.mjs: the programs a test starts begin as a user's would, without tap's process
// tracker (in NODE_OPTIONS or on their command line) and without NODE_EXTRA_CA_CERTS, and the
// tracker's spawn hook is off in the test process itself.
import {spawnSync} from 'node:child_process'

import t from 'tap'

import {run} from '../../src/process/exec.js'

const PROBE =
  'console.log(JSON.stringify([process.env.NODE_OPTIONS ?? "", process.execArgv, "NODE_EXTRA_CA_CERTS" in process.env]))'

t.test('a Node program a test starts has no tracker and no extra CA bundle', async (t) => {
  for (const [how, stdout] of [
    ['run()', (await run(process.execPath, ['-e', PROBE])).stdout],
    ['spawnSync', spawnSync(process.execPath, ['-e', PROBE], {encoding: 'utf8'}).stdout],
  ] as const) {
    const [options, execArgv, extraCa] = JSON.parse(stdout) as [string, string[], boolean]
    t.notMatch(options, /processinfo/, `${how}: NODE_OPTIONS without the tracker`)
    t.same(
      execArgv.filter((a) => /^(--import|--require|-r|--loader|--experimental-loader)\b/.test(a)),
      [],
      `${how}: nothing preloaded`,
    )
    t.equal(extraCa, false, `${how}: no NODE_EXTRA_CA_CERTS`)
  }
})

t.test("the tracker's spawn hook is off", async (t) => {
  const hooks = (globalThis as Record<symbol, {listeners?: unknown[]} | undefined>)[
    Symbol.for('process-on-spawn@*:singletonId')
  ]
  t.same(hooks?.listeners ?? [], [], 'no listener left to run on a spawn')
})
