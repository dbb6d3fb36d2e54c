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
import CacheList from '../../../src/commands/cache/list.js'
import type {CacheListResult} from '../../../src/services/cache.js'
import {ROOT, runCommand} from '../../helpers/capture.js'

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

t.test("another runtime's entry with escape sequences in its names: shown without them", async (t) => {
  const dir = mkdtempSync('/tmp/cnidbgtest-cache-esc-')
  t.teardown(() => rmSync(dir, {force: true, recursive: true}))
  const esc = '\u001b]52;c;aGVsbG8=\u0007\u001b[2K'
  writeCacheEntry(dir, {
    config: encodeConfig('{}'),
    containerId: `ctr${esc}`,
    ifName: 'eth0',
    kind: 'cniCacheV1',
    netns: `/run/netns/x${esc}\r`,
    networkName: 'net',
    result: {cniVersion: '1.0.0', ips: [{address: {toString: 1}}, {address: `10.0.0.2/24${esc}`}]},
  })
  const c = await runCommand(CacheList, 'cache:list', ['--cache-dir', dir])
  t.equal(c.exitCode, 0, c.stderr)
  // eslint-disable-next-line no-control-regex -- those characters are what this looks for
  t.notMatch(c.stdout, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, 'no control character but newlines')
  t.match(c.stdout, /^net +ctr.* eth0 +\{"toString":1\},10\.0\.0\.2\/24.* \/run\/netns\/x/m)
  const j = await runCommand<CacheListResult>(CacheList, 'cache:list', ['--cache-dir', dir, '--json'])
  t.equal(JSON.parse(j.stdout).result.entries[0].containerId, `ctr${esc}`, '--json keeps the exact value')
})
