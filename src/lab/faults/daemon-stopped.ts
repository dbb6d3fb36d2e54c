import type {FaultDefinition} from './types.js'

/** The node's daemon is stopped: nothing breaks at once, but nothing is repaired or updated either. */
export const daemonStopped: FaultDefinition = {
  id: 'daemon-stopped',
  title: "A node's daemon is stopped",
  description:
    "Stops the node's cnidbg daemon (its /healthz and /diag go away too). Routes, FDB and neighbour entries already programmed stay, so traffic keeps flowing, but drift is no longer repaired and new or changed nodes are not picked up. Other faults on daemon-managed state stop the daemon the same way.",
  symptom: "no immediate breakage; hand-deleted routes stay deleted, and the node's diagnostics URL is unreachable",
  scope: 'node',
  modes: ['vxlan', 'host-gw', 'vpc', 'bgp'],
  stopsDaemon: true,
  async apply(_ctx, {node}) {
    return {undo: {}, summary: `${node.name}: daemon stopped`}
  },
  async heal() {},
}
