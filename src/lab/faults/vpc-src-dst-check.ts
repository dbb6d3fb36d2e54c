import {ipJson} from '../../netns/netns.js'
import {NODE_IFACE} from '../names.js'
import {nft, vpcRouter as router} from './kernel.js'
import type {FaultDefinition} from './types.js'

/** The nft table and chain of the router's source/destination check (trace reads them by these names). */
export const SRC_DST_TABLE = 'cnidbg_vpc'
export const SRC_DST_CHAIN = 'src_dst_check'

/**
 * The router's source/destination check is on for a node: as on a cloud instance not marked for
 * forwarding, packets from the node whose source is not the node's own address (its pods') are
 * dropped. Keyed by the node's underlay MAC and address (one port serves every node).
 */
export const vpcSrcDstCheck: FaultDefinition = {
  id: 'vpc-src-dst-check',
  title: 'The VPC source/destination check is on for a node',
  description:
    "Adds an nft rule on the VPC router's forward hook that drops packets arriving from the node's underlay MAC whose source is not the node's IP, as a cloud does for an instance whose source/destination check is on: the node's pods can't send through the router.",
  symptom: "pods on the node can't reach pods on other nodes (ping: no reply); the node itself still can",
  scope: 'node',
  modes: ['vpc'],
  stopsDaemon: false,
  async apply({state, remember}, {node}) {
    const r = router(state)
    const [l] = await ipJson<Array<{address?: string}>>(['link', 'show', 'dev', NODE_IFACE], node.netns)
    const mac = l?.address
    if (!mac || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac)) throw new Error(`${node.name} ${NODE_IFACE} has no MAC`)
    const comment = `src-dst-check ${node.name} ${node.nodeIP}`
    remember({comment})
    await nft(r.netns, ['add', 'table', 'inet', SRC_DST_TABLE])
    await nft(r.netns, [
      'add',
      'chain',
      'inet',
      SRC_DST_TABLE,
      SRC_DST_CHAIN,
      '{ type filter hook forward priority 0 ; policy accept ; }',
    ])
    await nft(r.netns, [
      'add',
      'rule',
      'inet',
      SRC_DST_TABLE,
      SRC_DST_CHAIN,
      'iifname',
      r.iface,
      'ether',
      'saddr',
      mac,
      'ip',
      'saddr',
      '!=',
      node.nodeIP,
      'drop',
      'comment',
      `"${comment}"`,
    ])
    return {
      undo: {comment},
      summary: `nft add rule inet ${SRC_DST_TABLE} ${SRC_DST_CHAIN} iifname ${r.iface} ether saddr ${mac} ip saddr != ${node.nodeIP} drop (in ${r.netns})`,
    }
  },
  async heal({state}, _target, undo) {
    const r = router(state)
    const out = await nft(r.netns, ['-j', 'list', 'chain', 'inet', SRC_DST_TABLE, SRC_DST_CHAIN]).catch(() => '')
    if (!out) return
    const items = (JSON.parse(out) as {nftables?: Array<{rule?: {handle?: number; comment?: string}}>}).nftables ?? []
    const handles = items.flatMap(({rule}) => {
      const h = rule?.handle
      return rule?.comment === undo.comment && typeof h === 'number' ? [h] : []
    })
    for (const h of handles)
      await nft(r.netns, ['delete', 'rule', 'inet', SRC_DST_TABLE, SRC_DST_CHAIN, 'handle', String(h)])
    // The table is this fault's alone: it goes with the last node's rule.
    if (items.filter(({rule}) => rule).length === handles.length)
      await nft(r.netns, ['delete', 'table', 'inet', SRC_DST_TABLE])
  },
}
