/**
 * The daemon's contract with other nodes, kept on the Node objects (like flannel's
 * `flannel.alpha.coreos.com/*` annotations, pkg/subnet/kube/annotations.go): each daemon publishes its
 * underlay IP, backend type and (vxlan) VTEP MAC on its own Node, and reads everyone else's to build
 * its routes. This file turns Node objects into validated peers; nothing here does I/O.
 */
import type {V1Node} from '../kube/client.js'

import {cidrsOverlap, isIPv4, normalizeNetwork, parseNetwork} from '../core/ip.js'
import {isUnicastMac, normalizeMac} from '../core/mac.js'

export const ANNOTATION_PREFIX = 'cnidbg.dev/'
export const ANN_NODE_IP = `${ANNOTATION_PREFIX}node-ip`
export const ANN_BACKEND_TYPE = `${ANNOTATION_PREFIX}backend-type`
export const ANN_VTEP_MAC = `${ANNOTATION_PREFIX}vtep-mac`

/** The annotations the daemon writes; other `cnidbg.dev/*` keys on the Node are left alone. */
export const MANAGED_ANNOTATIONS: readonly string[] = [ANN_NODE_IP, ANN_BACKEND_TYPE, ANN_VTEP_MAC]

export const BACKEND_TYPES = ['vxlan', 'host-gw', 'vpc', 'bgp'] as const
export type BackendType = (typeof BACKEND_TYPES)[number]

/** A remote node as its annotations and spec describe it. */
export interface PeerNode {
  name: string
  podCIDR: string
  nodeIP: string
  backendType: string
  /** Every `cnidbg.dev/*` annotation, for backends that need more than the common three. */
  annotations: Record<string, string>
  /** The Node's labels (the bgp backend's route-reflector label). */
  labels?: Record<string, string>
}

export interface SkippedPeer {
  name: string
  reason: string
}

/** The IPv4 pod CIDR of a node: spec.podCIDR, else the first IPv4 entry of spec.podCIDRs. */
export function nodePodCidr(node: V1Node): string | undefined {
  const candidates = [node.spec?.podCIDR, ...(node.spec?.podCIDRs ?? [])].filter((c): c is string => Boolean(c))
  for (const c of candidates) {
    const n = normalizeNetwork(c, 4)
    if (n) return n
  }
  return undefined
}

export function ownAnnotations(node: V1Node | undefined): Record<string, string> {
  const all = node?.metadata?.annotations ?? {}
  return Object.fromEntries(Object.entries(all).filter(([k]) => k.startsWith(ANNOTATION_PREFIX)))
}

/** Reads one Node as a peer, or says why it can't be one yet (not annotated, no podCIDR…). */
export function parsePeer(node: V1Node): PeerNode | SkippedPeer {
  const name = node.metadata?.name ?? ''
  const annotations = ownAnnotations(node)
  const podCIDR = nodePodCidr(node)
  if (!podCIDR) return {name, reason: 'no IPv4 spec.podCIDR'}
  const nodeIP = annotations[ANN_NODE_IP]
  if (!nodeIP) return {name, reason: `no ${ANN_NODE_IP} annotation (its daemon has not started?)`}
  if (!isIPv4(nodeIP)) return {name, reason: `${ANN_NODE_IP} is not an IPv4 address: ${JSON.stringify(nodeIP)}`}
  const backendType = annotations[ANN_BACKEND_TYPE]
  if (!backendType) return {name, reason: `no ${ANN_BACKEND_TYPE} annotation`}
  return {name, podCIDR, nodeIP, backendType, annotations, labels: {...node.metadata?.labels}}
}

export function isSkipped(p: PeerNode | SkippedPeer): p is SkippedPeer {
  return 'reason' in p
}

/** The VTEP MAC a vxlan peer published, validated (a bad one must never reach `ip neigh`). */
export function peerVtepMac(peer: PeerNode): string | {reason: string} {
  const raw = peer.annotations[ANN_VTEP_MAC]
  if (!raw) return {reason: `no ${ANN_VTEP_MAC} annotation`}
  const mac = normalizeMac(raw)
  if (!mac || !isUnicastMac(mac)) return {reason: `${ANN_VTEP_MAC} is not a unicast MAC: ${JSON.stringify(raw)}`}
  return mac
}

export interface SelfInfo {
  name: string
  podCIDR: string
  nodeIP: string
}

/**
 * Picks the usable peers among all Nodes: not ourselves, fully annotated, and not clashing with us
 * or each other. A clash (two nodes claiming overlapping pod CIDRs or one node IP) would make routes
 * fight; the first node by name keeps it and the other is reported, never silently programmed.
 */
export function selectPeers(self: SelfInfo, nodes: readonly V1Node[]): {peers: PeerNode[]; skipped: SkippedPeer[]} {
  const peers: PeerNode[] = []
  const skipped: SkippedPeer[] = []
  const selfCidr = parseNetwork(self.podCIDR)
  const sorted = [...nodes].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? '', 'en'))
  for (const node of sorted) {
    const name = node.metadata?.name ?? ''
    if (!name || name === self.name) continue
    const p = parsePeer(node)
    if (isSkipped(p)) {
      skipped.push(p)
      continue
    }
    const cidr = parseNetwork(p.podCIDR)!
    if (selfCidr && cidrsOverlap(cidr, selfCidr)) {
      skipped.push({name, reason: `podCIDR ${p.podCIDR} overlaps this node's ${self.podCIDR}`})
      continue
    }
    if (p.nodeIP === self.nodeIP) {
      skipped.push({name, reason: `node IP ${p.nodeIP} is this node's own`})
      continue
    }
    const clash = peers.find((q) => cidrsOverlap(parseNetwork(q.podCIDR)!, cidr) || q.nodeIP === p.nodeIP)
    if (clash) {
      const what =
        clash.nodeIP === p.nodeIP ? `node IP ${p.nodeIP}` : `podCIDR ${p.podCIDR} (overlaps ${clash.podCIDR})`
      skipped.push({name, reason: `${what} already claimed by node ${clash.name}`})
      continue
    }
    peers.push(p)
  }
  return {peers, skipped}
}

/**
 * The JSON merge patch (RFC 7386) that makes our `cnidbg.dev/*` annotations equal `want`, or
 * undefined when they already are. A null value removes an annotation (e.g. vtep-mac after a switch
 * to host-gw). Only MANAGED_ANNOTATIONS are ever removed; anything else on the Node is untouched.
 */
export function annotationPatch(
  current: Record<string, string> | undefined,
  want: Record<string, string>,
): {metadata: {annotations: Record<string, string | null>}} | undefined {
  const cur = current ?? {}
  const patch: Record<string, string | null> = {}
  for (const [k, v] of Object.entries(want)) if (cur[k] !== v) patch[k] = v
  for (const k of MANAGED_ANNOTATIONS) if (k in cur && !(k in want)) patch[k] = null
  return Object.keys(patch).length > 0 ? {metadata: {annotations: patch}} : undefined
}
