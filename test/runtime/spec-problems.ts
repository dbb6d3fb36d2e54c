import {readFileSync} from 'node:fs'

import t from 'tap'

import {splitJsonOutput} from '../../src/runtime/json-output.js'
import {errorProblems, framingProblems, resultProblems, type SpecProblem} from '../../src/runtime/spec-problems.js'

const reqs = (ps: SpecProblem[]): string[] => ps.map((p) => `${p.requirement}/${p.severity}`).sort()
const framing = (verb: Parameters<typeof framingProblems>[0], exit: number | null, stdout: string, stderr = '') =>
  framingProblems(verb, exit, splitJsonOutput(stdout), stderr)

t.test('framing: clean success and clean failure have no problems', async (t) => {
  t.same(framing('ADD', 0, '{"cniVersion":"1.0.0"}'), [])
  t.same(framing('DEL', 0, ''), [])
  t.same(framing('ADD', 1, '{"code":7,"msg":"bad"}'), [])
  t.same(framing('CHECK', 0, ''), [])
})

t.test('framing: P2 stdout must carry exactly one JSON value', async (t) => {
  t.same(reqs(framing('ADD', 0, 'hello\n{"cniVersion":"1.0.0"}')), ['P2/must'])
  t.same(reqs(framing('ADD', 0, '{"a":1}{"b":2}')), ['P2/must'])
  t.same(reqs(framing('ADD', 0, '{"a":1} {"b":')), ['P2/must'])
  const deep = framing('ADD', 0, '{"cniVersion":"1.0.0","x":' + '['.repeat(20_000) + ']'.repeat(20_000) + '}')
  t.same(reqs(deep), ['P2/must', 'P33/must'], 'too deep to read: no result either')
  t.match(deep[0]?.message, /^stdout has JSON nested deeper than \d+ levels, which cnidbg does not read: "\{/)
})

t.test('framing: P1 exit code and stdout must agree', async (t) => {
  t.same(reqs(framing('DEL', 0, '{"code":7,"msg":"x"}')), ['P1/must'], 'exit 0 with an error object')
  t.same(reqs(framing('ADD', 1, '{"cniVersion":"1.0.0","ips":[]}')), ['P1/must'], 'exit 1 with a success result')
  t.same(reqs(framing('VERSION', 2, '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}')), ['P1/must'])
})

t.test('framing: P3 failures should carry an error object', async (t) => {
  const plain = framing('ADD', 1, '', 'panic: oops')
  t.same(reqs(plain), ['P3/should'])
  t.match(plain[0]?.message, /stderr/)
  const silent = framing('ADD', 1, '', '')
  t.same(reqs(silent), ['P3/should'])
  t.match(silent[0]?.message, /no error object and no message/)
})

t.test('framing: P5 CHECK and GC print nothing on success; P33 ADD prints a result', async (t) => {
  t.same(reqs(framing('CHECK', 0, '{"cniVersion":"1.0.0"}')), ['P5/should'])
  t.same(reqs(framing('GC', 0, 'ok')), ['P2/must', 'P5/should'])
  t.same(reqs(framing('ADD', 0, '')), ['P33/must'])
})

t.test('framing: a killed plugin (no exit code) is not judged on its output', async (t) => {
  t.same(framing('ADD', null, ''), [])
})

t.test('errorProblems: P60 shape, P61 reserved codes', async (t) => {
  t.same(errorProblems({code: 7, cniVersion: '1.0.0', msg: 'x'}, '1.0.0'), [])
  t.same(reqs(errorProblems({code: 7, msg: 'x'}, '1.0.0')), ['P60/info'], 'Go plugins omit cniVersion: info only')
  t.same(reqs(errorProblems({code: 7, cniVersion: '0.4.0', msg: 'x'}, '1.0.0')), ['P60/info'])
  t.same(reqs(errorProblems({cniVersion: '1.0.0', msg: 'x'}, '1.0.0')), ['P60/must'])
  t.same(reqs(errorProblems({code: 7.5, cniVersion: '1.0.0', msg: 'x'})), ['P60/must'])
  t.same(reqs(errorProblems({code: 7, cniVersion: '1.0.0', msg: ''})), ['P60/should'])
  for (const code of [0, 9, 12, 49, 52, 99])
    t.same(reqs(errorProblems({code, cniVersion: '1', msg: 'x'})), ['P61/should'], `code ${code}`)
  t.same(reqs(errorProblems({code: 8, cniVersion: '1', msg: 'x'})), ['P61/info'])
  for (const code of [1, 2, 3, 4, 5, 6, 7, 11, 50, 51, 100, 999])
    t.same(errorProblems({code, cniVersion: '1', msg: 'x'}), [], `code ${code}`)
})

const good = {
  cniVersion: '1.0.0',
  interfaces: [
    {name: 'cni0', mac: '6a:00:00:00:00:01'},
    {name: 'eth0', mac: '0a:58:0a:01:00:05', sandbox: '/run/netns/pod1'},
  ],
  ips: [{address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 1}],
  routes: [{dst: '0.0.0.0/0', gw: '10.1.0.1'}],
  dns: {nameservers: ['10.96.0.10'], search: ['svc'], options: ['ndots:5'], domain: 'cluster.local'},
}

t.test('resultProblems: a good result at each modern version', async (t) => {
  t.same(resultProblems(good, {ifname: 'eth0', netns: '/run/netns/pod1', role: 'interface', version: '1.0.0'}), [])
  const v040 = {...good, cniVersion: '0.4.0', ips: [{...good.ips[0], version: '4'}]}
  t.same(resultProblems(v040, {version: '0.4.0'}), [])
  t.same(resultProblems({cniVersion: '0.2.0', ip4: {ip: '10.1.0.5/24'}}, {version: '0.2.0'}), [])
})

// One broken field per row: [what, result override, version, expected requirement].
const broken: Array<[string, Record<string, unknown>, string, string]> = [
  ['no cniVersion', {cniVersion: undefined}, '1.0.0', 'P39/must'],
  ['another version', {cniVersion: '0.4.0'}, '1.0.0', 'P26/must'],
  ['ip4 in a 1.0.0 result', {ip4: {ip: '10.0.0.1/24'}}, '1.0.0', 'P27/must'],
  ['interfaces not a list', {interfaces: {name: 'eth0'}}, '1.0.0', 'P40/must'],
  ['interface without name', {interfaces: [{mac: '0a:00:00:00:00:01'}]}, '1.0.0', 'P41/must'],
  ['bad mac', {interfaces: [{name: 'eth0', mac: 'zz'}]}, '1.0.0', 'P42/should'],
  ['negative mtu', {interfaces: [{name: 'eth0', mtu: -1}]}, '1.1.0', 'P44/must'],
  ['relative socketPath', {interfaces: [{name: 'eth0', socketPath: 'x.sock'}]}, '1.1.0', 'P44/must'],
  ['address without prefix', {ips: [{address: '10.1.0.5'}]}, '1.0.0', 'P45/must'],
  ['gateway not an IP', {ips: [{address: '10.1.0.5/24', gateway: 'router'}]}, '1.0.0', 'P46/should'],
  ['gateway of the other family', {ips: [{address: '10.1.0.5/24', gateway: 'fd00::1'}]}, '1.0.0', 'P46/should'],
  [
    'interface index out of range',
    {interfaces: [], ips: [{address: '10.1.0.5/24', interface: 3}]},
    '1.0.0',
    'P47/must',
  ],
  ['interface index -1', {interfaces: [], ips: [{address: '10.1.0.5/24', interface: -1}]}, '1.0.0', 'P47/should'],
  ['interface index a string', {interfaces: [], ips: [{address: '10.1.0.5/24', interface: '0'}]}, '1.0.0', 'P47/must'],
  ['version in 1.0.0', {ips: [{address: '10.1.0.5/24', version: '4'}]}, '1.0.0', 'P48/must'],
  ['route dst not CIDR', {routes: [{dst: '10.0.0.0'}]}, '1.0.0', 'P49/must'],
  ['route gw not an IP', {routes: [{dst: '0.0.0.0/0', gw: 'gw'}]}, '1.0.0', 'P49/must'],
  ['route table negative', {routes: [{dst: '0.0.0.0/0', table: -2}]}, '1.1.0', 'P49/must'],
  ['dns not an object', {dns: 'x'}, '1.0.0', 'P51/should'],
  ['nameservers not IPs', {dns: {nameservers: ['dns.local']}}, '1.0.0', 'P51/should'],
  ['search not strings', {dns: {search: [1]}}, '1.0.0', 'P51/should'],
  ['domain not a string', {dns: {domain: 5}}, '1.0.0', 'P51/should'],
]

t.test('resultProblems: each broken field names its requirement', async (t) => {
  for (const [what, over, version, want] of broken) {
    const r = {cniVersion: version, ...over}
    if (r.cniVersion === undefined) delete (r as Record<string, unknown>).cniVersion
    t.same(reqs(resultProblems(r, {version})), [want], what)
  }
})

t.test('resultProblems: version-specific ips[].version (P48)', async (t) => {
  t.same(
    reqs(resultProblems({cniVersion: '0.3.1', ips: [{address: '10.1.0.5/24'}]}, {version: '0.3.1'})),
    ['P48/must'],
    'missing in 0.3.1',
  )
  t.same(
    reqs(resultProblems({cniVersion: '0.4.0', ips: [{address: '10.1.0.5/24', version: '6'}]}, {version: '0.4.0'})),
    ['P48/must'],
    'wrong family',
  )
})

t.test('resultProblems: legacy results', async (t) => {
  t.same(reqs(resultProblems({cniVersion: '0.2.0', ip4: {ip: '10.1.0.5'}}, {version: '0.2.0'})), ['P45/must'])
  t.same(reqs(resultProblems({cniVersion: '0.2.0', ips: []}, {version: '0.2.0'})), ['P27/must'])
})

t.test('resultProblems: roles', async (t) => {
  t.same(
    reqs(
      resultProblems(
        {cniVersion: '1.0.0', interfaces: [], ips: [{address: '10.1.0.5/24', interface: 0}]},
        {role: 'ipam', version: '1.0.0'},
      ),
    ),
    ['P54/must', 'P54/must'],
  )
  t.same(
    reqs(
      resultProblems(
        {cniVersion: '1.0.0', interfaces: [{name: 'veth1'}]},
        {ifname: 'eth0', role: 'interface', version: '1.0.0'},
      ),
    ),
    ['P40/must'],
  )
  t.same(
    reqs(
      resultProblems({cniVersion: '1.0.0', ips: [{address: '10.1.0.5/24'}]}, {role: 'interface', version: '1.0.0'}),
    ).includes('P47/should'),
    true,
  )
  t.same(
    reqs(resultProblems(good, {ifname: 'eth0', netns: '/run/netns/other', version: '1.0.0'})),
    ['P43/should'],
    'sandbox is not CNI_NETNS',
  )
})

t.test('resultProblems: not an object', async (t) => {
  for (const v of [null, 'x', [1], 3])
    t.same(reqs(resultProblems(v, {version: '1.0.0'})), ['P33/must'], JSON.stringify(v))
})

t.test(
  'resultProblems: entries that are not objects and fields of the wrong type are problems, never a throw',
  async (t) => {
    const malformed = JSON.parse(
      readFileSync(new URL('../fixtures-runtime/malformed-results.json', import.meta.url), 'utf8'),
    ) as unknown[]
    for (const r of malformed)
      for (const version of ['0.2.0', '0.4.0', '1.0.0', '1.1.0'])
        for (const role of [undefined, 'interface', 'chained', 'ipam'] as const) {
          const ps = resultProblems(r, {ifname: 'eth0', netns: '/run/netns/x', role, version})
          t.ok(
            ps.length > 0,
            `${JSON.stringify(r)} at ${version} (${role ?? 'any'}): ${ps.map((p) => p.message).join('; ')}`,
          )
        }
    const at = (r: unknown, version = '1.0.0') =>
      resultProblems(r, {version}).map((p) => `${p.requirement} ${p.message}`)
    t.same(at({cniVersion: '1.0.0', ips: [null]}), ['P27 ips[0] is not an object: null'])
    t.same(at({cniVersion: '1.0.0', interfaces: [null]}), ['P27 interfaces[0] is not an object: null'])
    t.same(at({cniVersion: '1.0.0', routes: [1]}), ['P27 routes[0] is not an object: 1'])
    t.same(at({cniVersion: '1.0.0', routes: 'x'}), ['P27 routes is not a list'])
    t.same(at({cniVersion: '1.0.0', ips: null, routes: null}), [], 'a null list is an empty one, as Go reads it')
    t.same(at({cniVersion: '0.2.0', ip4: {ip: '10.0.0.2/24', routes: 5}}, '0.2.0'), ['P27 ip4.routes is not a list'])
    t.same(at({cniVersion: '0.2.0', ip4: 5}, '0.2.0'), ['P27 ip4 is not an object'])
    t.same(
      at({cniVersion: '1.0.0', interfaces: [null, {name: 'eth0'}], ips: [{address: '10.0.0.2/24', interface: 1}]}),
      ['P27 interfaces[0] is not an object: null'],
      'ips[].interface counts every entry the plugin listed',
    )
  },
)
