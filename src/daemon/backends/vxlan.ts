/**
 * VXLAN backend, modelled on flannel's (pkg/backend/vxlan/{vxlan.go,device.go,vxlan_network.go}):
 * one VTEP per node (`cnidbg.<VNI>`, no learning, MTU = underlay − 50, address <podCIDR>.0/32), and
 * per remote node exactly three objects: a permanent neighbour (remote subnet .0 → remote VTEP MAC),
 * an FDB entry (remote VTEP MAC → remote node IP) and an onlink route via the remote .0.
 */
import {randomBytes} from 'node:crypto'

import {ipBatch} from '../../netns/netns.js'
import {
  ANN_BACKEND_TYPE,
  ANN_NODE_IP,
  ANN_VTEP_MAC,
  type PeerNode,
  peerVtepMac,
  type SkippedPeer,
} from '../annotations.js'
import {networkAddress} from '../../core/ip.js'
import {normalizeMac, randomMac} from '../../core/mac.js'
import type {LinkInfo} from '../kernel-state.js'
import {type Ownership, ROUTE_PROTO} from '../model.js'
import {readVtepState, writeVtepState} from '../state.js'
import type {Backend, DeviceStatus, LocalContext, LocalResult, PeerPlan, PlanContext} from './backend.js'

/** Outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 (flannel's encapOverhead; IPv6 underlay needs 70). */
export const VXLAN_OVERHEAD = 50
export const DEFAULT_VNI = 1
/** The Linux default VXLAN port, which flannel uses too (IANA's is 4789). */
export const DEFAULT_VXLAN_PORT = 8472

export function vtepName(vni: number): string {
  return `cnidbg.${vni}`
}

export interface VtepSpec {
  name: string
  vni: number
  port: number
  /** Underlay source address (the node IP). */
  local: string
  /** Underlay device. */
  dev: string
  mac: string
  mtu: number
  /** <podCIDR network>/32: a source address for host→pod traffic that creates no broadcast routes. */
  address: string
}

export interface VtepPlan {
  action: 'ok' | 'create' | 'recreate' | 'update'
  reasons: string[]
  /** `ip` argument vectors, in order. */
  commands: string[][]
}

function createCommands(s: VtepSpec): string[][] {
  return [
    // The MAC is set at creation, so peers' entries stay valid across restarts.
    ['link', 'add', s.name, 'address', s.mac, 'mtu', String(s.mtu), 'type', 'vxlan', 'id', String(s.vni)].concat([
      'local',
      s.local,
      'dev',
      s.dev,
      'dstport',
      String(s.port),
      'nolearning',
    ]),
    ['addr', 'replace', `${s.address}/32`, 'dev', s.name],
    ['link', 'set', 'dev', s.name, 'up'],
  ]
}

/**
 * Compares the VTEP the kernel has with the one we want (pure). Parameters that can't be changed in
 * place (VNI, local IP, underlay device, port, learning) mean delete and recreate, as flannel's
 * vxlanLinksIncompat does; MAC, MTU, address and up/down are fixed in place.
 */
export function planVtep(spec: VtepSpec, link: LinkInfo | undefined): VtepPlan {
  if (!link) return {action: 'create', reasons: ['absent'], commands: createCommands(spec)}
  const incompatible: string[] = []
  if (link.kind !== 'vxlan') incompatible.push(`kind ${link.kind ?? 'unknown'}`)
  else {
    const v = link.vxlan ?? {}
    if (v.id !== spec.vni) incompatible.push(`vni ${v.id} ≠ ${spec.vni}`)
    if (v.local !== spec.local) incompatible.push(`local ${v.local ?? '(none)'} ≠ ${spec.local}`)
    if (v.link !== spec.dev) incompatible.push(`dev ${v.link ?? '(none)'} ≠ ${spec.dev}`)
    if (v.port !== spec.port) incompatible.push(`dstport ${v.port} ≠ ${spec.port}`)
    if (v.learning !== false) incompatible.push('learning on')
  }
  if (incompatible.length > 0) {
    return {
      action: 'recreate',
      reasons: incompatible,
      commands: [['link', 'del', 'dev', spec.name], ...createCommands(spec)],
    }
  }
  const reasons: string[] = []
  const commands: string[][] = []
  if (link.mac !== spec.mac) {
    reasons.push(`mac ${link.mac} ≠ ${spec.mac}`)
    commands.push(['link', 'set', 'dev', spec.name, 'address', spec.mac])
  }
  if (link.mtu !== spec.mtu) {
    reasons.push(`mtu ${link.mtu} ≠ ${spec.mtu}`)
    commands.push(['link', 'set', 'dev', spec.name, 'mtu', String(spec.mtu)])
  }
  const want = `${spec.address}/32`
  for (const a of link.ipv4) {
    if (`${a.address}/${a.prefix}` !== want) {
      reasons.push(`extra address ${a.address}/${a.prefix}`)
      commands.push(['addr', 'del', `${a.address}/${a.prefix}`, 'dev', spec.name])
    }
  }
  if (!link.ipv4.some((a) => `${a.address}/${a.prefix}` === want)) {
    reasons.push(`address ${want} missing`)
    commands.push(['addr', 'replace', want, 'dev', spec.name])
  }
  if (!link.up) {
    reasons.push('down')
    commands.push(['link', 'set', 'dev', spec.name, 'up'])
  }
  return {action: commands.length > 0 ? 'update' : 'ok', reasons, commands}
}

/** The objects one vxlan peer needs (pure). */
export function vxlanPeerObjects(
  peer: PeerNode,
  mac: string,
  dev: string,
): Pick<PeerPlan, 'routes' | 'neighs' | 'fdbs'> {
  const gw = networkAddress(peer.podCIDR)
  return {
    neighs: [{ip: gw, mac, dev}],
    fdbs: [{mac, dst: peer.nodeIP, dev}],
    routes: [{dst: peer.podCIDR, via: gw, dev, onlink: true, metric: 0}],
  }
}

export interface VxlanOptions {
  vni?: number
  port?: number
  /** Per-node state directory (holds vtep.json). */
  stateDir: string
  routeProto?: number
}

export class VxlanBackend implements Backend {
  readonly type = 'vxlan'
  readonly vni: number
  readonly port: number
  readonly device: string
  readonly ownership: Ownership
  private mac: string | undefined

  constructor(private readonly opts: VxlanOptions) {
    this.vni = opts.vni ?? DEFAULT_VNI
    this.port = opts.port ?? DEFAULT_VXLAN_PORT
    this.device = vtepName(this.vni)
    this.ownership = {routeProto: opts.routeProto ?? ROUTE_PROTO, neighDevs: [this.device], fdbDevs: [this.device]}
  }

  /**
   * The VTEP MAC, chosen once and then kept: the state file, else what our Node already advertises
   * (flannel's GetStoredMacAddresses), else the existing device's, else a new random one. Persisted
   * before first use.
   */
  resolveMac(ctx: Pick<LocalContext, 'ownAnnotations' | 'links'>): {mac: string; source: string} {
    if (this.mac) return {mac: this.mac, source: 'memory'}
    const stored = readVtepState(this.opts.stateDir)
    let mac: string | undefined
    let source = ''
    if (stored && stored.vni === this.vni) [mac, source] = [stored.mac, 'state file']
    if (!mac) {
      const ann = normalizeMac(ctx.ownAnnotations[ANN_VTEP_MAC] ?? '')
      if (ann) [mac, source] = [ann, 'node annotation']
    }
    if (!mac) {
      const dev = ctx.links.find((l) => l.name === this.device && l.kind === 'vxlan')
      if (dev?.mac) [mac, source] = [dev.mac, 'existing device']
    }
    if (!mac) [mac, source] = [randomMac(randomBytes(6)), 'generated']
    if (source !== 'state file') writeVtepState(this.opts.stateDir, {vni: this.vni, mac})
    this.mac = mac
    return {mac, source}
  }

  vtepSpec(ctx: Pick<LocalContext, 'podCIDR' | 'underlay'>, mac: string): VtepSpec {
    return {
      name: this.device,
      vni: this.vni,
      port: this.port,
      local: ctx.underlay.ip,
      dev: ctx.underlay.iface,
      mac,
      mtu: ctx.underlay.mtu - VXLAN_OVERHEAD,
      address: networkAddress(ctx.podCIDR),
    }
  }

  async ensureLocal(ctx: LocalContext): Promise<LocalResult> {
    const {mac, source} = this.resolveMac(ctx)
    const changes: string[] = []
    if (source !== 'memory' && source !== 'state file') changes.push(`VTEP MAC ${mac} (${source})`)
    const spec = this.vtepSpec(ctx, mac)
    const plan = planVtep(
      spec,
      ctx.links.find((l) => l.name === this.device),
    )
    if (plan.action !== 'ok') {
      await ipBatch(
        plan.commands.map((c) => c.join(' ')),
        ctx.netns,
      )
      changes.push(`${plan.action} ${this.device}: ${plan.reasons.join(', ')}`)
    }
    return {
      mtu: spec.mtu,
      annotations: {[ANN_NODE_IP]: ctx.underlay.ip, [ANN_BACKEND_TYPE]: this.type, [ANN_VTEP_MAC]: mac},
      changes,
    }
  }

  plan(self: PlanContext, peers: readonly PeerNode[]): {plans: PeerPlan[]; skipped: SkippedPeer[]} {
    const plans: PeerPlan[] = []
    const skipped: SkippedPeer[] = []
    for (const peer of peers) {
      if (peer.backendType !== this.type) {
        skipped.push({name: peer.name, reason: `backend-type ${peer.backendType}, this node runs ${this.type}`})
        continue
      }
      const mac = peerVtepMac(peer)
      if (typeof mac !== 'string') {
        skipped.push({name: peer.name, reason: mac.reason})
        continue
      }
      plans.push({peer, ...vxlanPeerObjects(peer, mac, this.device)})
    }
    return {plans, skipped}
  }

  describeLocal(links: readonly LinkInfo[]): DeviceStatus[] {
    const l = links.find((x) => x.name === this.device)
    if (!l) return [{name: this.device, kind: 'vxlan', present: false, state: 'absent'}]
    return [
      {
        name: l.name,
        kind: l.kind ?? 'unknown',
        present: true,
        mac: l.mac,
        mtu: l.mtu,
        state: l.up ? l.operstate : 'DOWN',
        addresses: l.ipv4.map((a) => `${a.address}/${a.prefix}`),
        details: {
          vni: l.vxlan?.id,
          local: l.vxlan?.local,
          dev: l.vxlan?.link,
          port: l.vxlan?.port,
          learning: l.vxlan?.learning,
        },
      },
    ]
  }

  async teardownLocal(netns: string | undefined, links: readonly LinkInfo[]): Promise<string[]> {
    if (!links.some((l) => l.name === this.device)) return []
    await ipBatch([`link del dev ${this.device}`], netns)
    return [`deleted ${this.device}`]
  }
}
