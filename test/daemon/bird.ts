// bird2's configuration and `show protocols all` parser (src/daemon/bird.ts), and the bgp backend's
// peer choice: pure, plus `bird -p` (parse only) on every configuration made here, so a config that
// bird would refuse fails this file.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {BgpBackend} from '../../src/daemon/backends/bgp.js'
import {
  birdConfig,
  type BirdConfigInput,
  LABEL_ROUTE_REFLECTOR,
  parseProtocols,
  protocolName,
  protocolPeerIP,
  sessionsOf,
} from '../../src/daemon/bird.js'
import type {PeerPlan} from '../../src/daemon/backends/backend.js'
import {run} from '../../src/process/exec.js'

const dir = mkdtempSync('/tmp/cnidbg-bird-test-')
t.teardown(() => rmSync(dir, {recursive: true, force: true}))

async function birdParses(text: string): Promise<string> {
  const f = join(dir, `c${Math.random().toString(16).slice(2)}.conf`)
  writeFileSync(f, text)
  const r = await run('bird', ['-p', '-c', f], {timeoutMs: 20_000})
  return r.exitCode === 0 ? 'ok' : (r.stderr || r.stdout).trim()
}

const base: BirdConfigInput = {
  routerId: '198.18.0.2',
  asn: 64512,
  podCIDR: '10.244.1.0/24',
  iface: 'eth0',
  reflector: false,
  peers: [
    {ip: '198.18.1.3', role: 'mesh', node: 'node2'},
    {ip: '198.18.0.4', role: 'mesh', node: 'node3'},
    {ip: '198.18.0.254', role: 'external', node: 'global peer'},
  ],
}

t.test('a mesh node: one bgp protocol per peer, the CIDR originated, bird accepts it', async (t) => {
  const c = birdConfig(base)
  t.match(c, /router id 198\.18\.0\.2;/)
  t.match(c, /protocol static pod_cidr \{ ipv4; route 10\.244\.1\.0\/24 blackhole; \}/)
  t.match(c, /protocol bgp peer_198_18_0_4 from cnidbg_peer \{ neighbor 198\.18\.0\.4 as 64512; \}/)
  t.match(c, /graceful restart off;/)
  t.match(c, /export where source = RTS_BGP/, 'only BGP routes go to the kernel')
  // Sorted by address: deterministic, so an unchanged cluster never reconfigures bird.
  t.ok(
    c.indexOf('peer_198_18_0_4') < c.indexOf('peer_198_18_0_254') &&
      c.indexOf('peer_198_18_0_254') < c.indexOf('peer_198_18_1_3'),
  )
  t.equal(birdConfig({...base, peers: [...base.peers].reverse()}), c)
  t.equal(await birdParses(c), 'ok')
})

t.test('a reflector marks its clients; a router config originates nothing', async (t) => {
  const rr = birdConfig({
    ...base,
    reflector: true,
    peers: [
      {ip: '198.18.1.3', role: 'rr-client', node: 'node2'},
      {ip: '198.18.0.4', role: 'reflector', node: 'node3'},
    ],
  })
  t.match(rr, /neighbor 198\.18\.1\.3 as 64512; rr client; rr cluster id 198\.18\.0\.2; \}/)
  t.notMatch(rr, /neighbor 198\.18\.0\.4 as 64512; rr client/)
  t.equal(await birdParses(rr), 'ok')
  const router = birdConfig({routerId: '198.18.0.254', asn: 64512, reflector: false, peers: base.peers.slice(0, 2)})
  t.notMatch(router, /protocol static/)
  t.match(router, /protocol direct \{ ipv4; \}/)
  t.equal(await birdParses(router), 'ok')
})

t.test('hostile values from the API never reach the config', async (t) => {
  const bad: Array<[string, Partial<BirdConfigInput>]> = [
    [
      'peer ip with a statement',
      {peers: [{ip: '198.18.0.3; } protocol kernel { ipv4 { export all; }; }', role: 'mesh', node: 'x'}]},
    ],
    ['peer ip v6', {peers: [{ip: '::1', role: 'mesh', node: 'x'}]}],
    ['CIDR with a newline', {podCIDR: '10.244.1.0/24\nprotocol kernel {}'}],
    ['CIDR with host bits', {podCIDR: '10.244.1.5/24'}],
    ['router id', {routerId: '1.2.3.4"'}],
    ['interface with a quote', {iface: 'eth0"; }'}],
    ['AS', {asn: 0}],
  ]
  for (const [what, patch] of bad) t.throws(() => birdConfig({...base, ...patch}), {name: 'BirdConfigError'}, what)
  // A node name is only ever a comment-free label: the protocol name comes from the parsed address.
  const c = birdConfig({...base, peers: [{ip: '198.18.0.9', role: 'mesh', node: 'evil"; } protocol x {'}]})
  t.notMatch(c, /evil/)
  t.equal(protocolName('198.018.0.9'.replace('018', '18')), 'peer_198_18_0_9')
  t.equal(protocolPeerIP('peer_198_18_0_9'), '198.18.0.9')
  t.equal(protocolPeerIP('kernel1'), undefined)
})

const SHOW = `BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     04:17:54.818  
pod_cidr   Static     master4    up     04:17:54.818  
peer_198_18_1_3 BGP        ---        up     04:17:58.630  Established   
  BGP state:          Established
    Neighbor address: 198.18.1.3
    Neighbor AS:      64512
    Session:          internal multihop AS4
  Channel ipv4
    State:          UP
    Routes:         1 imported, 1 exported, 1 preferred

peer_198_18_0_4 BGP        ---        start  04:18:05.864  Active        Socket: Connection closed
  BGP state:          Active
    Neighbor address: 198.18.0.4
    Neighbor AS:      64512
    Connect delay:    3.095/5
    Last error:       Socket: Connection closed
  Channel ipv4
    State:          DOWN
`

t.test('show protocols all: state, last error and route counts per session', async (t) => {
  const p = parseProtocols(SHOW)
  t.same(
    p.map((x) => x.name),
    ['device1', 'pod_cidr', 'peer_198_18_1_3', 'peer_198_18_0_4'],
  )
  const s = sessionsOf(
    [
      {ip: '198.18.1.3', role: 'mesh', node: 'node2'},
      {ip: '198.18.0.4', role: 'mesh', node: 'node3'},
      {ip: '198.18.0.9', role: 'mesh', node: 'node9'},
    ],
    p,
  )
  t.match(s[0], {peerNode: 'node2', state: 'Established', established: true, routesImported: 1, routesExported: 1})
  t.match(s[1], {peerNode: 'node3', state: 'Active', established: false, lastError: 'Socket: Connection closed'})
  t.match(s[2], {peerNode: 'node9', state: 'absent', established: false})
})

t.test('peers: full mesh without reflectors; reflectors and their clients with them', async (t) => {
  const plan = (name: string, ip: string, rr = false): PeerPlan => ({
    peer: {
      name,
      nodeIP: ip,
      podCIDR: '10.244.9.0/24',
      backendType: 'bgp',
      annotations: {},
      labels: rr ? {[LABEL_ROUTE_REFLECTOR]: 'true'} : {},
    },
    routes: [],
    neighs: [],
    fdbs: [],
  })
  const plans = [plan('node2', '198.18.0.3'), plan('node3', '198.18.0.4')]
  t.same(
    BgpBackend.peersOf({}, plans, ['198.18.0.254']).map((p) => [p.node, p.role]),
    [
      ['node2', 'mesh'],
      ['node3', 'mesh'],
      ['global peer', 'external'],
    ],
  )
  const withRR = [plan('node2', '198.18.0.3', true), plan('node3', '198.18.0.4')]
  t.same(
    BgpBackend.peersOf({}, withRR, []).map((p) => [p.node, p.role]),
    [['node2', 'reflector']],
    'a client peers with the reflectors only',
  )
  t.same(
    BgpBackend.peersOf({[LABEL_ROUTE_REFLECTOR]: 'true'}, withRR, []).map((p) => [p.node, p.role]),
    [
      ['node2', 'reflector'],
      ['node3', 'rr-client'],
    ],
    'a reflector peers with everyone',
  )
})
