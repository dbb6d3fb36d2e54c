import t from 'tap'

import type {V1Node, V1Pod} from '@kubernetes/client-node'

import {cnidbgError} from '../helpers/errors.js'
import {endpointFromPod, topologyFromNodes} from '../../src/trace/resolve.js'

const pod = (over: Partial<V1Pod> = {}): V1Pod => ({
  metadata: {name: 'web', namespace: 'shop'},
  spec: {nodeName: 'node-1', containers: []},
  status: {podIP: '10.244.1.7', phase: 'Running'},
  ...over,
})

t.test('endpointFromPod', async (t) => {
  t.same(endpointFromPod(pod()), {name: 'web', namespace: 'shop', ip: '10.244.1.7', node: 'node-1'})
  t.throws(() => endpointFromPod(pod({status: {phase: 'Pending'}})), cnidbgError('TRACE_POD_NOT_READY', 2))
  t.throws(
    () => endpointFromPod(pod({spec: {nodeName: 'n', hostNetwork: true, containers: []}})),
    cnidbgError('TRACE_HOST_NETWORK', 2),
  )
})

t.test('topologyFromNodes reads spec.podCIDR and the cnidbg.dev annotations', async (t) => {
  const node = (name: string, ip: string, cidr: string, type = 'vxlan', mac?: string): V1Node => ({
    metadata: {
      name,
      annotations: {
        'cnidbg.dev/node-ip': ip,
        'cnidbg.dev/backend-type': type,
        ...(mac ? {'cnidbg.dev/vtep-mac': mac} : {}),
      },
    },
    spec: {podCIDR: cidr},
  })
  const topo = topologyFromNodes(
    [
      node('a', '198.18.0.10', '10.244.0.0/24', 'vxlan', '0a:00:00:00:00:01'),
      node('b', '198.18.0.11', '10.244.1.0/24'),
    ],
    {
      netnsOf: (n) => ({path: `/run/netns/lab-${n.metadata!.name}`}),
    },
  )
  t.equal(topo.mode, 'vxlan')
  t.same(topo.nodes[0], {
    name: 'a',
    nodeIP: '198.18.0.10',
    podCIDR: '10.244.0.0/24',
    vtepMAC: '0a:00:00:00:00:01',
    netns: {path: '/run/netns/lab-a'},
  })
  t.equal(topologyFromNodes([node('a', '1.1.1.1', '10.0.0.0/24', 'host-gw')]).mode, 'host-gw')
  t.equal(topologyFromNodes([{metadata: {name: 'x'}, spec: {}}]).nodes.length, 0, 'a node without podCIDR is skipped')
})

t.test('dual-stack: the IPv4 pod IP and pod CIDR, whichever family comes first', async (t) => {
  const v6first = pod({
    status: {podIP: 'fd00:10:244:1::7', podIPs: [{ip: 'fd00:10:244:1::7'}, {ip: '10.244.1.7'}], phase: 'Running'},
  })
  t.same(endpointFromPod(v6first), {name: 'web', namespace: 'shop', ip: '10.244.1.7', node: 'node-1'})
  t.throws(
    () => endpointFromPod(pod({status: {podIP: 'fd00::7', podIPs: [{ip: 'fd00::7'}], phase: 'Running'}})),
    cnidbgError('TRACE_POD_NOT_READY', 2),
    'IPv6 only',
  )
  const topo = topologyFromNodes([
    {
      metadata: {name: 'a', annotations: {'cnidbg.dev/node-ip': '198.18.0.10'}},
      spec: {podCIDR: 'fd00:10:244::/64', podCIDRs: ['fd00:10:244::/64', '10.244.0.0/24']},
    },
  ])
  t.equal(topo.nodes[0]?.podCIDR, '10.244.0.0/24')
})
