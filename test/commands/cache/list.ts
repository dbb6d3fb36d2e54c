// `cnidbg cache list` over a cache dir someone else may have planted things in, as the built CLI: a
// FIFO, a symlink to /dev/zero and a file far larger than any entry sit beside a real entry. The list
// shows the entry; it neither blocks on the FIFO (which it used to, for good: its open(2) held the
// process where no signal handler runs) nor reads without end.
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {run} from '../../../src/process/exec.js'
import {encodeConfig, writeCacheEntry} from '../../../src/runtime/cache.js'
import {ROOT} from '../../helpers/capture.js'

const bin = join(ROOT, 'bin', 'run.js')
const noDist = existsSync(join(ROOT, 'dist', 'bundle', 'run.cjs'))
  ? false
  : 'dist/ is not built: run `npm run build` first'

t.test(
  'a FIFO, a symlink and a huge file in results/ are skipped; the entry beside them is listed',
  {skip: noDist},
  async (t) => {
    const dir = mkdtempSync('/tmp/cnidbgtest-cache-cli-')
    t.teardown(() => rmSync(dir, {force: true, recursive: true}))
    const results = join(dir, 'results')
    mkdirSync(results)
    execFileSync('mkfifo', [join(results, 'net-fifo-eth0')])
    symlinkSync('/dev/zero', join(results, 'net-zero-eth0'))
    writeFileSync(join(results, 'net-huge-eth0'), '')
    truncateSync(join(results, 'net-huge-eth0'), 3 * 1024 ** 3)
    writeCacheEntry(dir, {
      config: encodeConfig('{"cniVersion":"1.0.0","name":"net","plugins":[{"type":"bridge"}]}'),
      containerId: 'real',
      ifName: 'eth0',
      kind: 'cniCacheV1',
      networkName: 'net',
    })
    // The timeout only keeps a regression from holding the suite: the run itself takes well under a second.
    const r = await run('node', [bin, 'cache', 'list', '--cache-dir', dir, '--json'], {timeoutMs: 60_000})
    t.equal(r.timedOut, false, 'it did not block')
    t.equal(r.exitCode, 0, r.stderr)
    const env = JSON.parse(r.stdout) as {result: {entries: Array<{containerId: string}>}}
    t.same(
      env.result.entries.map((e) => e.containerId),
      ['real'],
    )
  },
)
