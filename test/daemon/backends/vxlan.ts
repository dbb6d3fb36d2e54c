import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import t from 'tap'

import {ANN_BACKEND_TYPE, ANN_NODE_IP, ANN_VTEP_MAC, type PeerNode} from '../../../src/daemon/annotations.js'
import {planVtep, VxlanBackend, type VtepSpec} from '../../../src/daemon/backends/vxlan.js'
import type {LinkInfo, Underlay} from '../../../src/daemon/kernel-state.js'
import {readVtepState} from '../../../src/daemon/state.js'

const SPEC: VtepSpec = {
  name: 'cnidbg.1',
  vni: 1,
  port: 8472,
  local: '198.18.0.1',
  dev: 'eth0',
  mac: '02:11:22:33:44:55',
  mtu: 1450,
  address: '10.244.0.0',
}

function link(over: Partial<LinkInfo> = {}): LinkInfo {
  return {
    name: 'cnidbg.1',
    index: 4,
    mac: SPEC.mac,
    mtu: 1450,
    operstate: 'UNKNOWN',
    up: true,
    kind: 'vxlan',
    vxlan: {id: 1, local: '198.18.0.1', link: 'eth0', port: 8472, learning: false},
    ipv4: [{address: '10.244.0.0', prefix: 32}],
    ...over,
  }
}

const lines = (p: {commands: string[][]}) => p.commands.map((c) => c.join(' '))

t.test('planVtep: create with the persisted MAC, MTU, VNI, port and nolearning', async (t) => {
  const p = planVtep(SPEC, undefined)
  t.equal(p.action, 'create')
  t.same(lines(p), [
    'link add cnidbg.1 address 02:11:22:33:44:55 mtu 1450 type vxlan id 1 local 198.18.0.1 dev eth0 dstport 8472 nolearning',
    'addr replace 10.244.0.0/32 dev cnidbg.1',
    'link set dev cnidbg.1 up',
  ])
})

t.test('planVtep: a correct device needs nothing', async (t) => {
  t.same(planVtep(SPEC, link()), {action: 'ok', reasons: [], commands: []})
})

t.test('planVtep: fixable drift is fixed in place', async (t) => {
  const p = planVtep(
    SPEC,
    link({mac: '02:00:00:00:00:99', mtu: 1500, up: false, ipv4: [{address: '10.244.9.0', prefix: 32}]}),
  )
  t.equal(p.action, 'update')
  t.same(lines(p), [
    'link set dev cnidbg.1 address 02:11:22:33:44:55',
    'link set dev cnidbg.1 mtu 1450',
    'addr del 10.244.9.0/32 dev cnidbg.1',
    'addr replace 10.244.0.0/32 dev cnidbg.1',
    'link set dev cnidbg.1 up',
  ])
})

t.test('planVtep: incompatible parameters mean delete and recreate', async (t) => {
  const cases: Array<[Partial<LinkInfo>, RegExp]> = [
    [{kind: 'veth', vxlan: undefined}, /kind veth/],
    [{vxlan: {id: 2, local: '198.18.0.1', link: 'eth0', port: 8472, learning: false}}, /vni 2/],
    [{vxlan: {id: 1, local: '198.18.0.7', link: 'eth0', port: 8472, learning: false}}, /local 198\.18\.0\.7/],
    [{vxlan: {id: 1, local: '198.18.0.1', link: 'eth1', port: 8472, learning: false}}, /dev eth1/],
    [{vxlan: {id: 1, local: '198.18.0.1', link: 'eth0', port: 4789, learning: false}}, /dstport 4789/],
    [{vxlan: {id: 1, local: '198.18.0.1', link: 'eth0', port: 8472, learning: true}}, /learning on/],
  ]
  for (const [over, why] of cases) {
    const p = planVtep(SPEC, link(over))
    t.equal(p.action, 'recreate')
    t.match(p.reasons.join(), why)
    t.equal(lines(p)[0], 'link del dev cnidbg.1')
    t.match(lines(p)[1], /^link add cnidbg\.1 address 02:11:22:33:44:55/)
  }
})

function peer(name: string, podCIDR: string, nodeIP: string, ann: Record<string, string>): PeerNode {
  return {name, podCIDR, nodeIP, backendType: ann[ANN_BACKEND_TYPE] ?? '', annotations: ann}
}

t.test('plan: neighbour, FDB and onlink route per vxlan peer; others skipped with a reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cnidbg-dmn-vx-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  const b = new VxlanBackend({stateDir: dir})
  const underlay: Underlay = {iface: 'eth0', ip: '198.18.0.1', prefix: 15, mtu: 1500, up: true}
  const self = {name: 'a', podCIDR: '10.244.0.0/24', nodeIP: '198.18.0.1', underlay}
  const {plans, skipped} = b.plan(self, [
    peer('b', '10.244.1.0/24', '198.18.0.2', {[ANN_BACKEND_TYPE]: 'vxlan', [ANN_VTEP_MAC]: '02:00:00:00:00:0B'}),
    peer('c', '10.244.2.0/24', '198.18.0.3', {[ANN_BACKEND_TYPE]: 'host-gw'}),
    peer('d', '10.244.3.0/24', '198.18.0.4', {[ANN_BACKEND_TYPE]: 'vxlan'}),
  ])
  t.same(plans, [
    {
      peer: plans[0]!.peer,
      neighs: [{ip: '10.244.1.0', mac: '02:00:00:00:00:0b', dev: 'cnidbg.1'}],
      fdbs: [{mac: '02:00:00:00:00:0b', dst: '198.18.0.2', dev: 'cnidbg.1'}],
      routes: [{dst: '10.244.1.0/24', via: '10.244.1.0', dev: 'cnidbg.1', onlink: true, metric: 0}],
    },
  ])
  t.same(skipped, [
    {name: 'c', reason: 'backend-type host-gw, this node runs vxlan'},
    {name: 'd', reason: 'no cnidbg.dev/vtep-mac annotation'},
  ])
  t.equal(b.vtepSpec({podCIDR: '10.244.0.0/24', underlay}, '02:00:00:00:00:01').mtu, 1450, 'underlay MTU − 50')
})

t.test(
  'resolveMac: state file, else own annotation, else existing device, else random; always persisted',
  async (t) => {
    const mk = () => {
      const dir = mkdtempSync(join(tmpdir(), 'cnidbg-dmn-vx-'))
      t.teardown(() => rmSync(dir, {recursive: true, force: true}))
      return dir
    }
    const ann = {[ANN_NODE_IP]: '198.18.0.1', [ANN_VTEP_MAC]: '02:00:00:00:aa:01'}

    const d1 = mk()
    const fromAnn = new VxlanBackend({stateDir: d1}).resolveMac({ownAnnotations: ann, links: [link()]})
    t.same(fromAnn, {mac: '02:00:00:00:aa:01', source: 'node annotation'})
    t.same(readVtepState(d1), {vni: 1, mac: '02:00:00:00:aa:01'})
    // A new process on the same state dir: the state file wins over everything else.
    t.same(new VxlanBackend({stateDir: d1}).resolveMac({ownAnnotations: {}, links: []}), {
      mac: '02:00:00:00:aa:01',
      source: 'state file',
    })

    const d2 = mk()
    t.same(new VxlanBackend({stateDir: d2}).resolveMac({ownAnnotations: {}, links: [link()]}), {
      mac: SPEC.mac,
      source: 'existing device',
    })

    const d3 = mk()
    const gen = new VxlanBackend({stateDir: d3}).resolveMac({ownAnnotations: {}, links: []})
    t.equal(gen.source, 'generated')
    t.match(gen.mac, /^[0-9a-f][26ae](:[0-9a-f]{2}){5}$/, 'locally administered unicast')
    t.same(readVtepState(d3), {vni: 1, mac: gen.mac})

    // A state file for another VNI does not count.
    const other = new VxlanBackend({stateDir: d3, vni: 7}).resolveMac({ownAnnotations: {}, links: []})
    t.equal(other.source, 'generated')
  },
)
