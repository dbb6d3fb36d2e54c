/**
 * The spy as the suite uses it: bundled into an executable and found on CNI_PATH by real upstream
 * plugins, inside a throwaway Sandbox. (1) A spy IPAM under ptp records exactly what ptp handed its
 * delegate, and its answer ends up in the kernel. (2) A spy first in a chain supplies the prevResult
 * that tuning, the plugin after it, works on.
 */
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {createSpy, readSpyLog, spyCalls} from '../../../src/checks/spy/control.js'
import {CniHarness, UPSTREAM_DIR, type Json} from '../../helpers/cni-harness.js'
import {assertNothingLeft, machineState} from '../../helpers/machine.js'
import {bundleSpy} from '../../helpers/spy-bundle.js'

const before = await machineState()
const dir = mkdtempSync('/tmp/cnidbgtest-spymain-')
t.teardown(() => rmSync(dir, {recursive: true, force: true}))
const binDir = join(dir, 'bin')
mkdirSync(binDir)
const [spyBin] = await bundleSpy(binDir)
const CNI_PATH = `${binDir}:${UPSTREAM_DIR}`

t.test('the executable answers VERSION with no control at all', async (t) => {
  const h = await CniHarness.create(t)
  const r = await h.call(spyBin!, {verb: 'VERSION', conf: {cniVersion: '1.0.0'}, cniPath: CNI_PATH})
  t.equal(r.exitCode, 0, r.stderr)
  t.same(r.json, {
    cniVersion: '1.0.0',
    supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
  })
})

t.test('spy IPAM under ptp: same env, complete config, its address in the netns, DEL forwarded', async (t) => {
  const h = await CniHarness.create(t)
  const c0 = await h.container()
  const s = createSpy(dir, 'ipam', {
    verbs: {ADD: {ipam: {ips: [{address: '10.250.3.5/24', gateway: '10.250.3.1'}]}, stderr: 'spy-marker-42\n'}},
  })
  const conf = {cniVersion: '1.0.0', name: 'spynet', type: 'ptp', ipam: {type: 'cnidbg-spy', ...s.configKey}}
  const args = 'IgnoreUnknown=1;K8S_POD_NAME=web-0'
  const add = await h.call(join(UPSTREAM_DIR, 'ptp'), {verb: 'ADD', conf, cniPath: CNI_PATH, args})
  t.equal(add.exitCode, 0, 'ptp ADD with the spy IPAM succeeds')
  t.match(add.stderr, /spy-marker-42/, "the delegate's stderr came through ptp (P105)")

  const [call] = spyCalls(s.log, 'ADD')
  t.same(
    call?.env,
    {
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'ctr-0',
      CNI_NETNS: c0.path,
      CNI_IFNAME: 'eth0',
      CNI_PATH,
      CNI_ARGS: args,
    },
    'the delegate saw the environment ptp got (P103)',
  )
  t.same(call?.config, conf, 'and the complete config (P104)')
  t.equal(call?.controlFrom, 'ipam')

  const addrs = (await h.addrs(c0, 'eth0')).map((a) => `${a.local}/${a.prefixlen}`)
  t.ok(addrs.includes('10.250.3.5/24'), "the spy's address is on eth0 in the container")
  t.equal((add.json?.ips as Json[] | undefined)?.[0]?.address, '10.250.3.5/24')

  const del = await h.call(join(UPSTREAM_DIR, 'ptp'), {
    verb: 'DEL',
    conf: {...conf, prevResult: add.json},
    cniPath: CNI_PATH,
    args,
  })
  t.equal(del.exitCode, 0)
  t.same(
    readSpyLog(s.log).map((e) => e.command),
    ['ADD', 'DEL'],
    'DEL reached the delegate (P107)',
  )
  t.notOk(await h.link(c0, 'eth0'), 'eth0 is gone')
})

t.test('a failing spy IPAM makes ptp fail with its error', async (t) => {
  const h = await CniHarness.create(t)
  const s = createSpy(dir, 'ipam-fail', {verbs: {ADD: {error: {code: 11, msg: 'pool busy, try later'}}}})
  const conf = {cniVersion: '1.0.0', name: 'spynet', type: 'ptp', ipam: {type: 'cnidbg-spy', ...s.configKey}}
  const add = await h.call(join(UPSTREAM_DIR, 'ptp'), {verb: 'ADD', conf, cniPath: CNI_PATH})
  t.not(add.exitCode, 0)
  t.match(add.stdout, /pool busy, try later/, "the delegate's error is passed on")
  t.notOk(await h.link(await h.container(), 'eth0'), 'no interface left')
})

t.test('spy first in a chain supplies the prevResult tuning works on', async (t) => {
  const h = await CniHarness.create(t)
  const c0 = await h.container()
  // The interface the spy's result describes has to exist for tuning to adjust it.
  await h.ip(c0, ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0peer'])
  const spyResult = {
    interfaces: [{name: 'eth0', mac: '02:00:00:00:00:01', sandbox: c0.path}],
    ips: [{address: '10.250.4.2/24', gateway: '10.250.4.1', interface: 0}],
    routes: [{dst: '0.0.0.0/0'}],
  }
  const s = createSpy(dir, 'chain-0', {label: 'chain-0', verbs: {ADD: {result: spyResult}}})
  const first = await h.call(spyBin!, {
    verb: 'ADD',
    conf: {cniVersion: '0.4.0', name: 'chain', type: 'cnidbg-spy', ...s.configKey},
    cniPath: CNI_PATH,
  })
  t.equal(first.exitCode, 0)
  t.equal(first.json?.cniVersion, '0.4.0', "the spy's result is in the request's version")
  t.equal((first.json?.ips as Json[])[0]?.version, '4')

  const tuning = {cniVersion: '0.4.0', name: 'chain', type: 'tuning', mac: 'c2:11:22:33:44:55', prevResult: first.json}
  const second = await h.call(join(UPSTREAM_DIR, 'tuning'), {verb: 'ADD', conf: tuning, cniPath: CNI_PATH})
  t.equal(second.exitCode, 0, 'tuning accepts the spy prevResult')
  t.same(second.json?.ips, first.json?.ips, 'and passes its ips on')
  t.equal((second.json?.interfaces as Json[])[0]?.mac, 'c2:11:22:33:44:55', 'with its own change merged in')
  t.equal((await h.link(c0, 'eth0'))?.address, 'c2:11:22:33:44:55', 'which is real')

  // A second spy after tuning, PASSTHROUGH: it must hand on exactly what it got, in its version.
  const s2 = createSpy(dir, 'chain-2', {label: 'chain-2', verbs: {ADD: {result: 'PASSTHROUGH'}}})
  const third = await h.call(spyBin!, {
    verb: 'ADD',
    conf: {cniVersion: '0.4.0', name: 'chain', type: 'cnidbg-spy', ...s2.configKey, prevResult: second.json},
    cniPath: CNI_PATH,
  })
  t.same(third.json, second.json, 'PASSTHROUGH hands on what it got')
  t.same(spyCalls(s2.log, 'ADD')[0]?.config?.prevResult, second.json, 'and recorded it')
})

t.test('left nothing behind', async (t) => {
  await assertNothingLeft(t, before)
})
