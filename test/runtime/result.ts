import {readFileSync} from 'node:fs'

import t from 'tap'

import {convertResult, fromCanonical, toCanonical} from '../../src/runtime/result.js'
import type {CanonicalResult} from '../../src/runtime/types.js'
import {ALL_SPEC_VERSIONS} from '../../src/runtime/versions.js'

/** A dual-stack 1.1.0 result using every field the spec defines. */
const full: CanonicalResult = {
  cniVersion: '1.1.0',
  interfaces: [
    {mac: '6a:00:00:00:00:01', name: 'cni0'},
    {
      mac: '0a:58:0a:01:00:05',
      mtu: 1400,
      name: 'eth0',
      pciID: '0000:00:1f.6',
      sandbox: '/run/netns/pod1',
      socketPath: '/run/vhost/pod1.sock',
    },
  ],
  ips: [
    {address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 1},
    {address: 'fd00:1::5/64', gateway: 'fd00:1::1', interface: 1},
  ],
  routes: [
    {advmss: 1360, dst: '0.0.0.0/0', gw: '10.1.0.1', mtu: 1400, priority: 100, scope: 0, table: 254},
    {dst: '10.96.0.0/12'},
    {dst: '::/0', gw: 'fd00:1::1'},
  ],
  dns: {
    domain: 'cluster.local',
    nameservers: ['10.96.0.10'],
    options: ['ndots:5'],
    search: ['default.svc.cluster.local'],
  },
}

// What SPEC §5 (and the conversions in libcni pkg/types/*) give for `full` at each version.
const expected: Record<string, unknown> = {
  '1.1.0': full,
  '1.0.0': {
    cniVersion: '1.0.0',
    interfaces: [
      {mac: '6a:00:00:00:00:01', name: 'cni0'},
      {mac: '0a:58:0a:01:00:05', name: 'eth0', sandbox: '/run/netns/pod1'},
    ],
    ips: [
      {address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 1},
      {address: 'fd00:1::5/64', gateway: 'fd00:1::1', interface: 1},
    ],
    routes: [{dst: '0.0.0.0/0', gw: '10.1.0.1'}, {dst: '10.96.0.0/12'}, {dst: '::/0', gw: 'fd00:1::1'}],
    dns: full.dns,
  },
}
for (const v of ['0.4.0', '0.3.1', '0.3.0']) {
  const base = expected['1.0.0'] as {ips: Array<Record<string, unknown>>}
  expected[v] = {
    ...base,
    cniVersion: v,
    ips: [
      {version: '4', ...base.ips[0]},
      {version: '6', ...base.ips[1]},
    ],
  }
}
for (const v of ['0.2.0', '0.1.0']) {
  expected[v] = {
    cniVersion: v,
    ip4: {gateway: '10.1.0.1', ip: '10.1.0.5/24', routes: [{dst: '0.0.0.0/0', gw: '10.1.0.1'}, {dst: '10.96.0.0/12'}]},
    ip6: {gateway: 'fd00:1::1', ip: 'fd00:1::5/64', routes: [{dst: '::/0', gw: 'fd00:1::1'}]},
    dns: full.dns,
  }
}

t.test('1.1.0 → every version', async (t) => {
  for (const v of ALL_SPEC_VERSIONS) t.same(fromCanonical(full, v), expected[v], v)
})

t.test(
  'every version → every version: converting a converted result is what converting the original gives',
  async (t) => {
    // Down-conversion loses fields; what remains must survive any further trip unchanged.
    for (const from of ALL_SPEC_VERSIONS) {
      const atFrom = convertResult(full, from)
      for (const to of ALL_SPEC_VERSIONS) {
        const viaFrom = convertResult(atFrom, to)
        const back = convertResult(viaFrom, from)
        const lossless =
          ALL_SPEC_VERSIONS.indexOf(to) >= ALL_SPEC_VERSIONS.indexOf(from) || (from === '0.1.0' && to === '0.2.0')
        if (lossless) t.same(back, atFrom, `${from} → ${to} → ${from} is lossless`)
        t.same(convertResult(viaFrom, to), viaFrom, `${from} → ${to} is stable`)
      }
    }
  },
)

t.test('round trips between the modern versions keep everything they share', async (t) => {
  for (const a of ['0.3.0', '0.3.1', '0.4.0', '1.0.0']) {
    for (const b of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
      t.same(convertResult(convertResult(expected[a], b), a), expected[a], `${a} → ${b} → ${a}`)
    }
  }
  t.same(convertResult(full, '1.1.0'), full, '1.1.0 is the identity')
})

t.test('legacy ip4/ip6 results up-convert into ips and routes', async (t) => {
  const legacy = {
    cniVersion: '0.2.0',
    ip4: {gateway: '10.2.0.1', ip: '10.2.0.7/16', routes: [{dst: '0.0.0.0/0'}]},
    dns: {nameservers: ['1.1.1.1']},
  }
  t.same(convertResult(legacy, '1.0.0'), {
    cniVersion: '1.0.0',
    ips: [{address: '10.2.0.7/16', gateway: '10.2.0.1'}],
    routes: [{dst: '0.0.0.0/0'}],
    dns: {nameservers: ['1.1.1.1']},
  })
  t.same(convertResult(legacy, '0.3.1'), {
    cniVersion: '0.3.1',
    ips: [{address: '10.2.0.7/16', gateway: '10.2.0.1', version: '4'}],
    routes: [{dst: '0.0.0.0/0'}],
    dns: {nameservers: ['1.1.1.1']},
  })
})

t.test('down to 0.2.0 keeps only the first address of each family, and routes of families it has', async (t) => {
  const two = {
    cniVersion: '1.0.0',
    ips: [{address: '10.0.0.2/24'}, {address: '10.0.1.2/24'}],
    routes: [{dst: '0.0.0.0/0'}, {dst: '::/0'}],
  }
  t.same(convertResult(two, '0.2.0'), {cniVersion: '0.2.0', ip4: {ip: '10.0.0.2/24', routes: [{dst: '0.0.0.0/0'}]}})
})

t.test('omitted lists and empty dns are tolerated and not invented (checklist §1.7 item 11)', async (t) => {
  t.same(toCanonical({cniVersion: '1.0.0'}), {cniVersion: '1.0.0', dns: {}, interfaces: [], ips: [], routes: []})
  t.same(toCanonical(undefined), {cniVersion: '', dns: {}, interfaces: [], ips: [], routes: []})
  t.same(convertResult({cniVersion: '1.0.0'}, '0.4.0'), {cniVersion: '0.4.0'})
  t.same(convertResult({cniVersion: '1.0.0', dns: {}}, '1.1.0'), {cniVersion: '1.1.0'})
})

t.test('ips[].version is dropped when reading, recomputed from the address when writing', async (t) => {
  const wrong = {cniVersion: '0.4.0', ips: [{address: 'fd00::2/64', version: '4'}]}
  t.same(convertResult(wrong, '0.4.0'), {cniVersion: '0.4.0', ips: [{address: 'fd00::2/64', version: '6'}]})
})

t.test('conversion never mutates its input', async (t) => {
  const input = JSON.parse(JSON.stringify(full)) as CanonicalResult
  for (const v of ALL_SPEC_VERSIONS) convertResult(input, v)
  t.same(input, full)
})

t.test('a malformed result is read without throwing: entries that are not objects are left out', async (t) => {
  const malformed = JSON.parse(
    readFileSync(new URL('../fixtures-runtime/malformed-results.json', import.meta.url), 'utf8'),
  ) as unknown[]
  for (const r of malformed)
    for (const v of ALL_SPEC_VERSIONS) t.doesNotThrow(() => convertResult(r, v), `${JSON.stringify(r)} → ${v}`)
  t.same(toCanonical({cniVersion: '1.0.0', interfaces: [null, {name: 'eth0'}], ips: [7], routes: ['x']}), {
    cniVersion: '1.0.0',
    dns: {},
    interfaces: [{name: 'eth0'}],
    ips: [],
    routes: [],
  })
  t.same(toCanonical({cniVersion: '0.2.0', dns: 'x', ip4: {ip: '10.0.0.2/24', routes: 5}, ip6: 3}), {
    cniVersion: '0.2.0',
    dns: {},
    interfaces: [],
    ips: [{address: '10.0.0.2/24'}],
    routes: [],
  })
})
