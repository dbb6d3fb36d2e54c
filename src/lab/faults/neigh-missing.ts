import {DEFAULT_VNI, vtepName} from '../../daemon/backends/vxlan.js'
import {ip} from '../../netns/netns.js'
import {type NeighJson, neighbours, networkOf} from './kernel.js'
import type {FaultDefinition} from './types.js'

const VTEP = vtepName(DEFAULT_VNI)

/** The permanent ARP entry for the peer's VTEP address is deleted. */
export const neighMissing: FaultDefinition = {
  id: 'neigh-missing',
  title: "The neighbour entry for another node's VTEP is missing",
  description: `Stops the node's daemon, then deletes the permanent neighbour entry on ${VTEP} for the peer's VTEP address (its pod CIDR's .0). The kernel falls back to ARP, which a VXLAN device without learning or a default FDB entry can't deliver: the entry goes INCOMPLETE, then FAILED.`,
  symptom: `pods on the node can't reach pods on the peer node; \`ip -n <node> neigh show dev ${VTEP}\` shows the peer's .0 INCOMPLETE or FAILED`,
  scope: 'peer',
  modes: ['vxlan'],
  stopsDaemon: true,
  async apply(ctx, {node, peer}) {
    const addr = networkOf(peer!.podCIDR)
    const saved = (await neighbours(node.netns, VTEP)).filter((n) => n.dst === addr)
    if (saved.length === 0 || !saved[0]!.lladdr)
      throw new Error(`${node.name} has no neighbour entry on ${VTEP} for ${addr}`)
    ctx.remember({entries: saved})
    await ip(['neigh', 'del', addr, 'dev', VTEP], node.netns)
    return {
      undo: {entries: saved},
      summary: `ip -n ${node.netns} neigh del ${addr} dev ${VTEP} (was lladdr ${saved[0]!.lladdr})`,
    }
  },
  async heal(_ctx, {node}, undo) {
    for (const n of undo.entries as NeighJson[]) {
      if (n.lladdr)
        await ip(['neigh', 'replace', n.dst, 'lladdr', n.lladdr, 'dev', VTEP, 'nud', 'permanent'], node.netns)
    }
  },
}
