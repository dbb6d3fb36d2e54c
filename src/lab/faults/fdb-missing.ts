import {DEFAULT_VNI, vtepName} from '../../daemon/backends/vxlan.js'
import {bridgeCmd, type FdbJson, fdbEntries} from './kernel.js'
import type {FaultDefinition} from './types.js'

const VTEP = vtepName(DEFAULT_VNI)

/** The VXLAN FDB entry that says where the peer's VTEP MAC lives is deleted. */
export const fdbMissing: FaultDefinition = {
  id: 'fdb-missing',
  title: "The FDB entry for another node's VTEP is missing",
  description: `Stops the node's daemon, then deletes the forwarding-database entry on ${VTEP} that maps the peer's VTEP MAC to the peer's node IP. The VTEP is created without learning and has no default destination, so frames for that MAC are dropped instead of being encapsulated.`,
  symptom: "pods on the node can't reach pods on the peer node; no VXLAN packets leave eth0 for the peer",
  scope: 'peer',
  modes: ['vxlan'],
  stopsDaemon: true,
  async apply(ctx, {node, peer}) {
    const saved = (await fdbEntries(node.netns, VTEP)).filter((e) => e.dst === peer!.nodeIP)
    if (saved.length === 0)
      throw new Error(`${node.name} has no FDB entry on ${VTEP} for ${peer!.name} (${peer!.nodeIP})`)
    ctx.remember({entries: saved})
    for (const e of saved) await bridgeCmd(node.netns, ['fdb', 'del', e.mac, 'dev', VTEP, 'dst', e.dst!, 'self'])
    return {
      undo: {entries: saved},
      summary: saved.map((e) => `bridge -n ${node.netns} fdb del ${e.mac} dev ${VTEP} dst ${e.dst}`).join('; '),
    }
  },
  async heal(_ctx, {node}, undo) {
    // An entry still there (a break interrupted before it deleted it) is left as it is.
    const now = await fdbEntries(node.netns, VTEP)
    for (const e of undo.entries as FdbJson[])
      if (!now.some((x) => x.mac === e.mac && x.dst === e.dst))
        await bridgeCmd(node.netns, ['fdb', 'append', e.mac, 'dev', VTEP, 'dst', e.dst!, 'self', 'permanent'])
  },
}
