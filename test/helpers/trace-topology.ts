/**
 * A small flannel-like cluster in namespaces, built with plain `ip` commands, for the trace tests:
 * an underlay bridge in its own namespace, N nodes (eth0 on the underlay, ip_forward=1) and pods
 * (veth; host end cni<8hex> holding the gateway /32, ptp-style). vxlan mode adds flannel's three
 * objects per peer (permanent neighbour, FDB entry, onlink route via cnidbg.1); host-gw mode a route
 * via the peer's node IP. Everything is named cnidbg-trc-<id>-… and removed by dispose().
 */
import {randomBytes} from 'node:crypto'

import {
  createNetns,
  deleteNetns,
  ipBatch,
  ipJson,
  onCleanup,
  ownMarker,
  removeMarker,
  runInNetns,
  runOk,
  writeMarker,
} from '../../src/netns/index.js'
import type {TraceEndpoint, TraceMode, TraceTopology} from '../../src/trace/types.js'

export interface LabNode {
  name: string
  ns: string
  nodeIP: string
  podCIDR: string
  /** The underlay bridge port (in the underlay namespace) that this node's eth0 is plugged into. */
  ulPort: string
  vtepMAC?: string
}

export interface LabPod extends TraceEndpoint {
  ns: string
  hostVeth: string
  nodeNs: string
}

export interface TraceLab {
  id: string
  mode: TraceMode
  topology: TraceTopology
  underlayNs: string
  nodes: LabNode[]
  /** Pods by key: `<node index><letter>`, e.g. 0a, 0b, 1a. */
  pods: Record<string, LabPod>
  /** Runs a program in one of the lab's namespaces (by name), throwing on failure. */
  sh(ns: string, cmd: string): Promise<string>
  dispose(): Promise<void>
}

export interface TraceLabOptions {
  nodes?: number
  /** Pods per node index, e.g. [2, 1]: two pods on node 0, one on node 1. */
  pods?: number[]
  underlayMtu?: number
}

const VXLAN_PORT = 8472

export async function buildTraceLab(mode: TraceMode, opts: TraceLabOptions = {}): Promise<TraceLab> {
  const id = randomBytes(3).toString('hex')
  const prefix = `cnidbg-trc-${id}`
  const nodeCount = opts.nodes ?? 2
  const podsPer = opts.pods ?? [2, 1]
  const ulMtu = opts.underlayMtu ?? 1500
  const podMtu = mode === 'vxlan' ? ulMtu - 50 : ulMtu
  const created: string[] = []
  // A live marker claims our namespaces, so a concurrent `sandbox gc` never reaps them as orphans.
  const marker = ownMarker(`trc-${id}`, 'trace test topology')
  writeMarker(marker)

  const dispose = async () => {
    for (const ns of [...created].reverse()) await deleteNetns(ns).catch(() => {})
    removeMarker(marker.id)
  }
  const unregister = onCleanup(`trace lab ${id}`, dispose)

  const mk = async (suffix: string) => {
    const name = `${prefix}-${suffix}`
    await createNetns(name)
    created.push(name)
    return name
  }

  try {
    const ul = await mk('ul')
    await ipBatch(['link add br0 type bridge', `link set br0 mtu ${ulMtu} up`], ul)

    const nodes: LabNode[] = []
    for (let n = 0; n < nodeCount; n++) {
      const ns = await mk(`n${n}`)
      const node: LabNode = {
        name: `node-${n}`,
        ns,
        nodeIP: `198.18.0.${10 + n}`,
        podCIDR: `10.244.${n}.0/24`,
        ulPort: `ul${n}`,
      }
      const lines = [
        `link add eth0 type veth peer name ${node.ulPort} netns ${ul}`,
        `link set eth0 mtu ${ulMtu}`,
        `addr add ${node.nodeIP}/15 dev eth0`,
        'link set eth0 up',
      ]
      if (mode === 'vxlan') {
        lines.push(
          `link add cnidbg.1 type vxlan id 1 dstport ${VXLAN_PORT} local ${node.nodeIP} dev eth0 nolearning`,
          `link set cnidbg.1 mtu ${ulMtu - 50} up`,
          `addr add 10.244.${n}.0/32 dev cnidbg.1`,
        )
      }
      await ipBatch(lines, ns)
      await ipBatch([`link set ${node.ulPort} master br0 mtu ${ulMtu} up`], ul)
      await runInNetns(`/run/netns/${ns}`, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']).then(mustOk)
      if (mode === 'vxlan') {
        const [l] = await ipJson<Array<{address: string}>>(['link', 'show', 'cnidbg.1'], ns)
        node.vtepMAC = l!.address
      }
      nodes.push(node)
    }

    // Per-peer state, as the node daemon would program it.
    for (const node of nodes) {
      const lines: string[] = []
      for (const peer of nodes) {
        if (peer === node) continue
        if (mode === 'vxlan') {
          lines.push(
            `neigh add 10.244.${nodes.indexOf(peer)}.0 lladdr ${peer.vtepMAC} dev cnidbg.1 nud permanent`,
            `route add ${peer.podCIDR} via 10.244.${nodes.indexOf(peer)}.0 dev cnidbg.1 onlink`,
          )
        } else {
          lines.push(`route add ${peer.podCIDR} via ${peer.nodeIP} dev eth0`)
        }
      }
      if (mode === 'vxlan') {
        for (const peer of nodes) {
          if (peer === node) continue
          await runOk('bridge', [
            '-n',
            node.ns,
            'fdb',
            'add',
            peer.vtepMAC!,
            'dev',
            'cnidbg.1',
            'dst',
            peer.nodeIP,
            'self',
            'permanent',
          ])
        }
      }
      // Neighbour entries go before the onlink routes (flannel's order).
      if (lines.length) await ipBatch(lines, node.ns)
    }

    const pods: Record<string, LabPod> = {}
    for (let n = 0; n < nodeCount; n++) {
      const node = nodes[n]!
      const count = podsPer[n] ?? 0
      for (let k = 0; k < count; k++) {
        const key = `${n}${String.fromCharCode(97 + k)}`
        const ns = await mk(`p${key}`)
        const hostVeth = `cni${randomBytes(4).toString('hex')}`
        const ip = `10.244.${n}.${10 + k}`
        const gw = `10.244.${n}.1`
        await ipBatch(
          [
            `link add ${hostVeth} type veth peer name eth0 netns ${ns}`,
            `link set ${hostVeth} mtu ${podMtu} up`,
            `addr add ${gw}/32 dev ${hostVeth}`,
            `route add ${ip}/32 dev ${hostVeth}`,
          ],
          node.ns,
        )
        await ipBatch(
          [
            `link set eth0 mtu ${podMtu} up`,
            `addr add ${ip}/24 dev eth0 noprefixroute`,
            `route add ${gw} dev eth0 scope link`,
            `route add default via ${gw} dev eth0`,
            `route add 10.244.0.0/16 via ${gw} dev eth0`,
          ],
          ns,
        )
        pods[key] = {
          name: `pod-${key}`,
          namespace: 'default',
          ip,
          node: node.name,
          netnsPath: `/run/netns/${ns}`,
          ns,
          hostVeth,
          nodeNs: node.ns,
        }
      }
    }

    const topology: TraceTopology = {
      mode,
      nodes: nodes.map((n) => ({
        name: n.name,
        nodeIP: n.nodeIP,
        podCIDR: n.podCIDR,
        vtepMAC: n.vtepMAC,
        netns: {name: n.ns, path: `/run/netns/${n.ns}`},
      })),
    }

    return {
      id,
      mode,
      topology,
      underlayNs: ul,
      nodes,
      pods,
      async sh(ns: string, cmd: string) {
        const r = await runInNetns(`/run/netns/${ns}`, 'sh', ['-c', cmd], {timeoutMs: 10_000})
        if (r.exitCode !== 0) throw new Error(`[${ns}] ${cmd}: ${r.stderr.trim() || r.stdout.trim()}`)
        return r.stdout
      },
      async dispose() {
        unregister()
        await dispose()
      },
    }
  } catch (err) {
    unregister()
    await dispose()
    throw err
  }
}

/**
 * `n` copies of one topology, built at once. Every copy that was built is disposed at `t`'s teardown,
 * also when another one failed to build.
 */
export async function buildTraceLabs(
  t: {teardown(fn: () => unknown): void},
  n: number,
  mode: TraceMode,
  opts: TraceLabOptions = {},
): Promise<TraceLab[]> {
  const built = await Promise.allSettled(Array.from({length: n}, () => buildTraceLab(mode, opts)))
  const labs: TraceLab[] = []
  for (const b of built) if (b.status === 'fulfilled') labs.push(b.value)
  for (const lab of labs) t.teardown(() => lab.dispose())
  const failed = built.find((b): b is PromiseRejectedResult => b.status === 'rejected')
  if (failed) throw failed.reason
  return labs
}

function mustOk(r: {exitCode: number | null; stderr: string; command: string; args: string[]}): void {
  if (r.exitCode !== 0) throw new Error(`${r.command} ${r.args.join(' ')}: ${r.stderr.trim()}`)
}
