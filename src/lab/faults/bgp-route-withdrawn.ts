import {ORIGIN_PROTOCOL} from '../../daemon/bird.js'
import {run} from '../../process/exec.js'
import {nodeBirdDir} from '../node-pods.js'
import type {FaultDefinition} from './types.js'

async function birdc(dir: string, args: string[]): Promise<string> {
  const r = await run('birdc', ['-s', `${dir}/bird.ctl`, ...args], {timeoutMs: 15_000})
  const out = `${r.stdout}${r.stderr}`.trim()
  if (r.exitCode !== 0) throw new Error(`birdc ${args.join(' ')}: ${out || `exit ${r.exitCode}`}`)
  return out
}

/**
 * The node stops announcing its pod CIDR while its sessions stay up: what an export filter that
 * lost the pod CIDR, or a disabled origin, looks like from the peers.
 */
export const bgpRouteWithdrawn: FaultDefinition = {
  id: 'bgp-route-withdrawn',
  title: 'A node stops announcing its pod CIDR over BGP',
  description: `Disables bird's static protocol ${ORIGIN_PROTOCOL} on the node (birdc disable), which originates the node's pod CIDR. The BGP sessions stay Established, but the peers withdraw the route: nothing else changes. The daemon does not re-enable it.`,
  symptom:
    "pods on other nodes can't reach pods on this node; on the peers the session with it is Established but imports 0 routes",
  scope: 'node',
  modes: ['bgp'],
  stopsDaemon: false,
  async apply(ctx, {node}) {
    ctx.remember({})
    await birdc(nodeBirdDir(node), ['disable', ORIGIN_PROTOCOL])
    return {undo: {}, summary: `${node.name}: birdc disable ${ORIGIN_PROTOCOL}`}
  },
  async heal(ctx, {node}) {
    await birdc(nodeBirdDir(node), ['enable', ORIGIN_PROTOCOL])
  },
}
