import {BirdSpeaker} from '../../daemon/speaker.js'
import {nodeBirdDir} from '../node-pods.js'
import type {FaultDefinition} from './types.js'

/**
 * The node's BGP speaker is stopped, as when bird crashes and nothing restarts it. The daemon would
 * restart it within seconds, so it is stopped first; heal starts the daemon, which starts bird.
 */
export const bgpSpeakerStopped: FaultDefinition = {
  id: 'bgp-speaker-stopped',
  title: "A node's BGP speaker (bird) is stopped",
  description:
    "Stops the node's daemon (it restarts a dead bird), then bird itself. The node's own routes stay in its kernel (bird's kernel protocol keeps them, persist), but every peer sees the session close and withdraws the node's pod CIDR at once (graceful restart is off).",
  symptom:
    "pods on other nodes can't reach pods on this node (no route to its pod CIDR on them); birdc show protocols on a peer says Active / Connect, last error Connection closed or refused",
  scope: 'node',
  modes: ['bgp'],
  stopsDaemon: true,
  async apply(ctx, {node}) {
    ctx.remember({})
    const stopped = await new BirdSpeaker(nodeBirdDir(node), node.netns).stop()
    return {undo: {}, summary: `${node.name}: daemon stopped, bird ${stopped ? 'stopped' : 'was not running'}`}
  },
  // Starting the daemon again (break.ts, stopsDaemon) starts bird.
  async heal() {},
}
