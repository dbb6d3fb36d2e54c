/**
 * The VPC router's faults (`lab up --mode vpc`): the route table loses a node's entry, and the
 * router's source/destination check is turned on for a node. Both act in the router's namespace, which
 * only vpc labs have.
 */
import {ip, ipJson, netnsPath, runInNetns} from '../../netns/netns.js'
import {VPC_ROUTE_PROTO} from '../../daemon/backends/vpc.js'
import {NODE_IFACE} from '../names.js'
import type {LabState} from '../state.js'
import type {FaultDefinition} from './types.js'

/** The nft table and chain of the router's source/destination check (trace reads them by these names). */
export const SRC_DST_TABLE = 'cnidbg_vpc'
export const SRC_DST_CHAIN = 'src_dst_check'

function router(state: LabState): NonNullable<LabState['router']> {
  if (!state.router) throw new Error(`lab ${state.name} has no VPC router (lab up --mode vpc)`)
  return state.router
}

async function nft(netns: string, args: string[]): Promise<string> {
  const r = await runInNetns(netnsPath(netns), 'nft', args, {timeoutMs: 30_000})
  if (r.exitCode !== 0) throw new Error(`nft ${args.join(' ')} in ${netns}: ${r.stderr.trim() || `exit ${r.exitCode}`}`)
  return r.stdout
}

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
  async apply({state}, {node}) {
    const r = router(state)
    const all = await ipJson<VpcRouteJson[]>(['-4', 'route', 'show', 'proto', String(VPC_ROUTE_PROTO)], r.netns)
    const saved = all.filter((x) => x.dst === node.podCIDR)
    if (saved.length === 0) throw new Error(`the VPC route table has no entry for ${node.name}'s ${node.podCIDR}`)
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
  async apply({state}, {node}) {
    const r = router(state)
    const [l] = await ipJson<Array<{address?: string}>>(['link', 'show', 'dev', NODE_IFACE], node.netns)
    const mac = l?.address
    if (!mac || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac)) throw new Error(`${node.name} ${NODE_IFACE} has no MAC`)
    await nft(r.netns, ['add', 'table', 'inet', SRC_DST_TABLE])
    await nft(r.netns, [
      'add',
      'chain',
      'inet',
      SRC_DST_TABLE,
      SRC_DST_CHAIN,
      '{ type filter hook forward priority 0 ; policy accept ; }',
    ])
    const comment = `src-dst-check ${node.name} ${node.nodeIP}`
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
  },
}
