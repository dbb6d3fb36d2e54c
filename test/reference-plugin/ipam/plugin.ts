// cnidbg-ipam run as a runtime (or cnidbg-ref) would: parallel ADDs, requested IPs, STATUS, GC, dual
// stack, the subnet file, and kill -9 mid-ADD. State lives in the sandbox's private /var/lib/cni.
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

import {runOk} from '../../../src/process/exec.js'
import {bundle, Node, type InvokeOptions} from '../../helpers/ref-plugins.js'

const dir = await bundle(t)
const node = await Node.create(t, dir)
const scratch = mkdtempSync(join(tmpdir(), 'cnidbg-ipam-test-'))
t.teardown(() => rmSync(scratch, {recursive: true, force: true}))

const NETNS = '/run/netns/unused' // IPAM never enters the netns
const conf = (name: string, ipam: Record<string, unknown>, version = '1.1.0', extra: Record<string, unknown> = {}) => ({
  cniVersion: version,
  name,
  type: 'cnidbg-ref',
  ipam: {type: 'cnidbg-ipam', ...ipam},
  ...extra,
})
const att = (containerID: string, ifname = 'eth0'): InvokeOptions => ({containerID, ifname, netns: NETNS})
const ipamRun = (verb: string, c: unknown, o: InvokeOptions = {}) => node.invoke('cnidbg-ipam', verb, c, o)
const files = (network: string): string[] =>
  existsSync(node.storeDir(network)) ? readdirSync(node.storeDir(network)).sort() : []
const reserved = (network: string): string[] => files(network).filter((f) => /^[\d.]+$|:/.test(f))

// Every test has its own network (store directory) and attachments, and only the last one runs
// cnidbg-ref (the only plugin here that makes links), so the tests run side by side.
t.jobs = 4

t.test('50 parallel ADDs get 50 different addresses; parallel DELs release them all', async (t) => {
  const c = conf('par', {ranges: [[{subnet: '10.50.0.0/24'}]]})
  const adds = await Promise.all(Array.from({length: 50}, (_, i) => ipamRun('ADD', c, att(`par-${i}`))))
  for (const a of adds) t.equal(a.exitCode, 0, a.stdout + a.stderr)
  const ips = adds.map((a) => a.json.ips[0].address)
  t.equal(new Set(ips).size, 50, 'all unique')
  t.equal(reserved('par').length, 50)
  for (const [i, a] of adds.entries()) {
    const ip = a.json.ips[0].address.split('/')[0]
    t.equal(readFileSync(join(node.storeDir('par'), ip), 'utf8'), `par-${i}\r\neth0`, 'host-local file format')
  }
  t.notOk(ips.includes('10.50.0.1/24'), 'gateway never handed out')
  const dels = await Promise.all(Array.from({length: 50}, (_, i) => ipamRun('DEL', c, att(`par-${i}`))))
  for (const d of dels) t.equal(d.exitCode, 0, d.stdout)
  t.same(reserved('par'), [])
  t.same(
    files('par').filter((f) => !f.startsWith('last_reserved_ip')),
    [],
    'no lock or scratch files left',
  )
})

for (const v of ['0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
  t.test(`[${v}] dual stack, abbreviated result`, async (t) => {
    const c = conf(
      `ds${v.replaceAll('.', '')}`,
      {ranges: [[{subnet: '10.60.0.0/24'}], [{subnet: 'fd00:60::/64', gateway: 'fd00:60::1'}]]},
      v,
    )
    const a = await ipamRun('ADD', c, att('ds-1'))
    t.equal(a.exitCode, 0, a.stdout)
    t.equal(a.json.cniVersion, v)
    t.notOk('interfaces' in a.json, 'IPAM results have no interfaces')
    t.equal(a.json.ips.length, 2)
    t.match(a.json.ips[0], {address: '10.60.0.2/24', gateway: '10.60.0.1'})
    t.match(a.json.ips[1], {address: 'fd00:60::2/64', gateway: 'fd00:60::1'})
    for (const ip of a.json.ips) {
      t.notOk('interface' in ip, 'no ips[].interface')
      if (v.startsWith('0.')) t.equal(ip.version, ip.address.includes(':') ? '6' : '4')
      else t.notOk('version' in ip)
    }
    t.same(a.json.routes, [{dst: '10.60.0.0/24'}, {dst: 'fd00:60::/64'}, {dst: '0.0.0.0/0'}, {dst: '::/0'}])
    if (v !== '0.3.1') t.equal((await ipamRun('CHECK', {...c, prevResult: a.json}, att('ds-1'))).exitCode, 0)
    t.equal((await ipamRun('DEL', c, att('ds-1'))).exitCode, 0)
    t.same(reserved(c.name), [])
  })
}

t.test('requested IPs: args.cni.ips beats CNI_ARGS IP (P114); taken or outside ranges fail', async (t) => {
  const c = conf('req', {ranges: [[{subnet: '10.70.0.0/24'}]]})
  const both = await ipamRun(
    'ADD',
    {...c, args: {cni: {ips: ['10.70.0.50']}}},
    {...att('req-1'), cniArgs: 'IgnoreUnknown=1;IP=10.70.0.60'},
  )
  t.equal(both.json?.ips?.[0]?.address, '10.70.0.50/24', both.stdout)
  const env = await ipamRun('ADD', c, {...att('req-2'), cniArgs: 'IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.70.0.60'})
  t.equal(env.json?.ips?.[0]?.address, '10.70.0.60/24', env.stdout)
  const rc = await ipamRun('ADD', {...c, runtimeConfig: {ips: ['10.70.0.70/24']}}, att('req-3'))
  t.equal(rc.json?.ips?.[0]?.address, '10.70.0.70/24', rc.stdout)
  const taken = await ipamRun('ADD', {...c, args: {cni: {ips: ['10.70.0.50']}}}, att('req-4'))
  t.equal(taken.json?.code, 102, taken.json?.msg)
  const outside = await ipamRun('ADD', {...c, args: {cni: {ips: ['10.71.0.5']}}}, att('req-5'))
  t.equal(outside.json?.code, 102, outside.json?.msg)
  const gateway = await ipamRun('ADD', {...c, args: {cni: {ips: ['10.70.0.1']}}}, att('req-6'))
  t.equal(gateway.json?.code, 102, 'the gateway is reserved')
  t.same(reserved('req'), ['10.70.0.50', '10.70.0.60', '10.70.0.70'])
  for (const id of ['req-1', 'req-2', 'req-3']) t.equal((await ipamRun('DEL', c, att(id))).exitCode, 0)
})

t.test('STATUS reports an exhausted pool with code 50, and DEL still works', async (t) => {
  const c = conf('tiny', {ranges: [[{subnet: '10.80.0.0/29', rangeStart: '10.80.0.2', rangeEnd: '10.80.0.3'}]]})
  t.equal((await ipamRun('STATUS', c)).exitCode, 0)
  t.equal((await ipamRun('ADD', c, att('t-1'))).exitCode, 0)
  t.equal((await ipamRun('ADD', c, att('t-2'))).exitCode, 0)
  const full = await ipamRun('ADD', c, att('t-3'))
  t.equal(full.json?.code, 103, `ADD fails with its own code, not STATUS's: ${full.json?.msg}`)
  const st = await ipamRun('STATUS', c)
  t.not(st.exitCode, 0)
  t.equal(st.json?.code, 50)
  t.match(st.json?.msg, /exhausted/)
  t.equal((await ipamRun('DEL', c, att('t-1'))).exitCode, 0)
  t.equal((await ipamRun('STATUS', c)).exitCode, 0, 'available again')
  t.equal((await ipamRun('DEL', c, att('t-2'))).exitCode, 0)
  const old = await ipamRun('STATUS', {...c, cniVersion: '1.0.0'})
  t.equal(old.json?.code, 1, 'STATUS needs 1.1.0')
})

t.test('GC releases what is not valid; no key releases nothing', async (t) => {
  const c = conf('gc', {ranges: [[{subnet: '10.90.0.0/24'}]]})
  for (const id of ['a', 'b', 'c']) t.equal((await ipamRun('ADD', c, att(id))).exitCode, 0)
  t.equal((await ipamRun('ADD', c, att('a', 'net1'))).exitCode, 0)
  t.equal((await ipamRun('GC', c)).exitCode, 0)
  t.equal(reserved('gc').length, 4, 'no cni.dev/valid-attachments: nothing released')
  const gc = await ipamRun('GC', {
    ...c,
    'cni.dev/valid-attachments': [
      {containerID: 'a', ifname: 'eth0'},
      {containerID: 'c', ifname: 'eth0'},
    ],
  })
  t.equal(gc.exitCode, 0, gc.stdout)
  t.equal(gc.stdout, '')
  const owners = reserved('gc').map((ip) => readFileSync(join(node.storeDir('gc'), ip), 'utf8'))
  t.same(owners.sort(), ['a\r\neth0', 'c\r\neth0'])
  const legacy = await ipamRun('GC', {...c, 'cni.dev/attachments': [{containerID: 'c', ifname: 'eth0'}]})
  t.equal(legacy.exitCode, 0)
  t.equal(reserved('gc').length, 1, 'falls back to cni.dev/attachments')
  t.equal((await ipamRun('GC', {...c, 'cni.dev/valid-attachments': []})).exitCode, 0)
  t.same(reserved('gc'), [], 'an empty list means nothing is valid')
})

t.test('GC keeps an older host-local reservation (no ifname) of a valid container, as DEL does', async (t) => {
  const c = conf('gcold', {ranges: [[{subnet: '10.93.0.0/24'}]]})
  t.equal((await ipamRun('ADD', c, att('new'))).exitCode, 0)
  // host-local before it recorded the interface wrote the container ID alone.
  writeFileSync(join(node.storeDir('gcold'), '10.93.0.50'), 'old')
  const gc = await ipamRun('GC', {...c, 'cni.dev/valid-attachments': [{containerID: 'old', ifname: 'eth0'}]})
  t.equal(gc.exitCode, 0, gc.stdout)
  t.same(reserved('gcold'), ['10.93.0.50'], "the valid container's reservation stays, the other is released")
  t.equal((await ipamRun('DEL', c, att('old'))).exitCode, 0)
  t.same(reserved('gcold'), [], 'DEL of that attachment releases it')
})

t.test('GC refuses a malformed valid-attachments entry (code 7) and releases nothing', async (t) => {
  const c = conf('gcbad', {ranges: [[{subnet: '10.94.0.0/24'}]]})
  t.equal((await ipamRun('ADD', c, att('a'))).exitCode, 0)
  for (const bad of [null, {containerID: 'a'}, 'a']) {
    const gc = await ipamRun('GC', {...c, 'cni.dev/valid-attachments': [{containerID: 'x', ifname: 'eth0'}, bad]})
    t.equal(gc.json?.code, 7, `${JSON.stringify(bad)}: ${gc.stdout}`)
  }
  t.equal(reserved('gcbad').length, 1)
})

t.test('DEL is idempotent and an unknown attachment is success', async (t) => {
  const c = conf('del', {ranges: [[{subnet: '10.91.0.0/24'}]]})
  t.equal((await ipamRun('DEL', c, att('nobody'))).exitCode, 0)
  t.equal((await ipamRun('ADD', c, att('x'))).exitCode, 0)
  t.equal((await ipamRun('DEL', c, att('x'))).exitCode, 0)
  t.equal((await ipamRun('DEL', c, att('x'))).exitCode, 0)
  const chk = await ipamRun('CHECK', c, att('x'))
  t.equal(chk.json?.code, 110, 'CHECK fails once the reservation is gone')
})

t.test('the subnet file from the node daemon', async (t) => {
  const file = join(scratch, 'subnet.env')
  const c = conf('sf', {subnetFile: file})
  const missing = await ipamRun('ADD', c, att('sf-1'))
  t.equal(missing.json?.code, 11, 'no file yet: try again later')
  const st = await ipamRun('STATUS', c)
  t.equal(st.json?.code, 50, 'STATUS: not available')
  writeFileSync(
    file,
    'CNIDBG_NETWORK=10.244.0.0/16\nCNIDBG_SUBNET=10.244.3.0/24\nCNIDBG_MTU=1450\nCNIDBG_NETWORK6=fd00:244::/56\nCNIDBG_SUBNET6=fd00:244:0:3::/64\n',
  )
  const a = await ipamRun('ADD', c, att('sf-1'))
  t.equal(a.exitCode, 0, a.stdout)
  t.same(
    a.json.ips.map((i: any) => [i.address, i.gateway]),
    [
      ['10.244.3.2/24', '10.244.3.1'],
      ['fd00:244:0:3::2/64', 'fd00:244:0:3::1'],
    ],
  )
  t.same(a.json.routes, [{dst: '10.244.0.0/16'}, {dst: 'fd00:244::/56'}, {dst: '0.0.0.0/0'}, {dst: '::/0'}])
  rmSync(file)
  t.equal((await ipamRun('DEL', c, att('sf-1'))).exitCode, 0, 'DEL needs no subnet file')
  t.same(reserved('sf'), [])
})

async function waitFor(path: string): Promise<number> {
  for (let i = 0; i < 3000; i++) {
    if (existsSync(path)) {
      const pid = Number(readFileSync(path, 'utf8'))
      if (pid > 0) return pid
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`the plugin never reached its hold point (${path})`)
}

t.test('kill -9 mid-ADD: no leak, no double allocation', async (t) => {
  const c = conf('crash', {ranges: [[{subnet: '10.92.0.0/24'}]]})
  const stage = 'ipam-reserved'
  const hold = join(scratch, `hold-${stage}`)
  const victim = ipamRun('ADD', c, {...att('victim'), env: {CNIDBG_TEST_HOLD: stage, CNIDBG_TEST_HOLD_FILE: hold}})
  process.kill(await waitFor(hold), 'SIGKILL')
  t.not((await victim).exitCode, 0, `killed at ${stage}`)
  const owners = () => reserved('crash').map((ip) => readFileSync(join(node.storeDir('crash'), ip), 'utf8'))
  t.same(owners(), ['victim\r\neth0'], 'the reservation appeared complete, with its owner in it')
  const next = await ipamRun('ADD', c, att('next'))
  t.equal(next.exitCode, 0, next.stdout)
  t.equal(new Set(reserved('crash')).size, 2, 'the next ADD got another address')
  // The runtime's DEL for the killed ADD releases what it got.
  t.equal((await ipamRun('DEL', c, att('victim'))).exitCode, 0)
  t.same(owners(), ['next\r\neth0'])
  t.equal((await ipamRun('DEL', c, att('next'))).exitCode, 0)
  // A later ADD sweeps the dead process's scratch file.
  t.equal((await ipamRun('ADD', c, att('sweeper'))).exitCode, 0)
  t.equal((await ipamRun('DEL', c, att('sweeper'))).exitCode, 0)
  t.same(
    files('crash').filter((f) => !f.startsWith('last_reserved_ip')),
    [],
    'no scratch files left',
  )
})

t.test('kill -9 of a GC holding the store lock: the next GC takes the lock over', async (t) => {
  const c = conf('gclock', {ranges: [[{subnet: '10.94.0.0/24'}]]})
  for (const id of ['keep', 'drop']) t.equal((await ipamRun('ADD', c, att(id))).exitCode, 0)
  const hold = join(scratch, 'hold-gc')
  const valid = {...c, 'cni.dev/valid-attachments': [{containerID: 'keep', ifname: 'eth0'}]}
  const victim = ipamRun('GC', valid, {env: {CNIDBG_TEST_HOLD: 'ipam-gc-locked', CNIDBG_TEST_HOLD_FILE: hold}})
  process.kill(await waitFor(hold), 'SIGKILL')
  t.not((await victim).exitCode, 0)
  t.ok(existsSync(join(node.storeDir('gclock'), 'lock')), 'the dead GC left its lock behind')
  t.equal((await ipamRun('ADD', c, att('during'))).exitCode, 0, 'ADD does not wait for the lock')
  const gc = await ipamRun('GC', {
    ...valid,
    'cni.dev/valid-attachments': [
      {containerID: 'keep', ifname: 'eth0'},
      {containerID: 'during', ifname: 'eth0'},
    ],
  })
  t.equal(gc.exitCode, 0, gc.stdout)
  t.equal(reserved('gclock').length, 2, 'drop released, keep and during kept')
  t.same(
    files('gclock').filter((f) => !f.startsWith('last_reserved_ip') && !/^[\d.]+$/.test(f)),
    [],
    'lock released, dead scratch files swept',
  )
  for (const id of ['keep', 'during']) t.equal((await ipamRun('DEL', c, att(id))).exitCode, 0)
})

t.test('the ref plugin killed after creating the veth: DEL cleans up everything', async (t) => {
  const pod = await node.pod('killref')
  const c = {...conf('killref', {ranges: [[{subnet: '10.93.0.0/24'}]]}), type: 'cnidbg-ref'}
  const hold = join(scratch, 'hold-ref')
  const o = {containerID: 'kr-1', ifname: 'eth0', netns: pod.path}
  const victim = node.invoke('cnidbg-ref', 'ADD', c, {
    ...o,
    env: {CNIDBG_TEST_HOLD: 'ref-veth', CNIDBG_TEST_HOLD_FILE: hold},
  })
  process.kill(await waitFor(hold), 'SIGKILL')
  t.not((await victim).exitCode, 0)
  t.equal(reserved('killref').length, 1)
  const del = await node.invoke('cnidbg-ref', 'DEL', c, o)
  t.equal(del.exitCode, 0, del.stdout)
  t.same(reserved('killref'), [])
  const links = (await node.hostJson(['link', 'show'])).map((l: any) => l.ifname)
  t.same(links, ['lo'], 'no node-side veth left')
})

t.test('a symlink planted at the network directory: every verb refuses it, nothing outside changes', async (t) => {
  const outside = mkdtempSync(join(scratch, 'outside-'))
  writeFileSync(join(outside, '10.81.0.2'), 'victim\r\neth0')
  await runOk('mkdir', ['-p', node.storeDir('x').replace(/\/x$/, '')])
  symlinkSync(outside, node.storeDir('planted'))
  const c = conf('planted', {ranges: [[{subnet: '10.81.0.0/24'}]]})
  const add = await ipamRun('ADD', c, att('victim'))
  t.equal(add.json?.code, 5, add.stdout)
  t.match(add.json?.msg, /refusing the IPAM store .*planted: a symlink/)
  for (const verb of ['DEL', 'GC']) {
    const r = await ipamRun(verb, {...c, 'cni.dev/valid-attachments': []}, att('victim'))
    t.equal(r.json?.code, 5, `${verb}: ${r.stdout}`)
  }
  t.same(readdirSync(outside), ['10.81.0.2'], 'nothing written outside')
  t.equal(readFileSync(join(outside, '10.81.0.2'), 'utf8'), 'victim\r\neth0', 'nothing released outside')
})
