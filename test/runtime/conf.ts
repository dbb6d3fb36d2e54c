import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {loadConfByName, loadConfFile, parseNetConf, selectVersion} from '../../src/runtime/conf.js'
import {cnidbgError} from '../helpers/errors.js'

const bridge = {
  cniVersion: '1.0.0',
  name: 'mynet',
  plugins: [
    {type: 'bridge', bridge: 'cni0', ipam: {type: 'host-local', subnet: '10.1.0.0/24'}},
    {type: 'portmap', capabilities: {portMappings: true}},
  ],
}

t.test('a config list: fields, defaults, unknown keys kept, exact bytes', async (t) => {
  const text = JSON.stringify({...bridge, 'x-vendor': {a: 1}}, null, 2) + '\n'
  const list = parseNetConf(text, 'my.conflist')
  t.equal(list.name, 'mynet')
  t.equal(list.cniVersion, '1.0.0')
  t.equal(list.cniVersions, undefined)
  t.equal(list.disableCheck, false)
  t.equal(list.disableGC, false)
  t.equal(list.loadOnlyInlinedPlugins, false)
  t.same(
    list.plugins.map((p) => p.type),
    ['bridge', 'portmap'],
  )
  t.same(list.raw['x-vendor'], {a: 1}, 'R5: unknown top-level keys survive')
  t.equal(list.bytes, text, 'the exact bytes (libcni caches them for DEL)')
  t.equal(list.source, 'my.conflist')
})

t.test('a single plugin .conf is up-converted to a one-plugin list', async (t) => {
  const conf = {cniVersion: '0.4.0', name: 'single', type: 'ptp', ipam: {type: 'host-local', subnet: '10.9.0.0/24'}}
  const list = parseNetConf(JSON.stringify(conf), '10-single.conf')
  t.equal(list.name, 'single')
  t.equal(list.cniVersion, '0.4.0')
  t.equal(list.plugins.length, 1)
  t.same(list.plugins[0], conf)
})

t.test('boolean flags accept true/false and the strings libcni accepts', async (t) => {
  const list = parseNetConf(
    JSON.stringify({...bridge, disableCheck: 'true', disableGC: true, loadOnlyInlinedPlugins: 'false'}),
    'x',
  )
  t.equal(list.disableCheck, true)
  t.equal(list.disableGC, true)
  t.equal(list.loadOnlyInlinedPlugins, false)
  t.throws(() => parseNetConf(JSON.stringify({...bridge, disableCheck: 'yes'}), 'x'), cnidbgError('INVALID_CONFIG'))
})

t.test('cniVersions alone is enough', async (t) => {
  const {cniVersion: _drop, ...rest} = bridge
  const list = parseNetConf(JSON.stringify({...rest, cniVersions: ['1.0.0', '1.1.0']}), 'x')
  t.equal(list.cniVersion, undefined)
  t.same(list.cniVersions, ['1.0.0', '1.1.0'])
})

// Each bad config names the file and the problem, and is a usage error (exit 2).
const bad: Array<[why: string, text: string, match: RegExp]> = [
  ['not JSON', '{"name": "x",', /not valid JSON/],
  ['a JSON array', '[1]', /must be a JSON object/],
  [
    // Was "Maximum call stack size exceeded", exit 70, once a walk of the value overflowed the stack.
    'nested 20,000 levels deep',
    `{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"bridge","x":${'['.repeat(20_000)}${']'.repeat(20_000)}}]}`,
    /not valid JSON \(JSON nested deeper than \d+ levels\)/,
  ],
  ['a JSON string', '"x"', /must be a JSON object/],
  ['no name', JSON.stringify({cniVersion: '1.0.0', plugins: [{type: 'bridge'}]}), /"name" is missing/],
  ['a name with a space', JSON.stringify({...bridge, name: 'my net'}), /network name "my net" is invalid/],
  ['a name starting with "-"', JSON.stringify({...bridge, name: '-x'}), /is invalid/],
  ['plugins not a list', JSON.stringify({...bridge, plugins: {type: 'bridge'}}), /"plugins" must be a list/],
  ['empty plugins', JSON.stringify({...bridge, plugins: []}), /"plugins" is empty/],
  ['a plugin that is not an object', JSON.stringify({...bridge, plugins: ['bridge']}), /plugins\[0\] is not an object/],
  ['a plugin without type', JSON.stringify({...bridge, plugins: [{bridge: 'x'}]}), /plugins\[0\] has no "type"/],
  [
    'a type with a path',
    JSON.stringify({...bridge, plugins: [{type: '/opt/cni/bin/bridge'}]}),
    /contains a path separator/,
  ],
  [
    'a relative path type',
    JSON.stringify({...bridge, plugins: [{type: 'bridge'}, {type: '../evil'}]}),
    /plugins\[1\].type "..\/evil" contains a path separator/,
  ],
  ['a malformed cniVersion', JSON.stringify({...bridge, cniVersion: '1.0'}), /"cniVersion" "1.0" is not a version/],
  ['a numeric cniVersion', JSON.stringify({...bridge, cniVersion: 1}), /is not a version/],
  ['no cniVersion at all', JSON.stringify({name: 'x', plugins: [{type: 'bridge'}]}), /no "cniVersion"/],
  [
    'cniVersions not a list of versions',
    JSON.stringify({...bridge, cniVersions: ['1.0.0', 'latest']}),
    /"cniVersions" must be a list/,
  ],
]
t.test('malformed configs: INVALID_CONFIG, exit 2, naming the source', async (t) => {
  for (const [why, text, match] of bad) {
    const err = t.throws(
      () => parseNetConf(text, 'cfg.conflist'),
      cnidbgError('INVALID_CONFIG', 2),
      why,
    ) as unknown as Error
    t.match(err?.message, match, `${why}: message`)
    t.match(err?.message, /^cfg\.conflist: /, `${why}: names the file`)
  }
})

t.test('loadConfFile: a missing file is CONFIG_NOT_FOUND (exit 2)', async (t) => {
  t.throws(() => loadConfFile('/nonexistent/x.conflist'), cnidbgError('CONFIG_NOT_FOUND', 2, /ENOENT/))
})

t.test('loadConfByName: the libcni search order', async (t) => {
  const dir = mkdtempSync('/tmp/cnidbgtest-conf-')
  t.teardown(() => rmSync(dir, {force: true, recursive: true}))
  const w = (name: string, v: unknown) => writeFileSync(join(dir, name), typeof v === 'string' ? v : JSON.stringify(v))
  w('05-broken.conflist', '{not json')
  w('10-a.conflist', {...bridge, name: 'a'})
  w('20-b.conflist', {...bridge, name: 'b'})
  w('30-inline.conflist', {...bridge, loadOnlyInlinedPlugins: true, name: 'inline'})
  w('40-dup.conf', {cniVersion: '1.0.0', name: 'dup', type: 'from-conf'})
  w('50-dup.conflist', {cniVersion: '1.0.0', name: 'dup', plugins: [{type: 'from-conflist'}]})
  w('60-single.conf', {cniVersion: '0.3.1', name: 'single', type: 'ptp'})
  w('70-json.json', {cniVersion: '0.3.1', name: 'json', type: 'ptp'})
  w('notes.txt', 'ignored')
  // SPEC §1 (R6): plugins in <dir>/<network>/*.conf are appended after the inlined ones, sorted.
  for (const net of ['b', 'inline']) {
    mkdirSync(join(dir, net))
    w(`${net}/20-second.conf`, {type: 'second'})
    w(`${net}/10-first.conf`, {type: 'first'})
    w(`${net}/99-ignored.json`, {type: 'not-a-conf'})
  }

  t.same(
    loadConfByName(dir, 'a').plugins.map((p) => p.type),
    ['bridge', 'portmap'],
  )
  t.same(
    loadConfByName(dir, 'b').plugins.map((p) => p.type),
    ['bridge', 'portmap', 'first', 'second'],
    'per-network plugin dir appended',
  )
  t.same(
    loadConfByName(dir, 'inline').plugins.map((p) => p.type),
    ['bridge', 'portmap'],
    'loadOnlyInlinedPlugins ignores the dir',
  )
  t.same(
    loadConfByName(dir, 'dup').plugins.map((p) => p.type),
    ['from-conflist'],
    '.conflist files are searched before .conf',
  )
  t.equal(loadConfByName(dir, 'single').source, join(dir, '60-single.conf'))
  t.equal(loadConfByName(dir, 'json').plugins[0]?.type, 'ptp', '.json is a legacy single config too')
  const err = t.throws(() => loadConfByName(dir, 'nope'), cnidbgError('NETWORK_NOT_FOUND', 2)) as unknown as {
    suggestions: string[]
  }
  t.match(err.suggestions[0], /Networks there: a, b, inline, dup, single, json/)
  t.throws(() => loadConfByName(join(dir, 'missing-dir'), 'a'), cnidbgError('NETWORK_NOT_FOUND'))
})

t.test('selectVersion (R2): the highest supported of cniVersion and cniVersions', async (t) => {
  t.equal(selectVersion({cniVersion: '0.4.0', source: 'x'}), '0.4.0')
  t.equal(
    selectVersion({cniVersion: '0.4.0', cniVersions: ['1.0.0', '1.1.0', '2.0.0'], source: 'x'}),
    '1.1.0',
    'newer than ours is skipped',
  )
  t.equal(selectVersion({cniVersions: ['0.3.1', '0.2.0'], source: 'x'}), '0.3.1')
  t.throws(() => selectVersion({cniVersion: '9.9.9', source: 'x'}), cnidbgError('UNSUPPORTED_VERSION', 2))
  t.throws(
    () => selectVersion({cniVersions: ['0.5.0'], source: 'x'}),
    cnidbgError('UNSUPPORTED_VERSION'),
    'not a published version',
  )
})
