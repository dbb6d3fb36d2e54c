/**
 * The configs the conformance suite must pass (fixtures/conf/passing.json) really work: run as a
 * runtime would (plugins in order with prevResult threaded on ADD, CHECK in order, DEL in reverse
 * with the final result), in a throwaway sandbox, they set up eth0 and take everything down again.
 */
import {readFileSync} from 'node:fs'
import {basename, join} from 'node:path'

import t from 'tap'

import {CniHarness, FIXTURE_BIN, REPO, UPSTREAM_DIR, type Json} from '../helpers/cni-harness.js'
import {DhcpNet} from '../../src/checks/dhcp-net.js'
import {missingKernelSupport} from '../../src/conformance/kernel-support.js'
import {chainedView} from '../../src/conformance/runner.js'
import {loadConfFile} from '../../src/runtime/conf.js'
import {assertNothingLeft, machineState} from '../helpers/machine.js'

interface Passing {
  conf: string
  role: 'interface' | 'chained' | 'ipam' | 'loopback'
  needs?: string[]
  /** Why CHECK is not asked of this chain (a known departure makes it fail). */
  noCheck?: string
  description: string
}

const PASSING = JSON.parse(readFileSync(join(REPO, 'fixtures/conf/passing.json'), 'utf8')) as Passing[]
const before = await machineState()

const pluginPath = (type: string): string =>
  type.startsWith('ok-') || type.startsWith('broken-') ? join(FIXTURE_BIN, type) : join(UPSTREAM_DIR, type)

for (const entry of PASSING) {
  const kernel = (entry.needs ?? []).filter((n) => n.startsWith('kernel:'))
  const loaded = loadConfFile(join(REPO, entry.conf))
  // What the kernel lacks can't work here at all (the suite skips every check for it, saying why).
  const skip = kernel.length ? await missingKernelSupport(loaded.plugins) : undefined
  t.test(`${basename(entry.conf)} (${entry.role})`, {skip}, async (t) => {
    // A lone chained plugin runs after the upstream the suite puts in front of it.
    const list = (
      entry.role === 'chained' && loaded.plugins.length === 1 ? chainedView(loaded).raw : loaded.raw
    ) as Json
    const h = await CniHarness.create(t)
    const c0 = await h.container()
    // loopback's job is to bring lo up, so it gets the namespace a runtime would give it: lo down.
    if (entry.role === 'loopback') await h.ip(c0, ['link', 'set', 'lo', 'down'])
    if (entry.needs?.includes('master:cnidbg-m0')) {
      // The macvlan master, in the sandbox host only.
      await h.sb.run('ip', ['link', 'add', 'cnidbg-m0', 'type', 'veth', 'peer', 'name', 'cnidbg-m0p'], {
        timeoutMs: 30_000,
      })
      await h.sb.run('ip', ['link', 'set', 'cnidbg-m0', 'up'], {timeoutMs: 30_000})
    }
    if (entry.needs?.includes('dhcp')) {
      // dhcp's daemon and a DHCP server in the sandbox host, and the link in c0 it asks its lease on.
      const dhcp = await DhcpNet.start(h.sb, pluginPath('dhcp'))
      t.teardown(() => dhcp.stop())
      await dhcp.attach(c0)
    }
    for (const need of entry.needs ?? []) {
      if (!need.startsWith('device:')) continue
      // The device host-device moves into the container, in the sandbox host only.
      const dev = need.slice('device:'.length)
      await h.sb.run('ip', ['link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}p`], {timeoutMs: 30_000})
      await h.sb.run('ip', ['link', 'set', dev, 'up'], {timeoutMs: 30_000})
    }
    const plugins = list.plugins as Json[]
    const request = (p: Json, prevResult?: Json): Json => ({
      ...p,
      cniVersion: list.cniVersion,
      name: list.name,
      ...(prevResult ? {prevResult} : {}),
    })
    let result: Json | undefined
    for (const p of plugins) {
      const r = await h.call(pluginPath(p.type as string), {verb: 'ADD', conf: request(p, result)})
      t.equal(r.exitCode, 0, `ADD ${p.type}: ${r.stdout}${r.stderr}`)
      result = r.json
    }
    t.equal(result?.cniVersion, list.cniVersion, 'final result in the config version')
    const loUp = async (): Promise<boolean> => ((await h.link(c0, 'lo'))?.flags as string[]).includes('UP')
    if (entry.role === 'loopback') t.ok(await loUp(), 'lo is up in the container')
    else if (entry.role !== 'ipam') t.ok(await h.link(c0, 'eth0'), 'eth0 exists in the container')
    for (const p of entry.noCheck ? [] : plugins) {
      const r = await h.call(pluginPath(p.type as string), {verb: 'CHECK', conf: request(p, result)})
      t.equal(r.exitCode, 0, `CHECK ${p.type}: ${r.stdout}${r.stderr}`)
    }
    for (const p of [...plugins].reverse()) {
      const r = await h.call(pluginPath(p.type as string), {verb: 'DEL', conf: request(p, result)})
      t.equal(r.exitCode, 0, `DEL ${p.type}: ${r.stdout}${r.stderr}`)
    }
    // dhcp's eth0 is the harness's own link, not the plugin's.
    if (!entry.needs?.includes('dhcp')) t.notOk(await h.link(c0, 'eth0'), 'eth0 is gone')
    if (entry.role === 'loopback') t.notOk(await loUp(), 'lo is down again')
    const ipam = plugins[0]?.ipam as Json | undefined
    if (ipam?.dataDir) t.same(h.reservations(ipam.dataDir as string, list.name as string), [], 'no reservation left')
  })
}

t.test('left nothing behind', async (t) => {
  await assertNothingLeft(t, before)
})
