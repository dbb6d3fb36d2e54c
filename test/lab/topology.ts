import {mkdirSync, mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {join} from 'node:path'
import t from 'tap'

import {buildTopology, loadLabTopology, topologyPath, writeLabTopology} from '../../src/lab/topology.js'
import {planLab} from '../../src/lab/up.js'
import {cnidbgError} from '../helpers/errors.js'

const endpoints = [
  {
    name: 'pod-c',
    namespace: 'default',
    ip: '10.244.2.2',
    node: 'node2',
    netnsPath: '/run/netns/cnidbg-lab-x-node2-pod-c',
  },
  {
    name: 'pod-a',
    namespace: 'default',
    ip: '10.244.1.2',
    node: 'node1',
    netnsPath: '/run/netns/cnidbg-lab-x-node1-pod-a',
  },
]

t.test('vxlan topology: node namespaces, VTEP MACs from the Node annotations, diag URLs, sorted pods', async (t) => {
  const s = planLab({name: 'x', nodes: 2, podsPerNode: 1, mode: 'vxlan'}, '/run/cnidbg/lab/x')
  const topo = buildTopology(s, {
    nodes: [
      {metadata: {name: 'node1', annotations: {'cnidbg.dev/vtep-mac': '02:00:00:00:00:01'}}},
      {metadata: {name: 'node2'}},
    ],
    endpoints,
    diagUrls: {node1: 'http://127.0.0.1:1234'},
  })
  t.match(topo, {
    lab: 'x',
    mode: 'vxlan',
    vtepDevice: 'cnidbg.1',
    vxlanPort: 8472,
    vni: 1,
    underlayDevice: 'eth0',
    kubeconfig: '/run/cnidbg/lab/x/kubeconfig',
  })
  t.same(topo.nodes[0], {
    name: 'node1',
    nodeIP: '198.18.0.2',
    podCIDR: '10.244.1.0/24',
    vtepMAC: '02:00:00:00:00:01',
    netns: {name: 'cnidbg-lab-x-node1', path: '/run/netns/cnidbg-lab-x-node1'},
    diagUrl: 'http://127.0.0.1:1234',
  })
  t.notOk('vtepMAC' in topo.nodes[1]!, 'no MAC published yet: none claimed')
  t.notOk('diagUrl' in topo.nodes[1]!, 'daemon not serving: no URL')
  t.same(
    topo.endpoints.map((e) => [e.name, e.ifname]),
    [
      ['pod-a', 'eth0'],
      ['pod-c', 'eth0'],
    ],
  )
})

t.test('host-gw topology has no VXLAN fields', async (t) => {
  const s = planLab({name: 'x', nodes: 1, podsPerNode: 0, mode: 'host-gw'}, '/x')
  const topo = buildTopology(s, {
    nodes: [{metadata: {name: 'node1', annotations: {'cnidbg.dev/vtep-mac': '02:00:00:00:00:01'}}}],
    endpoints: [],
  })
  t.equal(topo.mode, 'host-gw')
  t.notOk('vtepDevice' in topo)
  t.notOk('vtepMAC' in topo.nodes[0]!)
})

t.test('lab.json is rewritten only when the content changes, and loads back', async (t) => {
  const root = mkdtempSync('/tmp/cnidbgtest-labtopo-')
  t.teardown(() => rmSync(root, {recursive: true, force: true}))
  const dir = join(root, 'x')
  const s = planLab({name: 'x', nodes: 2, podsPerNode: 1, mode: 'vxlan'}, dir)
  mkdirSync(dir)
  t.ok(writeLabTopology(dir, buildTopology(s, {endpoints})))
  const first = statSync(topologyPath(dir)).mtimeMs
  t.notOk(writeLabTopology(dir, buildTopology(s, {endpoints})), 'same content (only generatedAt differs): not written')
  t.equal(statSync(topologyPath(dir)).mtimeMs, first)
  t.ok(writeLabTopology(dir, buildTopology(s, {endpoints: endpoints.slice(1)})), 'a pod gone: written')
  t.same(
    loadLabTopology('x', root).endpoints.map((e) => e.name),
    ['pod-a'],
  )
  t.match(JSON.parse(readFileSync(topologyPath(dir), 'utf8')), {mode: 'vxlan', nodes: Array})
  t.throws(() => loadLabTopology('nope', root), cnidbgError('LAB_NOT_FOUND'))
})
