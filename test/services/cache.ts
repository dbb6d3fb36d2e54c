// The cache commands' service (src/services/cache.ts) on entries written as libcni writes them: list,
// show and rm by network, container ID and interface name, and names that would leave results/ refused.
import {existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

import {encodeConfig, writeCacheEntry} from '../../src/runtime/cache.js'
import {cacheList, cacheRm, cacheShow} from '../../src/services/cache.js'
import {cnidbgError} from '../helpers/errors.js'

const root = mkdtempSync(join(tmpdir(), 'cnidbg-cache-svc-'))
t.teardown(() => rmSync(root, {recursive: true, force: true}))
const cacheDir = join(root, 'cache')
const config = {cniVersion: '1.0.0', name: 'net1', plugins: [{type: 'bridge'}]}
const result = {cniVersion: '1.0.0', ips: [{address: '10.1.0.5/24'}], dns: {}}
const entry = (containerId: string) => ({
  kind: 'cniCacheV1' as const,
  containerId,
  config: encodeConfig(JSON.stringify(config)),
  ifName: 'eth0',
  networkName: 'net1',
  netns: '/run/netns/x',
  cniArgs: [['K8S_POD_NAME', 'web']] as Array<[string, string]>,
  result,
})
writeCacheEntry(cacheDir, entry('c1'))
writeCacheEntry(cacheDir, entry('c2'))

t.test('list, show and rm by name', async (t) => {
  t.match(cacheList({cacheDir}), {
    cacheDir,
    entries: [
      {network: 'net1', containerId: 'c1', ifname: 'eth0', ips: ['10.1.0.5/24'], netns: '/run/netns/x'},
      {network: 'net1', containerId: 'c2'},
    ],
  })
  const shown = cacheShow({cacheDir, network: 'net1', containerId: 'c1', ifname: 'eth0'})
  t.match(shown, {config, result, cniArgs: [['K8S_POD_NAME', 'web']], file: join(cacheDir, 'results', 'net1-c1-eth0')})
  t.same(cacheRm({cacheDir, network: 'net1', containerId: 'c1', ifname: 'eth0'}), {
    removed: join(cacheDir, 'results', 'net1-c1-eth0'),
  })
  t.same(readdirSync(join(cacheDir, 'results')), ['net1-c2-eth0'], 'only that entry went')
  t.throws(
    () => cacheShow({cacheDir, network: 'net1', containerId: 'c1', ifname: 'eth0'}),
    cnidbgError('CACHE_ENTRY_NOT_FOUND', 2, /^No cached attachment /),
  )
})

t.test('a name that would reach outside results/ is refused before any file is read', async (t) => {
  // An entry libcni could have written, in a place the names below would reach.
  const outside = join(root, 'elsewhere')
  mkdirSync(outside)
  writeCacheEntry(outside, entry('c3'))
  const target = join(outside, 'results', 'net1-c3-eth0')
  const fromResults = join('..', '..', 'elsewhere', 'results', 'net1')
  for (const [key, code, what] of [
    [{network: fromResults, containerId: 'c3', ifname: 'eth0'}, 'INVALID_NETWORK_NAME', 'Network name'],
    [{network: 'net1', containerId: 'a/../../x', ifname: 'eth0'}, 'INVALID_CONTAINER_ID', 'Container ID'],
    [{network: 'net1', containerId: 'c3', ifname: '..'}, 'INVALID_IFNAME', 'Interface name'],
    [{network: 'net1', containerId: 'c3', ifname: 'a/b'}, 'INVALID_IFNAME', 'Interface name'],
  ] as const) {
    for (const op of [cacheShow, cacheRm]) {
      t.throws(() => op({cacheDir, ...key}), cnidbgError(code, 2, new RegExp(`^${what} "`)))
    }
  }
  t.ok(existsSync(target), 'the entry outside the cache is still there')
})

t.test('a file there that is not an entry is never removed', async (t) => {
  writeFileSync(join(cacheDir, 'results', 'net1-c9-eth0'), 'not an entry')
  t.throws(
    () => cacheRm({cacheDir, network: 'net1', containerId: 'c9', ifname: 'eth0'}),
    cnidbgError('CACHE_ENTRY_NOT_FOUND', 2, /^No cached attachment /),
  )
  t.ok(existsSync(join(cacheDir, 'results', 'net1-c9-eth0')))
})
