// GC of a network list (SPEC §3, R23) with spy plugins on this host (they touch nothing): it keeps
// going past every error, and a list with disableGC runs nothing at all.
import {join} from 'node:path'

import t from 'tap'

import {encodeConfig, listCacheEntries, writeCacheEntry} from '../../src/runtime/cache.js'
import {parseNetConf} from '../../src/runtime/conf.js'
import {gcNetworkList, type RuntimeContext} from '../../src/runtime/ops.js'
import {CNI_PATH, readSpyLog, spy, workDir} from '../helpers/runtime-fixtures.js'

const work = workDir(t)

/** A 1.1.0 list of spies `one` and `two` (extra keys on `one`), with `stale` attachments cached. */
function setup(name: string, one: Record<string, unknown>, list: Record<string, unknown> = {}, stale = ['s1', 's2']) {
  const log = join(work, `${name}.log`)
  const cacheDir = join(work, `${name}-cache`)
  const text = JSON.stringify({cniVersion: '1.1.0', name, plugins: [spy(log, 'one', one), spy(log, 'two')], ...list})
  for (const containerId of stale)
    writeCacheEntry(cacheDir, {
      config: encodeConfig(text),
      containerId,
      ifName: 'eth0',
      kind: 'cniCacheV1',
      netns: '/proc/self/ns/net',
      networkName: name,
      result: {cniVersion: '1.1.0'},
    })
  const ctx: RuntimeContext = {cacheDir, cniPath: CNI_PATH, timeoutMs: 30_000}
  const calls = () => readSpyLog(log).map((c) => `${c.command} ${c.tag} ${c.env.CNI_CONTAINERID ?? ''}`.trim())
  return {cacheDir, calls, ctx, list: parseNetConf(text, `${name}.conflist`)}
}

t.test('a plugin whose GC fails does not stop the GC of the others (R23)', async (t) => {
  const s = setup('gcfail', {failOn: 'GC'}, {}, [])
  const out = await gcNetworkList(s.list, [], s.ctx)
  t.same(s.calls(), ['GC one', 'GC two'], 'two is still asked')
  t.equal(out.ok, false)
  t.equal(out.errors.length, 1)
  t.match(out.failure, /spy one told to fail GC/)
})

t.test('a stale attachment whose DEL fails does not stop the others, nor the plugins GC (R23)', async (t) => {
  const s = setup('delfail', {failOn: 'DEL'})
  const out = await gcNetworkList(s.list, [], s.ctx)
  // DEL in reverse: two, then one, which fails; then the next attachment all the same.
  t.same(s.calls(), ['DEL two s1', 'DEL one s1', 'DEL two s2', 'DEL one s2', 'GC one', 'GC two'])
  t.equal(out.ok, false)
  t.same(out.deleted, [])
  t.same(
    out.errors.map((e) => e.split(':')[0]),
    ['DEL s1/eth0', 'DEL s2/eth0'],
  )
  t.same(
    listCacheEntries(s.cacheDir).map((e) => e.entry.containerId),
    ['s1', 's2'],
    'what could not be deleted stays cached',
  )
})

t.test('valid attachments are kept; the stale ones are DELeted, then every plugin GCs', async (t) => {
  const s = setup('gcok', {})
  const out = await gcNetworkList(s.list, [{containerID: 's2', ifname: 'eth0'}], s.ctx)
  t.equal(out.ok, true, out.failure ?? 'ok')
  t.same(s.calls(), ['DEL two s1', 'DEL one s1', 'GC one', 'GC two'])
  t.same(out.deleted, [{containerID: 's1', ifname: 'eth0'}])
  t.same(
    listCacheEntries(s.cacheDir).map((e) => e.entry.containerId),
    ['s2'],
  )
})

t.test('disableGC: no plugin runs, no stale attachment is DELeted', async (t) => {
  for (const disableGC of [true, 'true']) {
    const s = setup(`nogc-${String(disableGC)}`, {}, {disableGC})
    t.equal(s.list.disableGC, true)
    const out = await gcNetworkList(s.list, [], s.ctx)
    t.equal(out.ok, true)
    t.match(out.skipped, /disableGC is set/)
    t.same(s.calls(), [], 'nothing ran')
    t.same(out.outcomes, [])
    t.same(
      listCacheEntries(s.cacheDir).map((e) => e.entry.containerId),
      ['s1', 's2'],
      'the cached attachments are left alone',
    )
  }
})
