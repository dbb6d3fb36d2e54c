import {ip, ipBatch} from '../../netns/netns.js'
import {getSysctls, linkExists, setSysctls} from '../network.js'
import type {FaultDefinition} from './types.js'

const KEY = 'net.ipv4.conf.all.rp_filter'
const LINK_NET = '198.19.255'

/** The two /25 halves of a /24: more specific than the daemon's route, so they win without replacing it. */
function halves(cidr: string): [string, string] {
  const [addr] = cidr.split('/') as [string]
  const base = addr.split('.').slice(0, 3).join('.')
  return [`${base}.0/25`, `${base}.128/25`]
}

/**
 * Strict reverse-path filtering on a node whose path to the peer is asymmetric: a second, direct link
 * to the peer carries the node's traffic *to* the peer's pods, while the peer's replies still arrive
 * the usual way (VXLAN or underlay). Strict rp_filter drops them: the best route back to their source
 * leaves by another interface.
 */
export const rpFilterStrict: FaultDefinition = {
  id: 'rp-filter-strict',
  title: 'Strict rp_filter with an asymmetric path',
  description: `Adds a direct veth link between the node and the peer (rpf-<peer> ↔ rpf-<node>, ${LINK_NET}.1/30 ↔ .2), routes the peer's pod CIDR over it as two /25s (more specific than the daemon's /24, which stays as it is, so the daemon keeps running), and sets ${KEY}=1 on the node. Traffic to the peer's pods leaves over the new link; what comes back from them arrives on eth0 (host-gw) or the VTEP (vxlan), whose reverse path is now the other link, so strict mode drops it.`,
  symptom:
    "pods on the node and pods on the peer node can no longer reach each other in either direction; the node's rp_filter drop counter (`nstat -az TcpExtIPReversePathFilter`) grows",
  scope: 'peer',
  modes: ['vxlan', 'host-gw'],
  stopsDaemon: false,
  async apply(ctx, {node, peer}) {
    const here = `rpf-${peer!.name}`
    const there = `rpf-${node.name}`
    if (await linkExists(node.netns, here)) throw new Error(`${node.name} already has ${here}`)
    const before = (await getSysctls(node.netns, [KEY]))[KEY] ?? '0'
    ctx.remember({link: here, rpFilter: before})
    await ipBatch(
      [
        `link add ${here} type veth peer name ${there} netns ${peer!.netns}`,
        `addr add ${LINK_NET}.1/30 dev ${here}`,
        `link set ${here} up`,
      ],
      node.netns,
    )
    await ipBatch([`addr add ${LINK_NET}.2/30 dev ${there}`, `link set ${there} up`], peer!.netns)
    for (const h of halves(peer!.podCIDR))
      await ip(['route', 'add', h, 'via', `${LINK_NET}.2`, 'dev', here, 'proto', 'static'], node.netns)
    await setSysctls(node.netns, {[KEY]: '1'})
    return {
      undo: {link: here, rpFilter: before},
      summary: `${node.name}: ${KEY}=1; ${peer!.podCIDR} routed via new link ${here} → ${peer!.name}`,
    }
  },
  async heal(_ctx, {node}, undo) {
    // Deleting one end removes the pair and the routes through it.
    if (await linkExists(node.netns, undo.link as string))
      await ip(['link', 'del', 'dev', undo.link as string], node.netns)
    await setSysctls(node.netns, {[KEY]: String(undo.rpFilter ?? '0')})
  },
}
