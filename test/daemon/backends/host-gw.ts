import t from 'tap'

import {ANN_BACKEND_TYPE, type PeerNode} from '../../../src/daemon/annotations.js'
import {HostGwBackend} from '../../../src/daemon/backends/host-gw.js'
import type {Underlay} from '../../../src/daemon/kernel-state.js'

function peer(name: string, podCIDR: string, nodeIP: string, type = 'host-gw'): PeerNode {
  return {name, podCIDR, nodeIP, backendType: type, annotations: {[ANN_BACKEND_TYPE]: type}}
}

t.test('one route per peer via its node IP, on-link peers only', async (t) => {
  const underlay: Underlay = {iface: 'eth0', ip: '198.18.0.1', prefix: 15, mtu: 1500, up: true}
  const b = new HostGwBackend()
  t.same(b.ownership.neighDevs, [])
  t.same(b.ownership.fdbDevs, [])
  const {plans, skipped} = b.plan({name: 'a', podCIDR: '10.244.0.0/24', nodeIP: '198.18.0.1', underlay}, [
    peer('b', '10.244.1.0/24', '198.18.0.2'),
    peer('c', '10.244.2.0/24', '198.19.255.254'),
    peer('d', '10.244.3.0/24', '192.0.2.4'),
    peer('e', '10.244.4.0/24', '198.18.0.5', 'vxlan'),
  ])
  t.same(
    plans.map((p) => p.routes),
    [
      [{dst: '10.244.1.0/24', via: '198.18.0.2', dev: 'eth0', onlink: false, metric: 0}],
      [{dst: '10.244.2.0/24', via: '198.19.255.254', dev: 'eth0', onlink: false, metric: 0}],
    ],
  )
  t.ok(plans.every((p) => p.neighs.length === 0 && p.fdbs.length === 0))
  t.match(skipped, [
    {name: 'd', reason: /not on eth0's subnet 198\.18\.0\.1\/15: host-gw needs every node on one L2 segment/},
    {name: 'e', reason: 'backend-type vxlan, this node runs host-gw'},
  ])
})
