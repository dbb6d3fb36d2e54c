import t from 'tap'

import {CniError} from '../../src/reference-plugin/errors.js'
import {runPlugin, type PluginFuncs} from '../../src/reference-plugin/skel.js'

const calls: string[] = []
const fake: PluginFuncs = {
  about: 'fake',
  add: async (ctx) => {
    calls.push('ADD')
    return {cniVersion: ctx.cniVersion, ips: [{address: '10.0.0.2/24'}]}
  },
  del: async () => void calls.push('DEL'),
  check: async () => {
    throw new CniError(110, 'drift', 'details here')
  },
  status: async () => void calls.push('STATUS'),
  gc: async () => void calls.push('GC'),
}
const env = (verb: string, extra: Record<string, string> = {}) => ({
  CNI_COMMAND: verb,
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/run/netns/x',
  CNI_IFNAME: 'eth0',
  ...extra,
})
const conf = (v: string) => JSON.stringify({cniVersion: v, name: 'n', type: 'x'})
const run = async (verb: string, stdin: string | Error, extra: Record<string, string> = {}) => {
  const out = await runPlugin(fake, env(verb, extra), stdin)
  return {...out, json: out.stdout ? JSON.parse(out.stdout) : undefined}
}

t.test('VERSION echoes a supported cniVersion and needs no other env', async (t) => {
  const r = await runPlugin(fake, {CNI_COMMAND: 'VERSION'}, '{"cniVersion":"0.3.1"}')
  t.same(JSON.parse(r.stdout), {cniVersion: '0.3.1', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']})
  const empty = await runPlugin(fake, {CNI_COMMAND: 'VERSION'}, '')
  t.equal(JSON.parse(empty.stdout).cniVersion, '1.1.0')
})

t.test('error codes and gating', async (t) => {
  t.match((await run('ADD', conf('0.2.0'))).json, {code: 1, cniVersion: '0.2.0', msg: 'incompatible CNI versions'})
  t.match((await run('CHECK', conf('0.3.1'))).json, {code: 1, msg: /CHECK/})
  t.match((await run('STATUS', conf('1.0.0'))).json, {code: 1, msg: /STATUS/})
  t.match((await run('GC', conf('1.0.0'))).json, {code: 1, msg: /GC/})
  t.match((await run('ADD', '{')).json, {code: 6})
  t.match((await run('ADD', new Error('EIO'))).json, {code: 5})
  t.match((await run('ADD', conf('1.0.0'), {CNI_IFNAME: ''})).json, {code: 4, msg: /CNI_IFNAME/})
  t.match((await run('ADD', conf('1.0.0'), {CNI_CONTAINERID: 'a/b'})).json, {code: 4, msg: /CNI_CONTAINERID/})
  t.match((await run('BOGUS', conf('1.0.0'))).json, {code: 4, msg: /BOGUS/})
  t.match((await run('ADD', JSON.stringify({cniVersion: '1.0.0', name: 'bad name'}))).json, {code: 7})
  t.match((await run('CHECK', conf('1.0.0'))).json, {
    code: 110,
    msg: 'drift',
    details: 'details here',
    cniVersion: '1.0.0',
  })
  const del = await run('DEL', conf('1.0.0'), {CNI_NETNS: ''})
  t.equal(del.exitCode, 0, 'DEL needs no CNI_NETNS')
  t.equal(del.stdout, '')
  const add = await run('ADD', conf('0.4.0'))
  t.same(add.json, {cniVersion: '0.4.0', ips: [{version: '4', address: '10.0.0.2/24'}], dns: {}})
  t.equal((await run('STATUS', conf('1.1.0'), {CNI_CONTAINERID: '', CNI_IFNAME: '', CNI_NETNS: ''})).exitCode, 0)
})
