/**
 * The picture both diagram renderers draw: one box per place on the path (a pod's eth0, a host
 * veth, a node's routing + netfilter, its VTEP, its underlay link), grouped by Kubernetes node,
 * with the forward path and the return path as two edge sets. Pure: TraceResult in, graph out.
 */
import type {HopStatus, TraceDirection, TraceHop, TraceResult} from '../../trace/types.js'

export interface GraphBox {
  id: string
  /** Kubernetes node the box belongs to. */
  node: string
  label: string
  status: HopStatus
  /** The fault is here. */
  fault: boolean
  /** Stages the path passes here, in order. */
  stages: string[]
}

export interface GraphEdge {
  from: string
  to: string
  direction: TraceDirection
  /** The edge leads into the fault (the packet did not get past it). */
  broken: boolean
}

export interface PathGraph {
  boxes: GraphBox[]
  edges: GraphEdge[]
  /** Kubernetes nodes in path order. */
  nodes: string[]
  title: string
}

const RANK: Record<HopStatus, number> = {ok: 0, unknown: 1, warn: 2, fail: 3}

function shortNetns(netns: string): string {
  // cnidbg-trc-1a2b3c-p0a → p0a; /proc/123/ns/net stays as is.
  const m = /^cnidbg-[a-z]+-[0-9a-f]+-(.+)$/.exec(netns)
  return m?.[1] ?? netns
}

function placeOf(h: TraceHop): {key: string; label: string} {
  if (h.stage === 'route' || h.stage === 'filter') {
    return {key: `${h.netns}|routing`, label: `${shortNetns(h.netns)}: routing + netfilter`}
  }
  return {key: `${h.netns}|${h.device}`, label: `${shortNetns(h.netns)}/${h.device}`}
}

export function buildGraph(r: TraceResult): PathGraph {
  const boxes = new Map<string, GraphBox>()
  const nodes: string[] = []
  const edges: GraphEdge[] = []
  const faultHop = r.fault ? r.hops.find((h) => h.index === r.fault!.hop) : undefined
  const faultKey = faultHop ? placeOf(faultHop).key : undefined
  for (const dir of ['forward', 'return'] as const) {
    let prev: string | undefined
    for (const h of r.hops.filter((x) => x.direction === dir)) {
      const {key, label} = placeOf(h)
      if (!nodes.includes(h.node)) nodes.push(h.node)
      let box = boxes.get(key)
      if (!box) {
        box = {id: `b${boxes.size + 1}`, node: h.node, label, status: 'ok', fault: false, stages: []}
        boxes.set(key, box)
      }
      if (RANK[h.status] > RANK[box.status]) box.status = h.status
      if (!box.stages.includes(h.stage)) box.stages.push(h.stage)
      if (key === faultKey) box.fault = true
      if (prev && prev !== box.id && !edges.some((e) => e.from === prev && e.to === box!.id && e.direction === dir)) {
        edges.push({
          from: prev,
          to: box.id,
          direction: dir,
          broken: faultHop !== undefined && faultHop.direction === dir && key === faultKey,
        })
      }
      prev = box.id
    }
  }
  const verdict =
    r.verdict === 'reachable'
      ? 'reachable'
      : r.verdict === 'unknown'
        ? `unknown: ${(r.unreadable ?? []).map((u) => `${u.node} not read`).join(', ')}`
        : `unreachable: ${r.fault?.reason ?? 'unknown'}`
  return {
    boxes: [...boxes.values()],
    edges,
    nodes,
    title: `${r.source.namespace}/${r.source.name} → ${r.destination.namespace}/${r.destination.name} (${r.mode}): ${verdict}`,
  }
}
