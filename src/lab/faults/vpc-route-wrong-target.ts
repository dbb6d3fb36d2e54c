/**
 * A VPC route-table entry pointing at the wrong target (`lab up --mode vpc`). The entry is the node's
 * own daemon's to keep (daemon/backends/vpc.ts), so that daemon is stopped first. The wrong target is
 * an underlay address no node has: a real node's daemon would remove an entry that sends another
 * node's CIDR to it.
 */
import {ip, ipJson} from '../../netns/netns.js'
import {VPC_ROUTE_PROTO} from '../../daemon/backends/vpc.js'
import {GHOST_NODE_IP} from '../names.js'
import {vpcRouter as router} from './kernel.js'
import type {FaultDefinition} from './types.js'

export const vpcRouteWrongTarget: FaultDefinition = {
  id: 'vpc-route-wrong-target',
  title: "The VPC route table sends a node's pods to the wrong target",
  description: `Stops the node's daemon, then points the VPC router's route-table entry for the node's pod CIDR at ${GHOST_NODE_IP}, an underlay address no node has: the router sends those pods' packets nowhere.`,
  symptom: "pods on other nodes can't reach the node's pods (ping: no reply)",
  scope: 'node',
  modes: ['vpc'],
  stopsDaemon: true,
  async apply({state, remember}, {node}) {
    const r = router(state)
    const all = await ipJson<Array<{dst: string; gateway?: string}>>(
      ['-4', 'route', 'show', 'proto', String(VPC_ROUTE_PROTO)],
      r.netns,
    )
    const saved = all.find((x) => x.dst === node.podCIDR)
    if (!saved?.gateway) throw new Error(`the VPC route table has no entry for ${node.name}'s ${node.podCIDR}`)
    remember({gateway: saved.gateway})
    const args = [
      'route',
      'replace',
      node.podCIDR,
      'via',
      GHOST_NODE_IP,
      'dev',
      r.iface,
      'proto',
      String(VPC_ROUTE_PROTO),
    ]
    await ip(args, r.netns)
    return {undo: {gateway: saved.gateway}, summary: `ip -n ${r.netns} ${args.join(' ')}`}
  },
  async heal({state}, {node}, undo) {
    const r = router(state)
    await ip(
      ['route', 'replace', node.podCIDR, 'via', String(undo.gateway), 'dev', r.iface, 'proto', String(VPC_ROUTE_PROTO)],
      r.netns,
    )
  },
}
