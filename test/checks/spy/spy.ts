import {mkdtempSync, rmSync} from 'node:fs'

import t from 'tap'

import {createSpy, readSpyLog, type SpyControl} from '../../../src/checks/spy/control.js'
import {findControl, runSpy} from '../../../src/checks/spy/spy.js'

const dir = mkdtempSync('/tmp/cnidbgtest-spy-')
t.teardown(() => rmSync(dir, {recursive: true, force: true}))
let n = 0

function spy(control: Omit<SpyControl, 'log'> = {}) {
  return createSpy(dir, `s${n++}`, control)
}

const env = (verb: string, extra: Record<string, string> = {}) => ({
  CNI_COMMAND: verb,
  CNI_CONTAINERID: 'ctr-1',
  CNI_NETNS: '/run/netns/x',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
  HOME: '/root',
  ...extra,
})

const prev100 = {
  cniVersion: '1.0.0',
  interfaces: [{name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/run/netns/x'}],
  ips: [{address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0}],
}

t.test('finds its control in CNI_ARGS, ipam, the config, then the environment', async (t) => {
  t.same(findControl({CNI_ARGS: 'IgnoreUnknown=1;CNIDBG_SPY=/a'}, {spy: {control: '/b'}}, 'cnidbg-spy'), {
    path: '/a',
    from: 'cni-args',
  })
  const asIpam = {type: 'ptp', spy: {control: '/top'}, ipam: {type: 'cnidbg-spy', spy: {control: '/ipam'}}}
  t.same(findControl({}, asIpam, 'cnidbg-spy'), {path: '/ipam', from: 'ipam'})
  t.same(findControl({}, asIpam, 'other-spy'), {path: '/top', from: 'config'}, 'not its ipam: the top key')
  t.same(findControl({}, {ipam: {type: 'cnidbg-spy'}}, 'cnidbg-spy.mjs'), undefined)
  t.same(findControl({}, {'spy.control': '/flat'}, 'x'), {path: '/flat', from: 'config'})
  t.same(findControl({CNIDBG_SPY_CONTROL: '/env'}, {}, 'x'), {path: '/env', from: 'env'})
  t.equal(findControl({}, null, 'x'), undefined)
})

t.test('without a control: VERSION works, everything else is a code 7 error', async (t) => {
  const v = runSpy({env: {CNI_COMMAND: 'VERSION'}, stdin: '{"cniVersion":"0.4.0"}', self: 'cnidbg-spy'})
  t.same(JSON.parse(v.stdout), {
    cniVersion: '0.4.0',
    supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
  })
  const a = runSpy({env: env('ADD'), stdin: '{"cniVersion":"1.0.0"}', self: 'cnidbg-spy'})
  t.equal(a.exitCode, 1)
  t.match(JSON.parse(a.stdout), {cniVersion: '1.0.0', code: 7, msg: /no control file/})
})

t.test('records the call: command, CNI_* env, raw and parsed stdin, and its reply', async (t) => {
  const s = spy({label: 'ipam'})
  const conf = {cniVersion: '1.0.0', name: 'n', type: 'ptp', ...s.configKey}
  const stdin = JSON.stringify(conf)
  const out = runSpy({env: env('DEL'), stdin, self: 'cnidbg-spy'})
  t.same(out, {stdout: '', stderr: '', exitCode: 0}, 'DEL defaults to silent success')
  const [e] = readSpyLog(s.log)
  t.equal(e?.command, 'DEL')
  t.equal(e?.label, 'ipam')
  t.equal(e?.plugin, 'cnidbg-spy')
  t.same(e?.env, {
    CNI_COMMAND: 'DEL',
    CNI_CONTAINERID: 'ctr-1',
    CNI_NETNS: '/run/netns/x',
    CNI_IFNAME: 'eth0',
    CNI_PATH: '/opt/cni/bin',
  })
  t.equal(e?.stdin, stdin)
  t.same(e?.config, conf)
  t.equal(e?.controlFrom, 'config')
  t.same(e?.reply, {exitCode: 0, stdout: '', stderr: ''})
})

t.test("recordEnv 'all' keeps the whole environment", async (t) => {
  const s = spy({recordEnv: 'all'})
  runSpy({env: env('CHECK'), stdin: JSON.stringify({cniVersion: '1.0.0', ...s.configKey}), self: 'x'})
  t.equal(readSpyLog(s.log)[0]?.env.HOME, '/root')
})

t.test('ADD: PASSTHROUGH converts prevResult to the request version; default passes it through', async (t) => {
  const s = spy({verbs: {ADD: {result: 'PASSTHROUGH'}}})
  const out = runSpy({
    env: env('ADD'),
    stdin: JSON.stringify({cniVersion: '0.4.0', ...s.configKey, prevResult: prev100}),
    self: 'x',
  })
  t.equal(out.exitCode, 0)
  t.same(JSON.parse(out.stdout).ips, [{version: '4', address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0}])
  const d = spy()
  const def = runSpy({
    env: env('ADD'),
    stdin: JSON.stringify({cniVersion: '1.0.0', ...d.configKey, prevResult: prev100}),
    self: 'x',
  })
  t.same(JSON.parse(def.stdout), prev100)
  const first = runSpy({env: env('ADD'), stdin: JSON.stringify({cniVersion: '1.0.0', ...d.configKey}), self: 'x'})
  t.same(JSON.parse(first.stdout), {cniVersion: '1.0.0'}, 'first in a chain: an empty result')
})

t.test('ADD: an IPAM answer, a given result, an error with stderr, raw stdout', async (t) => {
  const s = spy({
    verbs: {
      ADD: [
        {ipam: {ips: [{address: '10.9.0.2/24', gateway: '10.9.0.1'}]}},
        {result: {cniVersion: '1.0.0', interfaces: [{name: 'eth0'}], ips: []}},
        {error: {code: 11, msg: 'try later', details: 'pool busy'}, stderr: 'spy-marker\n', exitCode: 3},
        {stdout: 'not json at all', exitCode: 0},
      ],
    },
  })
  const stdin = JSON.stringify({cniVersion: '0.3.1', ipam: {type: 'cnidbg-spy', ...s.configKey}})
  const call = () => runSpy({env: env('ADD'), stdin, self: 'cnidbg-spy'})
  t.same(JSON.parse(call().stdout), {
    cniVersion: '0.3.1',
    ips: [{version: '4', address: '10.9.0.2/24', gateway: '10.9.0.1'}],
  })
  t.same(
    JSON.parse(call().stdout),
    {cniVersion: '0.3.1', interfaces: [{name: 'eth0'}], ips: []},
    'a given result, in 0.3.1',
  )
  const e = call()
  t.equal(e.exitCode, 3)
  t.equal(e.stderr, 'spy-marker\n')
  t.same(JSON.parse(e.stdout), {cniVersion: '0.3.1', code: 11, msg: 'try later', details: 'pool busy'})
  t.same(call(), {stdout: 'not json at all', stderr: '', exitCode: 0})
  t.same(call(), {stdout: 'not json at all', stderr: '', exitCode: 0}, 'the last reply repeats')
  t.same(
    readSpyLog(s.log).map((x) => x.controlFrom),
    ['ipam', 'ipam', 'ipam', 'ipam', 'ipam'],
  )
})

t.test('versions: VERSION lists them and other requests must use one', async (t) => {
  const s = spy({versions: ['0.4.0', '1.0.0']})
  const v = runSpy({
    env: {CNI_COMMAND: 'VERSION'},
    stdin: JSON.stringify({cniVersion: '1.1.0', ...s.configKey}),
    self: 'x',
  })
  t.same(JSON.parse(v.stdout), {cniVersion: '1.0.0', supportedVersions: ['0.4.0', '1.0.0']})
  const a = runSpy({env: env('ADD'), stdin: JSON.stringify({cniVersion: '1.1.0', ...s.configKey}), self: 'x'})
  t.equal(a.exitCode, 1)
  t.match(JSON.parse(a.stdout), {code: 1, msg: 'incompatible CNI versions'})
})

t.test('stdin that is not JSON: logged, code 6, unless the control answers', async (t) => {
  const s = spy()
  const out = runSpy({env: env('ADD', {CNIDBG_SPY_CONTROL: s.control}), stdin: '{nope', self: 'x'})
  t.equal(out.exitCode, 1)
  t.equal(JSON.parse(out.stdout).code, 6)
  const [e] = readSpyLog(s.log)
  t.equal(e?.config, null)
  t.equal(e?.stdin, '{nope')
  t.equal(e?.controlFrom, 'env')
})

t.test('GC and STATUS: silent success by default, or the configured error', async (t) => {
  const s = spy({verbs: {STATUS: {error: {code: 50, msg: 'not ready'}}}})
  const stdin = JSON.stringify({cniVersion: '1.1.0', ...s.configKey, 'cni.dev/valid-attachments': []})
  t.same(runSpy({env: {CNI_COMMAND: 'GC', CNI_PATH: '/x'}, stdin, self: 'x'}), {stdout: '', stderr: '', exitCode: 0})
  const st = runSpy({env: {CNI_COMMAND: 'STATUS', CNI_PATH: '/x'}, stdin, self: 'x'})
  t.equal(st.exitCode, 1)
  t.equal(JSON.parse(st.stdout).code, 50)
  t.same(
    readSpyLog(s.log).map((e) => e.command),
    ['GC', 'STATUS'],
  )
})

t.test('delayMs: the call is logged and answered as configured', async (t) => {
  const s = spy({verbs: {DEL: {delayMs: 20, error: {code: 11, msg: 'slow'}}}})
  const out = runSpy({env: env('DEL'), stdin: JSON.stringify({cniVersion: '1.0.0', ...s.configKey}), self: 'x'})
  t.equal(JSON.parse(out.stdout).code, 11)
  t.equal(readSpyLog(s.log).length, 1)
})
