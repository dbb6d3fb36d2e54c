import t from 'tap'

import {runAttached} from '../../src/process/attached.js'

t.test('runAttached reports the exit code and signal of a program on our terminal', async (t) => {
  t.same(await runAttached('sh', ['-c', 'exit 5']), {exitCode: 5, signal: null, spawnError: undefined})
  t.match(await runAttached('sh', ['-c', 'kill -TERM $$']), {exitCode: null, signal: 'SIGTERM'})
  t.match(
    await runAttached('sh', ['-c', 'test "$CNIDBG_X" = 1'], {env: {CNIDBG_X: '1'}}),
    {exitCode: 0},
    'extra env passed',
  )
})

t.test('runAttached reports a program that cannot start', async (t) => {
  const r = await runAttached('/nonexistent/cnidbg-prog', [])
  t.equal(r.exitCode, null)
  t.match(r.spawnError, /ENOENT/)
})
