/**
 * Every known departure of Debian's plugins (src/checks/departures.ts) is real: a minimal
 * reproduction with the plain binary, run as a runtime would run it in a throwaway sandbox, still
 * shows it. When an upgrade fixes one, this fails and the entry (and its row in fixtures/README.md)
 * goes. The reproductions are the ones fixtures/README.md prints.
 */
import {existsSync, readdirSync, rmSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'
import type {Test} from 'tap'

import {type Departure, DEPARTURES} from '../../src/checks/departures.js'
import {type CallOptions, CniHarness, type Json, UPSTREAM_DIR} from '../helpers/cni-harness.js'
import {assertNothingLeft, machineState} from '../helpers/machine.js'

type Reproduction = (t: Test, h: CniHarness) => Promise<void>

const plugin = (type: string): string => join(UPSTREAM_DIR, type)

/** loopback ADD at `version`: what it prints. */
async function loopbackAdd(t: Test, h: CniHarness, version: string): Promise<Json> {
  const r = await h.call(plugin('loopback'), {verb: 'ADD', conf: {cniVersion: version, name: 'lo', type: 'loopback'}})
  t.equal(r.exitCode, 0, `loopback ADD at ${version} works: ${r.stderr}`)
  return r.json ?? {}
}

/** A veth end named `name` up in the sandbox host, for host-device to move (this kernel has no dummy). */
async function hostDevice(h: CniHarness, name: string): Promise<void> {
  for (const args of [
    ['link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`],
    ['link', 'set', name, 'up'],
  ])
    await h.sb.run('ip', args, {timeoutMs: 30_000})
}

const HOST_DEVICE = {cniVersion: '1.0.0', device: 'cnidbg-hd0', name: 'hd', type: 'host-device'}
const SBR = {cniVersion: '1.0.0', name: 'sbr', type: 'sbr'}

async function expectFailure(
  t: Test,
  h: CniHarness,
  type: string,
  conf: Json,
  over: Partial<CallOptions>,
  msg: RegExp,
) {
  const r = await h.call(plugin(type), {verb: 'DEL', conf, ...over})
  t.not(r.exitCode, 0, `${type} DEL fails`)
  t.match(r.json?.msg, msg, `${r.stdout}`)
}

const REPRODUCTIONS: Record<string, Reproduction> = {
  'host-device del.idempotent': async (t, h) => {
    await hostDevice(h, 'cnidbg-hd0')
    const add = await h.call(plugin('host-device'), {verb: 'ADD', conf: HOST_DEVICE})
    t.equal(add.exitCode, 0, `ADD: ${add.stdout}`)
    t.equal((await h.call(plugin('host-device'), {verb: 'DEL', conf: HOST_DEVICE})).exitCode, 0, 'the first DEL works')
    await expectFailure(t, h, 'host-device', HOST_DEVICE, {}, /failed to find "eth0"/)
  },
  'host-device del.without-add': async (t, h) => {
    await hostDevice(h, 'cnidbg-hd0')
    await expectFailure(t, h, 'host-device', HOST_DEVICE, {}, /failed to find "eth0"/)
  },
  'host-device del.netns-gone': async (t, h) => {
    await hostDevice(h, 'cnidbg-hd0')
    const netns = (await h.container()).path
    t.equal((await h.call(plugin('host-device'), {verb: 'ADD', conf: HOST_DEVICE})).exitCode, 0, 'ADD works')
    await h.removeContainer('c0')
    await expectFailure(t, h, 'host-device', HOST_DEVICE, {netns}, /failed to open netns/)
  },
  'host-device del.interface-gone': async (t, h) => {
    await hostDevice(h, 'cnidbg-hd0')
    t.equal((await h.call(plugin('host-device'), {verb: 'ADD', conf: HOST_DEVICE})).exitCode, 0, 'ADD works')
    await h.ip(await h.container(), ['link', 'del', 'eth0'])
    await expectFailure(t, h, 'host-device', HOST_DEVICE, {}, /failed to find "eth0"/)
  },
  'sbr del.without-add': async (t, h) => {
    await expectFailure(t, h, 'sbr', SBR, {}, /Failed to get link eth0/)
  },
  'sbr del.netns-gone': async (t, h) => {
    const netns = (await h.container()).path
    await h.removeContainer('c0')
    await expectFailure(t, h, 'sbr', SBR, {netns}, /unknown FS magic/)
    t.ok(existsSync(netns), 'and it made an empty file at that path (its lock)')
    rmSync(netns, {force: true})
  },
  'tuning del.netns-gone': async (t, h) => {
    const c0 = await h.container()
    await h.ip(c0, ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p'])
    const conf = {
      cniVersion: '1.0.0',
      mtu: 1400,
      name: 'tun',
      prevResult: {cniVersion: '1.0.0', interfaces: [{name: 'eth0', sandbox: c0.path}]},
      type: 'tuning',
    }
    t.equal((await h.call(plugin('tuning'), {verb: 'ADD', conf})).exitCode, 0, 'ADD works')
    const backups = () => readdirSync(join(h.sb.hostPath('/run/cni'), 'tuning'))
    t.equal(backups().length, 1, `it keeps a backup of the link's settings: ${backups().join(', ')}`)
    await h.removeContainer('c0')
    t.equal((await h.call(plugin('tuning'), {verb: 'DEL', conf, netns: c0.path})).exitCode, 0, 'DEL succeeds')
    t.equal(backups().length, 1, 'and leaves the backup')
  },
  'host-local P114': async (t, h) => {
    const conf = {
      args: {cni: {ips: ['10.201.92.50']}},
      cniVersion: '1.0.0',
      ipam: {dataDir: '/var/lib/cni/networks-cnidbg-dep', subnet: '10.201.92.0/24', type: 'host-local'},
      name: 'p114',
      type: 'host-local',
    }
    const alone = await h.call(plugin('host-local'), {verb: 'ADD', conf})
    t.equal(alone.exitCode, 0, `args.cni.ips alone works: ${alone.stdout}`)
    await h.call(plugin('host-local'), {verb: 'DEL', conf})
    const both = await h.call(plugin('host-local'), {verb: 'ADD', conf, args: 'IgnoreUnknown=1;IP=10.201.92.51'})
    t.not(both.exitCode, 0, 'with CNI_ARGS IP= as well ADD fails')
    t.match(both.json?.msg, /failed to allocate all requested IPs/, both.stdout)
    await h.call(plugin('host-local'), {verb: 'DEL', conf})
  },
  'ptp P80': async (t, h) => {
    const ptp = {
      cniVersion: '1.0.0',
      ipam: {
        dataDir: '/var/lib/cni/networks-cnidbg-dep',
        subnet: '10.201.91.0/24',
        routes: [{dst: '0.0.0.0/0'}],
        type: 'host-local',
      },
      name: 'p80',
      type: 'ptp',
    }
    const add = await h.call(plugin('ptp'), {verb: 'ADD', conf: ptp})
    t.equal(add.exitCode, 0, `ptp ADD: ${add.stdout}`)
    const sbr = await h.call(plugin('sbr'), {verb: 'ADD', conf: {...SBR, name: 'p80', prevResult: add.json}})
    t.equal(sbr.exitCode, 0, `sbr ADD with ptp's result: ${sbr.stdout}`)
    const check = await h.call(plugin('ptp'), {verb: 'CHECK', conf: {...ptp, prevResult: sbr.json}})
    t.not(check.exitCode, 0, "ptp's CHECK with the chain's final result fails")
    t.match(check.json?.msg, /Failed to find Gateway/, check.stdout)
    await h.call(plugin('sbr'), {verb: 'DEL', conf: {...SBR, name: 'p80', prevResult: sbr.json}})
    await h.call(plugin('ptp'), {verb: 'DEL', conf: {...ptp, prevResult: sbr.json}})
  },
  'loopback P27': async (t, h) => {
    const r = await loopbackAdd(t, h, '0.2.0')
    t.equal(r.cniVersion, '0.2.0', 'labelled 0.2.0')
    t.ok(Array.isArray(r.ips) && r.ip4 === undefined, 'but in the 1.0.0 layout: ips[], no ip4')
  },
  'loopback P48': async (t, h) => {
    const r = await loopbackAdd(t, h, '0.4.0')
    t.equal(r.cniVersion, '0.4.0', 'labelled 0.4.0')
    t.ok(
      (r.ips as Json[]).every((ip) => ip.version === undefined),
      'its ips[] have no version',
    )
  },
}

/** A departure found by one check is named by it; the others by their requirement. */
const key = (d: Departure): string => `${d.type} ${d.check ?? d.requirement}`

const before = await machineState()

t.test('every departure has a reproduction here', async (t) => {
  t.same(
    DEPARTURES.map(key).filter((k) => !(k in REPRODUCTIONS)),
    [],
  )
})

for (const d of DEPARTURES) {
  const reproduce = REPRODUCTIONS[key(d)]
  if (!reproduce) continue
  t.test(`${key(d)} (${d.requirement}): ${d.what}`, async (t) => {
    const h = await CniHarness.create(t)
    await reproduce(t, h)
  })
}

t.test('left nothing behind', async (t) => {
  await assertNothingLeft(t, before)
})
