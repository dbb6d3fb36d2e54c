import {DEFAULT_VNI, vtepName} from '../../daemon/backends/vxlan.js'
import {bridgeCmd, type FdbJson, fdbEntries} from './kernel.js'
import type {FaultDefinition} from './types.js'

const VTEP = vtepName(DEFAULT_VNI)

/** The FDB entry for the peer's VTEP MAC points at the wrong node IP (as after a node's IP changed). */
export const fdbStale: FaultDefinition = {
  id: 'fdb-stale',
  title: "The FDB entry for another node's VTEP points at the wrong node",
  description: `Stops the node's daemon, then rewrites the ${VTEP} FDB entry for the peer's VTEP MAC to send to a different underlay IP: a third node if there is one (its VTEP drops frames for a MAC that is not its own), else 198.18.0.250 (no node).`,
  symptom:
    "pods on the node can't reach pods on the peer node; VXLAN packets for the peer leave eth0 towards the wrong IP",
  scope: 'peer',
  modes: ['vxlan'],
  stopsDaemon: true,
  async apply(ctx, {node, peer}) {
    const saved = (await fdbEntries(node.netns, VTEP)).filter((e) => e.dst === peer!.nodeIP)
    if (saved.length === 0)
      throw new Error(`${node.name} has no FDB entry on ${VTEP} for ${peer!.name} (${peer!.nodeIP})`)
    const wrong = ctx.otherNode(node, peer!)
    ctx.remember({entries: saved, wrongIP: wrong.nodeIP})
    for (const e of saved) {
      await bridgeCmd(node.netns, ['fdb', 'del', e.mac, 'dev', VTEP, 'dst', e.dst!, 'self'])
      await bridgeCmd(node.netns, ['fdb', 'append', e.mac, 'dev', VTEP, 'dst', wrong.nodeIP, 'self', 'permanent'])
    }
    return {
      undo: {entries: saved, wrongIP: wrong.nodeIP},
      summary: saved
        .map(
          (e) =>
            `bridge -n ${node.netns} fdb: ${e.mac} dst ${e.dst} → dst ${wrong.nodeIP} (${wrong.name ?? 'no node'})`,
        )
        .join('; '),
    }
  },
  async heal(_ctx, {node}, undo) {
    for (const e of undo.entries as FdbJson[]) {
      await bridgeCmd(node.netns, ['fdb', 'del', e.mac, 'dev', VTEP, 'dst', undo.wrongIP as string, 'self']).catch(
        () => undefined,
      )
      // Still there when a break was interrupted before it deleted it.
      if ((await fdbEntries(node.netns, VTEP)).some((x) => x.mac === e.mac && x.dst === e.dst)) continue
      await bridgeCmd(node.netns, ['fdb', 'append', e.mac, 'dev', VTEP, 'dst', e.dst!, 'self', 'permanent'])
    }
  },
}
