import type {V1Node} from '@kubernetes/client-node'
import t from 'tap'

import {
  ANN_BACKEND_TYPE,
  ANN_NODE_IP,
  ANN_VTEP_MAC,
  annotationPatch,
  nodePodCidr,
  parsePeer,
  peerVtepMac,
  selectPeers,
} from '../../src/daemon/annotations.js'

function node(name: string, podCIDR: string | undefined, ann: Record<string, string> = {}): V1Node {
  return {metadata: {name, annotations: ann}, spec: podCIDR ? {podCIDR} : {}}
}

const ready = (ip: string, mac = '02:00:00:00:00:01') => ({
  [ANN_NODE_IP]: ip,
  [ANN_BACKEND_TYPE]: 'vxlan',
  [ANN_VTEP_MAC]: mac,
  'other.io/keep': 'x',
})

t.test('podCIDR from spec.podCIDR, else the first IPv4 of spec.podCIDRs', async (t) => {
  t.equal(nodePodCidr(node('a', '10.244.1.0/24')), '10.244.1.0/24')
  t.equal(nodePodCidr({metadata: {name: 'a'}, spec: {podCIDRs: ['fd00::/64', '10.244.2.0/24']}}), '10.244.2.0/24')
  t.equal(nodePodCidr(node('a', 'garbage')), undefined)
  t.equal(nodePodCidr({metadata: {name: 'a'}}), undefined)
})

t.test('parsePeer explains why a node is not usable yet', async (t) => {
  t.match(parsePeer(node('b', undefined, ready('198.18.0.2'))), {reason: /podCIDR/})
  t.match(parsePeer(node('b', '10.244.1.0/24')), {reason: /no cnidbg\.dev\/node-ip/})
  t.match(parsePeer(node('b', '10.244.1.0/24', {[ANN_NODE_IP]: '1.2.3'})), {reason: /not an IPv4/})
  t.match(parsePeer(node('b', '10.244.1.0/24', {[ANN_NODE_IP]: '198.18.0.2'})), {reason: /backend-type/})
  const p = parsePeer(node('b', '10.244.1.0/24', ready('198.18.0.2')))
  t.match(p, {name: 'b', podCIDR: '10.244.1.0/24', nodeIP: '198.18.0.2', backendType: 'vxlan'})
  t.notOk('other.io/keep' in (p as {annotations: Record<string, string>}).annotations, 'only our prefix kept')
})

t.test('peerVtepMac validates the MAC before it can reach ip neigh', async (t) => {
  const p = (mac: string) => parsePeer(node('b', '10.244.1.0/24', ready('198.18.0.2', mac))) as never
  t.equal(peerVtepMac(p('02:AB:00:00:00:01')), '02:ab:00:00:00:01')
  t.match(peerVtepMac(p('01:00:5e:00:00:01')), {reason: /not a unicast MAC/})
  t.match(peerVtepMac(p('02:00:00:00:00:01 dev eth0')), {reason: /not a unicast MAC/})
})

t.test('selectPeers: self excluded, clashes reported, first by name wins', async (t) => {
  const self = {name: 'a', podCIDR: '10.244.0.0/24', nodeIP: '198.18.0.1'}
  const nodes = [
    node('a', '10.244.0.0/24', ready('198.18.0.1')),
    node('d', '10.244.1.0/24', ready('198.18.0.4')), // same podCIDR as b, later by name
    node('b', '10.244.1.0/24', ready('198.18.0.2')),
    node('c', '10.244.2.0/24', ready('198.18.0.2')), // same node IP as b
    node('e', '10.244.0.0/16', ready('198.18.0.5')), // overlaps self
    node('f', '10.244.6.0/24', ready('198.18.0.1')), // our node IP
    node('g', undefined),
    node('h', '10.244.7.0/24', ready('198.18.0.8')),
  ]
  const {peers, skipped} = selectPeers(self, nodes)
  t.same(
    peers.map((p) => p.name),
    ['b', 'h'],
  )
  t.same(Object.fromEntries(skipped.map((s) => [s.name, s.reason])), {
    c: 'node IP 198.18.0.2 already claimed by node b',
    d: 'podCIDR 10.244.1.0/24 (overlaps 10.244.1.0/24) already claimed by node b',
    e: "podCIDR 10.244.0.0/16 overlaps this node's 10.244.0.0/24",
    f: "node IP 198.18.0.1 is this node's own",
    g: 'no IPv4 spec.podCIDR',
  })
})

t.test('annotationPatch: merge patch of only what differs; never touches foreign keys', async (t) => {
  const want = {[ANN_NODE_IP]: '198.18.0.1', [ANN_BACKEND_TYPE]: 'vxlan', [ANN_VTEP_MAC]: '02:00:00:00:00:01'}
  t.same(annotationPatch(undefined, want), {metadata: {annotations: want}})
  t.equal(annotationPatch({...want, 'cnidbg.dev/other': 'x'}, want), undefined)
  t.same(annotationPatch({...want, [ANN_NODE_IP]: '198.18.0.9'}, want), {
    metadata: {annotations: {[ANN_NODE_IP]: '198.18.0.1'}},
  })
  // Switching to host-gw removes the VTEP MAC, keeps other cnidbg.dev keys alone.
  const hostGw = {[ANN_NODE_IP]: '198.18.0.1', [ANN_BACKEND_TYPE]: 'host-gw'}
  t.same(annotationPatch({...want, 'cnidbg.dev/other': 'x'}, hostGw), {
    metadata: {annotations: {[ANN_BACKEND_TYPE]: 'host-gw', [ANN_VTEP_MAC]: null}},
  })
})
