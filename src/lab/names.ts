/**
 * The lab's naming and addressing plan, in one place: namespaces, state paths, node and pod
 * addresses. Everything a lab creates is named after the lab, so two labs (or two test files) never
 * collide and `lab down` can find all of it by prefix.
 */
import {createHash} from 'node:crypto'
import {join} from 'node:path'

import {UsageError} from '../core/errors.js'
import {NETNS_PREFIX} from '../netns/netns.js'

export type LabMode = 'vxlan' | 'host-gw' | 'vpc' | 'bgp'
export const LAB_MODES: readonly LabMode[] = ['vxlan', 'host-gw', 'vpc', 'bgp']

/**
 * The underlay's shape. flat: every node on one L2 segment (198.18.0.0/24, one bridge). routed: two
 * subnets, 198.18.0.0/24 (odd nodes) and 198.18.1.0/24 (even nodes), each its own bridge, joined by a
 * router namespace (198.18.0.254, 198.18.1.254); every node routes 198.18.0.0/16 through it. Pod
 * traffic between the subnets crosses an L3 hop, which host-gw cannot do and bgp can (the router is
 * a BGP peer of every node, as a top-of-rack switch is).
 */
export type LabTopologyKind = 'flat' | 'routed'
export const LAB_TOPOLOGIES: readonly LabTopologyKind[] = ['flat', 'routed']
/** The routed underlay: both subnets together, the route each node has to the other subnet. */
export const ROUTED_UNDERLAY = '198.18.0.0/16'

export const DEFAULT_LAB_NAME = 'lab'
/** Where `lab up` keeps labs unless CNIDBG_LAB_ROOT says otherwise. */
export const SYSTEM_LAB_ROOT = '/run/cnidbg/lab'
/** Where each lab keeps its state: `<root>/<name>/state.json`, the kubeconfig, logs, per-node dirs. */
export const LAB_ROOT = process.env.CNIDBG_LAB_ROOT ?? SYSTEM_LAB_ROOT

/**
 * Lower-case letters and digits, starting with a letter. No '-': namespaces are `cnidbg-lab-<name>-…`,
 * and a name with a dash would make one lab's namespaces look like another's (`a` vs `a-b`).
 */
export const LAB_NAME_RE = /^[a-z][a-z0-9]{0,15}$/

export const MAX_NODES = 20
export const UNDERLAY_CIDR = '198.18.0.0/24'
export const UNDERLAY_PREFIX = 24
export const CLUSTER_CIDR = '10.244.0.0/16'
/** The network name in each node's conflist (and so the IPAM store's directory). */
export const NETWORK_NAME = 'cnidbg'
export const CONFLIST_FILE = '10-cnidbg.conflist'
export const UNDERLAY_BRIDGE = 'br0'
export const NODE_IFACE = 'eth0'
export const POD_IFACE = 'eth0'
/** The pods' Kubernetes namespace when none is given. */
export const DEFAULT_POD_NAMESPACE = 'default'

export function validateLabName(name: string): string {
  if (!LAB_NAME_RE.test(name)) {
    throw new UsageError(`Invalid lab name ${JSON.stringify(name)}.`, {
      code: 'BAD_LAB_NAME',
      suggestions: ['Use 1–16 lower-case letters and digits, starting with a letter, e.g. --name lab2'],
    })
  }
  return name
}

export function labDir(name: string, root = LAB_ROOT): string {
  return join(root, name)
}

/** Every namespace of the lab starts with this. */
export function labNetnsPrefix(name: string): string {
  return `${NETNS_PREFIX}lab-${name}-`
}

export function underlayNetns(lab: string): string {
  return `${labNetnsPrefix(lab)}ul`
}

/** The router between the two subnets of a routed underlay. */
export function routerNetns(lab: string): string {
  return `${labNetnsPrefix(lab)}rt`
}

/** Which subnet of a routed underlay node N is on: 0 for odd nodes, 1 for even ones. */
export function routedSubnet(index: number): number {
  return (index - 1) % 2
}

/** Node N's address on a routed underlay: 198.18.<subnet>.(1+N). */
export function routedNodeIP(index: number): string {
  return `198.18.${routedSubnet(index)}.${1 + index}`
}

/** The router's address on a subnet of the routed underlay (each node's gateway). */
export function routerIP(subnet: number): string {
  return `198.18.${subnet}.254`
}

/** The underlay bridge of a subnet (br0, br1). */
export function subnetBridge(subnet: number): string {
  return `br${subnet}`
}

/** node1, node2, … (1-based, so node N has pod CIDR 10.244.N.0/24). */
export function nodeName(index: number): string {
  return `node${index}`
}

export function nodeNetns(lab: string, node: string): string {
  return `${labNetnsPrefix(lab)}${node}`
}

/** The longest namespace name: a file name in /run/netns. */
export const NETNS_NAME_MAX = 255

/**
 * A pod's namespace: `cnidbg-lab-<lab>-<node>-<pod>`, with `<k8s-namespace>_<pod>` outside `default`
 * ('_' never appears in Kubernetes names, so the two forms can't collide). Kubernetes allows pod names
 * of 253 characters, more than fits: a longer name keeps its start and ends in a hash of all of it
 * (exactly NETNS_NAME_MAX long, so only a name that long could look like one), and every part of the
 * lab that needs a pod's namespace gets it from here.
 */
export function podNetns(lab: string, node: string, namespace: string, pod: string): string {
  const full = `${nodeNetns(lab, node)}-${namespace === DEFAULT_POD_NAMESPACE ? pod : `${namespace}_${pod}`}`
  if (full.length <= NETNS_NAME_MAX) return full
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 16)
  return `${full.slice(0, NETNS_NAME_MAX - hash.length - 1)}-${hash}`
}

/** The underlay side of node N's eth0, in the underlay namespace (a port of the bridge). */
export function underlayPort(node: string): string {
  return `veth-${node}`
}

/** Node N's underlay address: 198.18.0.(1+N). */
export function nodeIP(index: number): string {
  return `198.18.0.${1 + index}`
}

/**
 * The control plane's address on the underlay: the underlay bridge's own address, where a forwarder
 * in the underlay namespace relays the API server's unix socket (forwarder-main.ts), so every node
 * reaches the API server as a cluster's nodes do, and the root namespace gets no link.
 */
export const CONTROL_PLANE_IP = '198.18.0.1'
export const CONTROL_PLANE_PORT = 6443

/**
 * `--mode vpc`: the VPC router, a namespace of its own whose one port (VPC_ROUTER_IFACE) is on the
 * underlay bridge at VPC_ROUTER_IP. Every node's address is a /32 and its default route leads to
 * the router, so the router is in every path between nodes (network.ts, vpcHost), and its kernel
 * route table (routes with VPC_ROUTE_PROTO) is the cloud route table the route-table API edits.
 */
export function vpcRouterNetns(lab: string): string {
  return `${labNetnsPrefix(lab)}vpc`
}
export const VPC_ROUTER_IP = '198.18.0.254'
export const VPC_ROUTER_IFACE = 'vpc0'
/** The router's port on the underlay bridge, in the underlay namespace. */
export const VPC_ROUTER_PORT = 'veth-vpc'
/** The route table API, served where the control plane is (a cloud API is not on the router). */
export const VPC_API_PORT = 8787
/** How many entries the route table takes (clouds cap route tables; AWS's default is 50). */
export const VPC_ROUTE_QUOTA = 50

/** An underlay address no node has: where "wrong node" faults point when there is no third node. */
export const GHOST_NODE_IP = '198.18.0.250'

export function podCidr(index: number): string {
  return `10.244.${index}.0/24`
}

/** pod-a, pod-b, …, pod-z, pod-aa, … */
export function defaultPodName(n: number): string {
  let s = ''
  let i = n + 1
  while (i > 0) {
    const r = (i - 1) % 26
    s = String.fromCharCode(97 + r) + s
    i = Math.floor((i - 1) / 26)
  }
  return `pod-${s}`
}
