import t from 'tap'

import {CniError} from '../../../src/reference-plugin/errors.js'
import {allocate, freeCounts, toIPConfigs} from '../../../src/reference-plugin/ipam/allocator.js'
import type {IpamConf} from '../../../src/reference-plugin/ipam/config.js'
import {MemoryStore} from '../../../src/reference-plugin/ipam/memory-store.js'
import {heldBy, releaseHeldBy} from '../../../src/reference-plugin/ipam/store.js'
import {canonicalRange} from '../../../src/reference-plugin/ipam/range.js'
import {parseIP} from '../../../src/core/ip.js'

const conf = (subnets: string[], requested: string[] = []): IpamConf => ({
  network: 'n',
  dataDir: '/unused',
  rangeSets: subnets.map((s) => [canonicalRange({subnet: s}, 'test')]),
  routes: [],
  requested: requested.map((r) => parseIP(r)!),
  requestedFrom: 'args.cni.ips',
})

t.test('one address per range set, round robin, unique', async (t) => {
  const store = new MemoryStore()
  const c = conf(['10.0.0.0/29', 'fd00::/125'])
  const a = toIPConfigs(allocate(store, c, {containerID: 'a', ifname: 'eth0'}))
  t.same(a, [
    {address: '10.0.0.2/29', gateway: '10.0.0.1'},
    {address: 'fd00::2/125', gateway: 'fd00::1'},
  ])
  const b = toIPConfigs(allocate(store, c, {containerID: 'b', ifname: 'eth0'}))
  t.equal(b[0]!.address, '10.0.0.3/29')
  releaseHeldBy(store, {containerID: 'a', ifname: 'eth0'})
  const c2 = toIPConfigs(allocate(store, c, {containerID: 'c', ifname: 'eth0'}))
  t.equal(c2[0]!.address, '10.0.0.4/29', 'keeps going after the last one, like host-local')
})

t.test('exhaustion is code 103 (50 is for STATUS) and rolls back the other families', async (t) => {
  const store = new MemoryStore()
  const c = conf(['10.0.0.0/30', 'fd00::/126'])
  allocate(store, c, {containerID: 'a', ifname: 'eth0'})
  store.release('fd00::2')
  t.same(freeCounts(store, c), [0n, 2n])
  t.throws(() => allocate(store, c, {containerID: 'b', ifname: 'eth0'}), {code: 103})
  t.same(heldBy(store, {containerID: 'b', ifname: 'eth0'}), [], 'nothing kept after failure')
})

t.test('requested addresses', async (t) => {
  const store = new MemoryStore()
  const got = allocate(store, conf(['10.0.0.0/24'], ['10.0.0.77']), {containerID: 'a', ifname: 'eth0'})
  t.equal(toIPConfigs(got)[0]!.address, '10.0.0.77/24')
  const err = (() => {
    try {
      allocate(store, conf(['10.0.0.0/24'], ['10.0.0.77']), {containerID: 'b', ifname: 'eth0'})
    } catch (error) {
      return error as CniError
    }
  })()
  t.equal(err?.code, 102)
  t.throws(() => allocate(store, conf(['10.0.0.0/24'], ['10.0.0.1']), {containerID: 'c', ifname: 'eth0'}), {code: 102})
})
