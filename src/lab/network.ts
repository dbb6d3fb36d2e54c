/**
 * The lab's wiring: an underlay namespace holding one Linux bridge, and one namespace per node whose
 * eth0 is a veth into that bridge. Every link is created inside lab namespaces (`ip -n`, with the peer
 * sent straight to its namespace), so nothing ever appears in the root namespace, not even briefly.
 */
import {deleteNetns, ip, ipBatch, killNetnsProcesses, listNetns, netnsPath, runInNetns} from '../netns/netns.js'
import {createNetns} from '../netns/netns.js'
import {
  CONTROL_PLANE_IP,
  NODE_IFACE,
  ROUTED_UNDERLAY,
  subnetBridge,
  UNDERLAY_BRIDGE,
  UNDERLAY_CIDR,
  UNDERLAY_PREFIX,
  VPC_ROUTER_PORT,
  labNetnsPrefix,
  underlayNetns,
} from './names.js'
import type {LabNodeState, LabState} from './state.js'

/** Sets sysctls inside a namespace (one process for all of them). */
export async function setSysctls(netns: string, values: Record<string, string>): Promise<void> {
  const args = Object.entries(values).map(([k, v]) => `${k}=${v}`)
  const r = await runInNetns(netnsPath(netns), 'sysctl', ['-q', '-w', ...args], {timeoutMs: 30_000})
  if (r.exitCode !== 0)
    throw new Error(
      `sysctl -w ${args.join(' ')} in ${netns}: ${r.stderr.trim() || r.spawnError || `exit ${r.exitCode}`}`,
    )
}

/** Reads sysctls inside a namespace; a missing key is absent from the answer. */
export async function getSysctls(netns: string, keys: string[]): Promise<Record<string, string>> {
  const r = await runInNetns(netnsPath(netns), 'sysctl', ['-e', ...keys], {timeoutMs: 30_000})
  const out: Record<string, string> = {}
  for (const line of r.stdout.split('\n')) {
    const m = /^(\S+) = (.*)$/.exec(line)
    if (m) out[m[1]!] = m[2]!
  }
  return out
}

export async function createUnderlay(state: LabState): Promise<void> {
  await createNetns(state.underlay.netns)
  // No STP: ports forward at once. A routed underlay has a bridge per subnet. The first bridge's one
  // address is the control plane's, where the forwarder serves the API server to the nodes (names.ts,
  // CONTROL_PLANE_IP).
  const bridges = state.underlayRouter ? [subnetBridge(0), subnetBridge(1)] : [UNDERLAY_BRIDGE]
  await ipBatch(
    [
      ...bridges.flatMap((b) => [`link add ${b} type bridge stp_state 0`, `link set ${b} up`]),
      // In a VPC the control plane is one more host behind the router, like the nodes (vpcHost).
      ...(state.router
        ? vpcHost(CONTROL_PLANE_IP, bridges[0]!, state.router.ip, UNDERLAY_CIDR)
        : [`addr add ${CONTROL_PLANE_IP}/${UNDERLAY_PREFIX} dev ${bridges[0]}`]),
      // The control plane sits on the first subnet: nodes on the other one reach it through the
      // router, and its answers go back the same way.
      ...(state.underlayRouter
        ? [`route add ${ROUTED_UNDERLAY} via ${state.underlayRouter.addresses[0]} dev ${bridges[0]}`]
        : []),
    ],
    state.underlay.netns,
  )
  await switchOnly(state.underlay.netns)
}

/**
 * The underlay's bridges are a switch: frames crossing them must not also go through the IP firewall.
 * With br_netfilter loaded (a container runtime or kube-proxy on this machine loads it), every frame a
 * bridge forwards passes the namespace's iptables hooks (`net.bridge.bridge-nf-call-*`, 1 by default
 * in each new namespace): a per-frame cost (br_nf_pre_routing, br_nf_forward_ip, br_nf_post_routing in
 * a profile of pod-to-pod iperf3), paid twice by vpc's pod traffic, which crosses the bridge to the
 * VPC router and back. Nothing of the lab filters there. Without br_netfilter the keys don't exist
 * and there is nothing to turn off (`sysctl -e`).
 */
async function switchOnly(netns: string): Promise<void> {
  const keys = ['iptables', 'ip6tables', 'arptables'].map((k) => `net.bridge.bridge-nf-call-${k}=0`)
  const r = await runInNetns(netnsPath(netns), 'sysctl', ['-e', '-q', '-w', ...keys], {timeoutMs: 30_000})
  if (r.exitCode !== 0)
    throw new Error(
      `sysctl -w ${keys.join(' ')} in ${netns}: ${r.stderr.trim() || r.spawnError || `exit ${r.exitCode}`}`,
    )
}

/**
 * The router of a routed underlay: a namespace with one port on each subnet's bridge (rt0, rt1 here;
 * veth-rt0, veth-rt1 on the bridges) and forwarding on. Its routes to the pod CIDRs come from BGP
 * (the supervisor runs a bird there that peers with every node).
 */
export async function createRouter(state: LabState): Promise<void> {
  const r = state.underlayRouter!
  await createNetns(r.netns)
  await ipBatch(
    r.addresses.flatMap((_, i) => [
      `link add veth-rt${i} type veth peer name rt${i} netns ${r.netns}`,
      `link set veth-rt${i} master ${subnetBridge(i)} up`,
    ]),
    state.underlay.netns,
  )
  await ipBatch(
    [
      'link set lo up',
      ...r.addresses.flatMap((a, i) => [`addr add ${a}/${UNDERLAY_PREFIX} dev rt${i}`, `link set rt${i} up`]),
    ],
    r.netns,
  )
  await setSysctls(r.netns, {'net.ipv4.ip_forward': '1'})
}

/** Creates a node's namespace, its eth0 on the underlay, its address, and turns on forwarding. */
export async function createNode(state: LabState, node: LabNodeState): Promise<void> {
  await createNetns(node.netns)
  await ipBatch(
    [
      `link add ${node.underlayPort} type veth peer name ${NODE_IFACE} netns ${node.netns}`,
      `link set ${node.underlayPort} master ${node.bridge ?? UNDERLAY_BRIDGE} up`,
    ],
    state.underlay.netns,
  )
  await ipBatch(
    [
      `link set ${NODE_IFACE} up`,
      // In a VPC the node knows only the router: everything, other nodes too, goes through it.
      ...(state.router
        ? vpcHost(node.nodeIP, NODE_IFACE, state.router.ip, 'default')
        : [`addr add ${node.nodeIP}/${UNDERLAY_PREFIX} dev ${NODE_IFACE}`]),
      // Routed underlay: the other subnet is behind the router. Not a default route: a pod CIDR
      // with no route must stay unroutable, not fall through to the router.
      ...(node.gateway ? [`route add ${ROUTED_UNDERLAY} via ${node.gateway} dev ${NODE_IFACE}`] : []),
    ],
    node.netns,
  )
  // A node routes its pods' traffic: forwarding on, as kubelet's preflight expects.
  await setSysctls(node.netns, {'net.ipv4.ip_forward': '1'})
}

/**
 * A host of the VPC (a node, the control plane), addressed as on GCP: its address is a /32, so no
 * other host of the subnet is on-link; the router is reached by a host route, and `to` (the default
 * route, or the subnet) goes through it. The hosts share the underlay bridge with the router, but
 * never ARP for each other: node-to-node traffic crosses the router as pod traffic does, so the
 * router is in every path, as a cloud's fabric is (and a bench's node-to-node baseline measures the
 * same path the pods take, less the nodes' own forwarding).
 */
export function vpcHost(address: string, dev: string, router: string, to: string): string[] {
  return [
    `addr add ${address}/32 dev ${dev}`,
    `route add ${router} dev ${dev} scope link`,
    `route add ${to} via ${router} dev ${dev}`,
  ]
}

/**
 * The VPC router: a namespace whose one port sits on the underlay bridge, forwarding between the
 * nodes by its own route table. It holds the subnet on-link (the only one that does) and sends every
 * packet back out of the port it came in by, but no ICMP redirect: nodes must keep sending through it
 * (a cloud router never tells an instance to bypass it), or the route table would stop mattering.
 */
export async function createVpcRouter(state: LabState): Promise<void> {
  const r = state.router
  if (!r) return
  await createNetns(r.netns)
  await ipBatch(
    [
      `link add ${VPC_ROUTER_PORT} type veth peer name ${r.iface} netns ${r.netns}`,
      `link set ${VPC_ROUTER_PORT} master ${UNDERLAY_BRIDGE} up`,
    ],
    state.underlay.netns,
  )
  await ipBatch([`addr add ${r.ip}/${UNDERLAY_PREFIX} dev ${r.iface}`, `link set ${r.iface} up`], r.netns)
  await setSysctls(r.netns, {
    'net.ipv4.ip_forward': '1',
    'net.ipv4.conf.all.send_redirects': '0',
    [`net.ipv4.conf.${r.iface}.send_redirects`]: '0',
  })
}

/** Namespaces of the lab that exist now: pods first, then nodes, the underlay last (the order to delete them). */
export function labNamespaces(lab: string): string[] {
  const prefix = labNetnsPrefix(lab)
  const ul = underlayNetns(lab)
  const mine = listNetns().filter((n) => n.startsWith(prefix))
  // Pod namespaces are `<node ns>-<pod>`: longer names first puts every pod before its node.
  const depth = (n: string) => (n === ul ? 0 : n.slice(prefix.length).split('-').length)
  return mine.sort((a, b) => depth(b) - depth(a) || a.localeCompare(b))
}

/**
 * Deletes every namespace of the lab (its links, routes, rules and sockets go with them). Repeats
 * until none is left, so a namespace created concurrently (a kubelet finishing an ADD) is caught too.
 */
export async function deleteLabNamespaces(lab: string): Promise<string[]> {
  const removed: string[] = []
  for (let round = 0; round < 5; round++) {
    const left = labNamespaces(lab)
    if (left.length === 0) break
    for (const n of left) {
      // What runs inside (bird speakers) would keep the namespace alive after its name is gone.
      try {
        killNetnsProcesses(n)
      } catch {
        // Not ours to reap: deleting the name is still right.
      }
      await deleteNetns(n).catch(() => {})
      removed.push(n)
    }
  }
  return [...new Set(removed)]
}

/** Whether a link exists in a namespace. */
export async function linkExists(netns: string, name: string): Promise<boolean> {
  try {
    await ip(['link', 'show', 'dev', name], netns)
    return true
  } catch {
    return false
  }
}
