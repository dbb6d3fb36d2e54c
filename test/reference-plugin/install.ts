import {mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

import {buildConflist, installRefPlugins} from '../../src/reference-plugin/install.js'
import {bundle} from '../helpers/ref-plugins.js'

const plugins = await bundle(t)
const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn()
  } catch (error) {
    return (error as {cnidbgCode?: string}).cnidbgCode
  }
  return undefined
}
const root = mkdtempSync(join(tmpdir(), 'cnidbg-install-'))
t.teardown(() => rmSync(root, {recursive: true, force: true}))

t.test('installs both executables and a conflist into any dirs', async (t) => {
  const binDir = join(root, 'bin')
  const confDir = join(root, 'net.d')
  const r = installRefPlugins({
    binDir,
    confDir,
    name: 'mynet',
    mtu: 1450,
    subnet: '10.244.7.0/24',
    sea: false,
    pluginsDir: plugins,
  })
  t.same(r.executables, [join(binDir, 'cnidbg-ref'), join(binDir, 'cnidbg-ipam')])
  for (const e of r.executables) {
    t.equal(statSync(e).mode & 0o777, 0o755, `${e} is executable`)
    t.equal(readFileSync(e, 'utf8'), readFileSync(join(plugins, e.split('/').pop()!), 'utf8'))
  }
  t.equal(r.conflist, join(confDir, '10-mynet.conflist'))
  const conf = JSON.parse(readFileSync(r.conflist, 'utf8'))
  t.same(conf, {
    cniVersion: '1.0.0',
    name: 'mynet',
    plugins: [
      {type: 'cnidbg-ref', mtu: 1450, ipam: {type: 'cnidbg-ipam', subnet: '10.244.7.0/24'}},
      {type: 'portmap', capabilities: {portMappings: true}},
    ],
  })
  // Installing again replaces the files in place.
  installRefPlugins({binDir, confDir, name: 'mynet', sea: false, pluginsDir: plugins})
  t.notOk('mtu' in JSON.parse(readFileSync(r.conflist, 'utf8')).plugins[0])
})

t.test('subnet file by default; bad input is a usage error', async (t) => {
  t.same((buildConflist({name: 'n', subnetFile: '/run/x.env'}).plugins as any)[0].ipam, {
    type: 'cnidbg-ipam',
    subnetFile: '/run/x.env',
  })
  t.same((buildConflist({name: 'n'}).plugins as any)[0].ipam, {type: 'cnidbg-ipam'})
  const base = {binDir: join(root, 'b2'), confDir: join(root, 'c2'), name: 'n', sea: false, pluginsDir: plugins}
  t.equal(
    codeOf(() => installRefPlugins({...base, subnet: '10.1.2.3/24'})),
    'INVALID_SUBNET',
  )
  t.equal(
    codeOf(() => installRefPlugins({...base, name: 'bad name'})),
    'INVALID_NAME',
  )
  t.equal(
    codeOf(() => installRefPlugins({...base, mtu: 10})),
    'INVALID_MTU',
  )
  t.equal(
    codeOf(() => installRefPlugins({...base, sea: true, pluginsDir: join(root, 'nothing')})),
    'PLUGINS_NOT_BUILT',
  )
})
