/**
 * `lab.json`: the lab described for `cnidbg trace` — which nodes exist, where their namespaces are,
 * their addresses, pod CIDRs and VTEP MACs, and where each pod lives. It describes what the lab *is*,
 * never what is broken: trace finds faults in kernel state, not here. The supervisor rewrites it
 * whenever a pod gets or loses its network, or a daemon's diagnostics address changes.
 */
import type {V1Node} from '../kube/client.js'
import {randomBytes} from 'node:crypto'
import {readFileSync, renameSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {ANN_VTEP_MAC} from '../daemon/annotations.js'
import {DEFAULT_VNI, DEFAULT_VXLAN_PORT, vtepName} from '../daemon/backends/vxlan.js'
import {UsageError} from '../core/errors.js'
import {netnsPath} from '../netns/netns.js'
import type {TraceEndpoint, TraceTopology} from '../trace/types.js'
import {DEFAULT_LAB_NAME, LAB_ROOT, labDir, NODE_IFACE, POD_IFACE} from './names.js'
import type {LabState} from './state.js'

/** A TraceTopology (pass it to trace as is) plus the lab's pods as trace endpoints. */
export interface LabTopology extends TraceTopology {
  lab: string
  generatedAt: string
  kubeconfig: string
  endpoints: TraceEndpoint[]
}

export function topologyPath(dir: string): string {
  return join(dir, 'lab.json')
}

export interface TopologyInputs {
  /** Node objects as the API server has them (for the VTEP MACs the daemons published). */
  nodes?: readonly V1Node[]
  endpoints: TraceEndpoint[]
  /** Base URL of each node daemon's /diag, by node name. */
  diagUrls?: Record<string, string | undefined>
}

export function buildTopology(state: LabState, input: TopologyInputs): LabTopology {
  const byName = new Map((input.nodes ?? []).map((n) => [n.metadata?.name ?? '', n]))
  return {
    lab: state.name,
    generatedAt: new Date().toISOString(),
    kubeconfig: state.kubeconfig,
    mode: state.mode,
    ...(state.mode === 'vxlan'
      ? {vtepDevice: vtepName(DEFAULT_VNI), vxlanPort: DEFAULT_VXLAN_PORT, vni: DEFAULT_VNI}
      : {}),
    underlayDevice: NODE_IFACE,
    ...(state.router
      ? {
          router: {
            netns: {name: state.router.netns, path: netnsPath(state.router.netns)},
            ip: state.router.ip,
            iface: state.router.iface,
          },
        }
      : {}),
    nodes: state.nodes.map((n) => {
      const mac = byName.get(n.name)?.metadata?.annotations?.[ANN_VTEP_MAC]
      const diagUrl = input.diagUrls?.[n.name]
      return {
        name: n.name,
        nodeIP: n.nodeIP,
        podCIDR: n.podCIDR,
        ...(state.mode === 'vxlan' && mac ? {vtepMAC: mac} : {}),
        netns: {name: n.netns, path: netnsPath(n.netns)},
        ...(diagUrl ? {diagUrl} : {}),
      }
    }),
    endpoints: [...input.endpoints]
      .map((e) => ({...e, ifname: e.ifname ?? POD_IFACE}))
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name)),
  }
}

const comparable = (t: LabTopology): string => JSON.stringify({...t, generatedAt: ''})

/** Writes lab.json if its content changed (atomically); returns whether it wrote. */
export function writeLabTopology(dir: string, topo: LabTopology): boolean {
  const path = topologyPath(dir)
  try {
    if (comparable(JSON.parse(readFileSync(path, 'utf8')) as LabTopology) === comparable(topo)) return false
  } catch {
    // Missing or unreadable: write it.
  }
  const tmp = `${path}.${process.pid}.${randomBytes(3).toString('hex')}.tmp`
  writeFileSync(tmp, JSON.stringify(topo, null, 2) + '\n', {mode: 0o644})
  renameSync(tmp, path)
  return true
}

/**
 * The topology of a running lab, from its lab.json (for `cnidbg trace --lab NAME`).
 * @example
 * const topo = loadLabTopology('lab')
 * const a = topo.endpoints.find((e) => e.name === 'pod-a')
 * // topo is a TraceTopology; a is a TraceEndpoint
 */
export function loadLabTopology(name: string = DEFAULT_LAB_NAME, root = LAB_ROOT): LabTopology {
  const path = topologyPath(labDir(name, root))
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LabTopology
  } catch {
    throw new UsageError(`No lab named ${JSON.stringify(name)} is running (no ${path}).`, {
      code: 'LAB_NOT_FOUND',
      suggestions: [
        `Start one: cnidbg lab up${name === DEFAULT_LAB_NAME ? '' : ` --name ${name}`}`,
        'See what runs: cnidbg lab status',
      ],
    })
  }
}
