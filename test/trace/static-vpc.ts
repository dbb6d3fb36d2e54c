// Pure: the VPC router's source/destination check in the static walk (src/trace/static.ts), on
// snapshots made up here. The check matches a node by its underlay MAC: with that MAC unknown (a node
// read over /diag), the hop is unknown, never "off".
import t from 'tap'

import type {KernelSnapshot, LinkInfo} from '../../src/kernel/reader.js'
import {
  analyzeDirection,
  VPC_ROUTER_NAME,
  type NodeView,
  type PathContext,
  type PodView,
} from '../../src/trace/static.js'
import type {TraceNode, TraceTopology} from '../../src/trace/types.js'

const snap = (links: LinkInfo[], missing: string[] = []): KernelSnapshot => ({
  links,
  routes: [],
  neigh: [],
  fdb: [],
  sysctls: {},
  routeGets: [],
  missing,
  readMs: 0,
})
const reader = {describe: 'made up', local: false, snapshot: async () => snap([])}
const eth0 = (address?: string): LinkInfo => ({
  ifindex: 2,
  ifname: 'eth0',
  flags: ['UP', 'LOWER_UP'],
  mtu: 1500,
  operstate: 'UP',
  ...(address ? {address} : {}),
  addr_info: [],
})
const nodeView = (node: TraceNode, s: KernelSnapshot): NodeView => ({
  node,
  label: node.name,
  netns: {path: `node:${node.name}`},
  reader,
  snap: s,
  lookups: new Map(),
})
const podView = (name: string, ip: string, nv: NodeView): PodView => ({
  ep: {name, namespace: 'default', ip, node: nv.node.name, netnsPath: ''},
  ifname: 'eth0',
  label: `default/${name}`,
  netns: {path: `pod:${nv.node.name}:default/${name}`},
  reader,
  snap: snap([], ['all']),
  lookups: new Map(),
  nodeView: nv,
})

const node1: TraceNode = {name: 'node1', nodeIP: '198.18.0.2', podCIDR: '10.244.1.0/24'}
const node2: TraceNode = {name: 'node2', nodeIP: '198.18.0.3', podCIDR: '10.244.2.0/24'}
const topo: TraceTopology = {
  mode: 'vpc',
  nodes: [node1, node2],
  router: {netns: {path: 'router'}, ip: '198.18.0.1', iface: 'vpc0'},
}
const routerView = (rules: unknown[]) => ({
  ...nodeView({name: VPC_ROUTER_NAME, nodeIP: '198.18.0.1', podCIDR: '198.18.0.1/32'}, snap([])),
  nft: {chains: [], tables: [], rules},
})
const ctx = (router: NodeView): PathContext => ({
  topo,
  mode: 'vpc',
  vtep: 'cnidbg.1',
  underlay: 'eth0',
  vxlanPort: 8472,
  vni: 1,
  router,
  protocols: ['icmp'],
})
const srcDstHop = (mac: string | undefined, rules: unknown[] = []) => {
  const a = podView('pod-a', '10.244.1.5', nodeView(node1, snap([eth0(mac)])))
  const b = podView('pod-b', '10.244.2.5', nodeView(node2, snap([eth0('0a:00:00:00:00:02')])))
  return analyzeDirection(ctx(routerView(rules) as NodeView), 'forward', a, b).find(
    (h) => h.node === VPC_ROUTER_NAME && h.stage === 'filter',
  )!
}

t.test('the source node MAC unknown: the source/destination check is unknown, not off', async (t) => {
  const h = srcDstHop(undefined)
  t.equal(h.status, 'unknown', h.detail)
  t.match(h.detail, /MAC of node1's eth0 is unknown/)
})

t.test('the MAC known and no rule for it: the check is off', async (t) => {
  const h = srcDstHop('0a:00:00:00:00:01')
  t.equal(h.status, 'ok', h.detail)
  t.match(h.detail, /source\/destination check off for node1/)
})

t.test('a device name in a hint is quoted for the shell', async (t) => {
  const down: LinkInfo = {...eth0('0a:00:00:00:00:01'), ifname: 'ul;id', flags: []}
  const a = podView('pod-a', '10.244.1.5', nodeView(node1, snap([down])))
  const b = podView('pod-b', '10.244.2.5', nodeView(node2, snap([eth0('0a:00:00:00:00:02')])))
  const hops = analyzeDirection({...ctx(routerView([]) as NodeView), underlay: 'ul;id'}, 'forward', a, b)
  const h = hops.find((x) => x.node === 'node1' && x.stage === 'next-hop')!
  t.equal(h.status, 'fail', h.detail)
  t.equal(h.hint, "on node1: ip link set dev 'ul;id' up")
})
