/**
 * A VPC route-table entry lost (`lab up --mode vpc`), in the router's namespace. The entry is the
 * node's own daemon's to keep (daemon/backends/vpc.ts), so that daemon is stopped first.
 */
import {ip, ipJson} from '../../netns/netns.js'
import {VPC_ROUTE_PROTO} from '../../daemon/backends/vpc.js'
import {vpcRouter as router} from './kernel.js'
import type {FaultDefinition} from './types.js'

interface VpcRouteJson {
  dst: string
  gateway?: string
  dev?: string
}

/** The route table's entry for a node's pod CIDR is deleted, with that node's daemon stopped. */
export const vpcRouteDeleted: FaultDefinition = {
  id: 'vpc-route-deleted',
  title: "The VPC route table lost a node's entry",
  description:
    "Stops the node's daemon (each node's daemon keeps its own pod CIDR's entry), then deletes the VPC router's route-table entry for that node's pod CIDR. The router has no route for those pods: it answers \"Destination Net Unreachable\" for them.",
  symptom: "pods on other nodes can't reach the node's pods (ping: no reply, or Net Unreachable from 198.18.0.254)",
  scope: 'node',
  modes: ['vpc'],
  stopsDaemon: true,
  async apply({state, remember}, {node}) {
    const r = router(state)
    const all = await ipJson<VpcRouteJson[]>(['-4', 'route', 'show', 'proto', String(VPC_ROUTE_PROTO)], r.netns)
    const saved = all.filter((x) => x.dst === node.podCIDR)
    if (saved.length === 0) throw new Error(`the VPC route table has no entry for ${node.name}'s ${node.podCIDR}`)
    remember({routes: saved})
    await ip(['route', 'del', node.podCIDR, 'proto', String(VPC_ROUTE_PROTO)], r.netns)
    return {
      undo: {routes: saved},
      summary: `ip -n ${r.netns} route del ${node.podCIDR} proto ${VPC_ROUTE_PROTO}`,
    }
  },
  async heal({state}, _target, undo) {
    const r = router(state)
    for (const x of undo.routes as VpcRouteJson[]) {
      if (!x.gateway) continue
      await ip(
        ['route', 'replace', x.dst, 'via', x.gateway, 'dev', x.dev ?? r.iface, 'proto', String(VPC_ROUTE_PROTO)],
        r.netns,
      )
    }
  },
}
