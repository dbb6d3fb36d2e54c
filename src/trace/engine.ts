/**
 * `traceBetween(topology, a, b)`: the engine of `cnidbg trace` (README "cnidbg trace").
 *
 * 1. One batch, spawned once: every local namespace's kernel state (links+addresses, routes, neigh,
 *    FDB, sysctls, iptables-save -c, nft -j, and the `ip route get … iif <host veth>` lookups, so
 *    the kernel itself decides) AND both pods' live probes (ICMP both ways, a DF full-size ICMP,
 *    TCP to a temporary listener or --port, UDP). On a busy node spawning is what costs; a healthy
 *    path answers in milliseconds, so nothing waits for a timeout.
 * 2. The static walk, both directions, hop by hop, from that state (static.ts). A second, small
 *    read only when a pod's /32 route no longer names its host veth.
 * 3. Only if a probe failed: re-send it while tcpdump watches every path interface, counters are
 *    read before/after and kfree_skb drop reasons are collected (observe.ts, dropwatch.ts). The
 *    static fault wins when there is one (live evidence is added to it); otherwise the last hop
 *    that saw the packet locates the fault (underlay drops, path MTU, no listener, ARP).
 * Live probes decide the verdict: a static finding the probes did not hit is downgraded to a warning.
 */
import {randomBytes} from 'node:crypto'

import {UsageError} from '../core/errors.js'
import type {DestinationKind, NodeAccess, SourceKind, Target} from '../kernel/node-access.js'
import {DropWatch, summarizeDrops, type DropSummary} from '../kernel/dropwatch.js'
import {isIPv4} from '../core/ip.js'
import {shellWord} from '../core/quote.js'
import {parseIptablesSave, parseNftJson} from '../kernel/netfilter.js'
import {execCmd, ipCmd, netnsFromPath, netnsLabel} from './ns-commands.js'
import {Captures, counterDeltas, readCounters, type CapturePoint, type CaptureResult} from '../kernel/observe.js'
import type {ObserveBody, ObserveResult} from '../kernel/node-access.js'
import {runJobsInNetns, tempDir, type NsJob} from '../kernel/multi-exec.js'
import {
  collectProbes,
  probeJobs,
  probeKinds,
  runProbes,
  tcpListeners,
  type ProbeKind,
  type ProbeOutcome,
  type ProbePlan,
} from '../kernel/probes.js'
import {bgpDiagReader, nodeBgpReader, refineBgpHops} from './bgp.js'
import {withNetfilterObject} from './netfilter-objects.js'
import {policyFaultFromDeltas} from './policy.js'
import {daemonErrorsReader, refineVpcHops} from './vpc.js'
import {diagUnknowns, RemoteDiagReader} from './diag-reader.js'
import {
  ALL_PARTS,
  LocalKernelReader,
  type KernelReader,
  type KernelSnapshot,
  type NeighEntry,
  type RouteQuery,
  type SnapshotRequest,
} from '../kernel/reader.js'
import {
  analyzeDirection,
  findLink,
  lookupKey,
  missingVethQueries,
  pathQueries,
  VPC_ROUTER_NAME,
  type DraftHop,
  type NodeView,
  type NsView,
  type PathContext,
  type PodView,
} from './static.js'
import type {
  FaultReason,
  HopStage,
  ProbeProtocol,
  TraceDirection,
  TraceEndpoint,
  TraceFault,
  TraceHop,
  TraceNode,
  TraceOptions,
  TraceProbe,
  TraceResult,
  TraceTopology,
  TraceUnreadable,
} from './types.js'
import {faultAt} from './types.js'

/** A probe's outcome and, once observed, the last hop that saw it. */
type Outcome = ProbeOutcome & {lastSeenHop?: number}

const EMPTY: KernelSnapshot = {
  links: [],
  routes: [],
  neigh: [],
  fdb: [],
  sysctls: {},
  routeGets: [],
  missing: [],
  readMs: 0,
}

function randomPort(): number {
  return 20_000 + Math.floor(Math.random() * 40_000)
}

function nodeReader(topo: TraceTopology, n: TraceNode, opts: TraceOptions): KernelReader {
  if (opts.readerFor) return opts.readerFor(n)
  if (n.netns) return new LocalKernelReader(n.netns.path)
  const access = opts.accessFor?.(n)
  if (access) return access.reader()
  if (n.diagUrl) return new RemoteDiagReader(n.diagUrl, {vtepDevice: topo.vtepDevice, token: opts.diagToken})
  throw new UsageError(`node ${n.name} has neither a network namespace path, an agent nor a diag URL`, {
    code: 'TRACE_NODE_UNREADABLE',
    suggestions: ['Give the node a netns path (local lab), its agent, or the daemon diag URL.'],
  })
}

/** Why a snapshot could not be read at all (this machine's exec, the daemon's /diag, an agent). */
function unreadableWhy(snap: KernelSnapshot): string[] {
  return snap.missing.filter((m) => m.startsWith('exec:') || m.startsWith('diag:') || m.startsWith('agent:'))
}

/** Where a namespace is reached when it is not entered here: its node's access, and the target on it. */
interface Remote {
  access: NodeAccess
  target: Target
}

function validate(topo: TraceTopology, ep: TraceEndpoint, role: string): TraceNode {
  if (!isIPv4(ep.ip)) {
    throw new UsageError(`${role} ${ep.namespace}/${ep.name} has no IPv4 address (${ep.ip || 'none'})`, {
      code: 'TRACE_BAD_ENDPOINT',
      suggestions: ['Is the pod Running with status.podIP set?'],
    })
  }
  const node = topo.nodes.find((n) => n.name === ep.node)
  if (!node) {
    throw new UsageError(`${role} ${ep.namespace}/${ep.name} runs on ${ep.node}, which is not in the topology`, {
      code: 'TRACE_NODE_UNKNOWN',
      suggestions: [`Known nodes: ${topo.nodes.map((n) => n.name).join(', ') || '(none)'}`],
    })
  }
  return node
}

function finishView<V extends NsView>(v: V, snap: KernelSnapshot, queries: readonly RouteQuery[]): V {
  v.snap = snap
  v.ipt = snap.iptables ? parseIptablesSave(snap.iptables) : undefined
  v.nft = snap.nft ? parseNftJson(snap.nft) : undefined
  storeLookups(v, queries, snap)
  return v
}

/** Pods have no FDB to read. */
function readRequest(v: NsView, routeGets: RouteQuery[]): SnapshotRequest {
  return 'ep' in v ? {parts: ALL_PARTS.filter((p) => p !== 'fdb'), routeGets} : {routeGets}
}

function storeLookups(v: NsView, queries: readonly RouteQuery[], snap: KernelSnapshot): void {
  queries.forEach((q, i) => {
    const ans = snap.routeGets[i]
    if (!ans) return
    if (q.iifFor) {
      if (ans.iif) v.lookups.set(lookupKey({dst: q.dst, from: q.from, iif: ans.iif}), ans)
    } else {
      v.lookups.set(lookupKey(q), ans)
    }
  })
}

/** The pod's veth peer in its node's namespace: ifindex/peer-ifindex cross-match, else its /32 route. */
function findHostVeth(pod: PodView): void {
  const node = pod.nodeView
  const eth = pod.eth
  if (eth?.link_index !== undefined) {
    pod.hostVeth = node.snap.links.find((l) => l.ifindex === eth.link_index && l.link_index === eth.ifindex)
  }
  if (!pod.hostVeth) {
    const r = node.snap.routes.find((x) => (x.dst === pod.ep.ip || x.dst === `${pod.ep.ip}/32`) && x.dev)
    if (r) pod.hostVeth = findLink(node, r.dev)
  }
}

/** Hops a tcpdump can observe, by the device it listens on. */
const CAPTURE_STAGES: ReadonlySet<HopStage> = new Set<HopStage>([
  'pod-egress',
  'host-veth-ingress',
  'neighbor',
  'underlay-tx',
  'next-hop',
  'underlay-rx',
  'decap',
  'host-veth-egress',
  'pod-ingress',
])

export async function traceBetween(
  topo: TraceTopology,
  a: TraceEndpoint,
  b: TraceEndpoint,
  opts: TraceOptions = {},
): Promise<TraceResult> {
  const t0 = performance.now()
  const nodeA = validate(topo, a, 'source')
  const nodeB = validate(topo, b, 'destination')
  const protocols: ProbeProtocol[] = opts.protocols ?? ['icmp', 'tcp', 'udp']
  const ctx: PathContext = {
    topo,
    mode: topo.mode,
    vtep: topo.vtepDevice ?? 'cnidbg.1',
    underlay: topo.underlayDevice ?? 'eth0',
    vxlanPort: topo.vxlanPort ?? 8472,
    vni: topo.vni ?? 1,
    protocols,
    tcpPort: opts.port ?? randomPort(),
    udpPort: randomPort(),
  }
  const notes: string[] = []

  // ---- views -------------------------------------------------------------------------------
  const nodeViews = new Map<string, NodeView>()
  const nodeView = (n: TraceNode): NodeView => {
    let v = nodeViews.get(n.name)
    if (!v) {
      const reader = nodeReader(topo, n, opts)
      // No local namespace: hints are then written as commands to run on that node.
      const netns = n.netns ?? {path: `node:${n.name}`}
      const access = n.netns ? undefined : opts.accessFor?.(n)
      v = {
        node: n,
        label: n.netns ? netnsLabel(n.netns) : access ? n.name : `${n.name} (${reader.describe})`,
        netns,
        reader,
        snap: EMPTY,
        lookups: new Map(),
      }
      // Over /diag, what is unknown is said once the answer shows what it held.
      if (!reader.local && !(reader instanceof RemoteDiagReader))
        notes.push(`${n.name} is read through ${reader.describe}`)
      nodeViews.set(n.name, v)
      const live = access ?? opts.accessFor?.(n)
      if (live) remotes.set(v, {access: live, target: {}})
    }
    return v
  }
  const podView = (ep: TraceEndpoint, n: TraceNode): PodView => {
    const access = opts.accessFor?.(n)
    if (!ep.netnsPath && !access) {
      throw new UsageError(
        `${ep.namespace}/${ep.name}: no network namespace on this machine and no agent for ${n.name}`,
        {
          code: 'TRACE_NETNS_NOT_FOUND',
        },
      )
    }
    const netns = ep.netnsPath ? netnsFromPath(ep.netnsPath) : {path: `pod:${n.name}:${ep.namespace}/${ep.name}`}
    const v: PodView = {
      ep,
      ifname: ep.ifname ?? 'eth0',
      label: netns.name ?? `${ep.namespace}/${ep.name}`,
      netns,
      reader: ep.netnsPath ? new LocalKernelReader(ep.netnsPath) : access!.reader(ep.ip),
      snap: EMPTY,
      lookups: new Map(),
      nodeView: nodeView(n),
    }
    if (access) remotes.set(v, {access, target: {pod: ep.ip}})
    return v
  }
  const remotes = new Map<NsView, Remote>()
  const A = podView(a, nodeA)
  const B = podView(b, nodeB)
  // Live operations go through the nodes' access (agents) as soon as one pod can't be entered here.
  const remoteLive = !a.netnsPath || !b.netnsPath
  const liveA = remotes.get(A)?.access
  const liveB = remotes.get(B)?.access
  // vpc: the router is read like a node (one more namespace in the batch), named as hops name it.
  if (topo.mode === 'vpc' && topo.router && nodeA.name !== nodeB.name) {
    ctx.router = nodeView({
      name: VPC_ROUTER_NAME,
      nodeIP: topo.router.ip,
      podCIDR: `${topo.router.ip}/32`,
      netns: topo.router.netns,
    })
  }
  const views: NsView[] = [A, B, ...nodeViews.values()]

  // ---- one batch: every local namespace read AND both pods' probe scripts, from a single spawn
  // (spawning is the expensive part on a busy node); remote readers run alongside -------------
  const plan: ProbePlan = {
    a: {ip: a.ip, netnsPath: a.netnsPath, ifname: A.ifname},
    b: {ip: b.ip, netnsPath: b.netnsPath, ifname: B.ifname},
    protocols,
    size: opts.size ?? 56,
    df: opts.mtuProbe !== false,
    timeoutMs: opts.probeTimeoutMs ?? 1000,
    tcpPort: ctx.tcpPort!,
    userPort: opts.port !== undefined,
    udpPort: ctx.udpPort!,
    // The two sides may run on two machines (agents): they must agree on what the datagram says.
    udpToken: `cnidbg-trace-${randomBytes(6).toString('hex')}`,
  }
  const kinds = opts.staticOnly ? [] : probeKinds(plan)
  let liveError: string | undefined
  const tStatic = performance.now()
  const q1 = pathQueries(ctx, A, B)
  const batched = views.filter((v) => v.reader instanceof LocalKernelReader)
  const others = views.filter((v) => !(v.reader instanceof LocalKernelReader))
  const probeDir = tempDir('cnidbg-trace-')
  let outcomes: Outcome[] = []
  const startedAt = Date.now()
  try {
    const snapJobs = batched.map((v) =>
      (v.reader as LocalKernelReader).job(readRequest(v, q1.get(v) ?? []), probeDir.path),
    )
    // Probes first (they are the longer chain), the destination's listeners before the source.
    const probes = kinds.length && !remoteLive ? probeJobs(plan, kinds, probeDir.path) : []
    const jobs: NsJob[] = [...probes, ...snapJobs]
    const [results, remoteOutcomes] = await Promise.all([
      runJobsInNetns(jobs, {dir: probeDir.path, timeoutMs: plan.timeoutMs * 4 + 15_000}),
      kinds.length && remoteLive
        ? remoteProbes(plan, kinds, liveA, liveB).catch((e: unknown) => {
            liveError = (e as Error).message
            return []
          })
        : Promise.resolve([]),
      ...others.map(async (v) => {
        const queries = q1.get(v) ?? []
        finishView(v, await v.reader.snapshot(readRequest(v, queries)), queries)
      }),
    ])
    batched.forEach((v, i) => {
      const queries = q1.get(v) ?? []
      finishView(
        v,
        (v.reader as LocalKernelReader).parse(
          readRequest(v, queries),
          results[probes.length + i]!,
          snapJobs[i]!.errFile,
        ),
        queries,
      )
    })
    outcomes = remoteLive ? remoteOutcomes : collectProbes(plan, kinds, probeDir.path, startedAt)
  } finally {
    probeDir.remove()
  }
  const df = outcomes.find((p) => p.kind === 'icmp-df')
  if (df?.size) plan.dfSize = df.size

  for (const p of [A, B]) {
    p.eth = findLink(p, p.ifname)
    findHostVeth(p)
  }
  const q2 = missingVethQueries(A, B)
  await Promise.all(
    [...q2.entries()].map(async ([v, queries]) => {
      storeLookups(v, queries, await v.reader.snapshot({parts: [], routeGets: queries}))
    }),
  )
  for (const v of nodeViews.values()) {
    if (!(v.reader instanceof RemoteDiagReader)) continue
    const unknown = diagUnknowns(v.snap)
    notes.push(
      `${v.node.name} is read through ${v.reader.describe}` +
        (unknown.length
          ? `: ${unknown.length > 1 ? `${unknown.slice(0, -1).join(', ')} and ${unknown.at(-1)} are` : `${unknown[0]} is`} unknown`
          : ''),
    )
  }
  const unreadable: TraceUnreadable[] = []
  for (const v of views) {
    const why = unreadableWhy(v.snap)
    if (!why.length) continue
    notes.push(`${v.label}: ${why.join('; ')}`)
    // Whatever the way in (an agent, /diag, a namespace entered here), a view not read decides nothing.
    const pod = [A, B].find((p) => p === v)
    unreadable.push({
      node: pod ? pod.nodeView.node.name : (v as NodeView).node.name,
      what: pod ? `pod ${pod.ep.namespace}/${pod.ep.name}` : 'node',
      reason: why.join('; '),
    })
  }
  const drafts: DraftHop[] = [...analyzeDirection(ctx, 'forward', A, B), ...analyzeDirection(ctx, 'return', B, A)]
  const hops: TraceHop[] = drafts.map((h, i) => ({index: i + 1, ...h}))
  // What could not be read is said on its hops, so no one reads them as checked.
  const unreadLabels = new Map(
    views.flatMap((v) => (unreadableWhy(v.snap).length ? [[v.label, unreadableWhy(v.snap)]] : [])),
  )
  for (const h of hops) {
    const why = unreadLabels.get(h.netns)
    if (why && h.status === 'unknown') h.detail = `${h.detail} (not read: ${why.join('; ')})`
  }
  // bgp: a missing pod route is explained by the session that should have brought it.
  if (topo.mode === 'bgp')
    notes.push(
      ...(await refineBgpHops(
        hops,
        topo.nodes,
        (d) => (d === 'forward' ? nodeB : nodeA),
        nodeBgpReader(opts.accessFor, bgpDiagReader(opts.diagToken)),
      )),
    )
  // vpc: an entry missing from the router's table may be one the table's quota refused.
  if (topo.mode === 'vpc')
    notes.push(
      ...(await refineVpcHops(hops, (d) => (d === 'forward' ? nodeB : nodeA), daemonErrorsReader(opts.diagToken))),
    )
  let staticFault = firstFault(hops)
  const staticMs = performance.now() - tStatic

  const result: TraceResult = {
    verdict: staticFault ? 'unreachable' : 'reachable',
    source: {name: a.name, namespace: a.namespace, ip: a.ip, node: a.node},
    destination: {name: b.name, namespace: b.namespace, ip: b.ip, node: b.node},
    mode: topo.mode,
    hops,
    fault: staticFault,
    probes: [],
    notes,
    timings: {staticMs: Math.round(staticMs), probesMs: 0, observeMs: 0},
    durationMs: 0,
  }
  if (unreadable.length) result.unreadable = unreadable
  const unreadablePod = [A, B].find((p) => unreadableWhy(p.snap).length > 0)
  if (unreadablePod && !opts.staticOnly) {
    notes.push(
      `no live probes: the namespace of ${unreadablePod.ep.namespace}/${unreadablePod.ep.name} is not readable ${remotes.has(unreadablePod) ? 'through its agent' : 'here'}`,
    )
  }
  if (remoteLive && !opts.staticOnly && !unreadablePod && (!liveA || !liveB || liveError)) {
    const why = liveError ?? `no agent for ${(liveA ? b : a).node}`
    notes.push(`no live probes: ${why}`)
    for (const p of [a, b]) unreadable.push({node: p.node, what: 'live probes', reason: why})
    result.unreadable = unreadable
  }
  if (opts.staticOnly || unreadablePod || (remoteLive && (!liveA || !liveB || liveError))) {
    // What was not read decides nothing: without a fault found elsewhere, the answer is unknown.
    if (unreadable.length && !staticFault) result.verdict = 'unknown'
    result.durationMs = Math.round(performance.now() - t0)
    return result
  }

  result.timings.probesMs = Math.max(0, ...outcomes.map((p) => p.durationMs))
  const failed = outcomes.filter((p) => !p.ok)
  // A pod's neighbour entry read FAILED on its node (left so by an earlier failure: the entry stays
  // until traffic or garbage collection) says nothing once a probe that way reached the pod: the
  // kernel resolved it again for that probe. A round trip (ICMP, TCP) proves both ways, UDP its own.
  const reachedPod = (d: TraceDirection) => outcomes.some((p) => p.ok && (p.protocol !== 'udp' || p.direction === d))
  const stale = hops.filter(
    (h) =>
      h.status === 'fail' && h.reason === 'no-neighbor' && h.stage === 'host-veth-egress' && reachedPod(h.direction),
  )
  for (const h of stale) overruled(h, 'stale: a live probe reached the pod since')
  if (stale.length) {
    staticFault = firstFault(hops)
    result.fault = staticFault
    result.verdict = staticFault ? 'unreachable' : 'reachable'
  }
  const lastForward = lastHopIndex(hops, 'forward')
  const lastReturn = lastHopIndex(hops, 'return')
  for (const p of outcomes) {
    if (p.ok) p.lastSeenHop = p.protocol === 'udp' ? lastForward : p.direction === 'return' ? lastForward : lastReturn
  }

  // ---- observation (only when something failed, unless asked) --------------------------------
  const observeMode = opts.observe ?? 'auto'
  let observed: Observation | undefined
  let observeFailed = false
  if (observeMode === 'always' || (observeMode === 'auto' && failed.length)) {
    const tObs = performance.now()
    const target = pickProbe(failed) ?? outcomes.find((p) => p.kind === 'icmp-forward')
    if (target) {
      const all = [A, B, ...nodeViews.values()]
      const dropReasons = opts.dropReasons !== false
      try {
        observed = remoteLive
          ? await observeRemote(ctx, plan, target.kind, hops, all, remotes, dropReasons, liveA!, liveB!)
          : await observe(ctx, plan, target.kind, hops, all, dropReasons)
      } catch (error) {
        // An agent that stops answering (refused, timed out) after the first probes leaves the
        // observation unread: its nodes are unreadable, never a fault made up from what is missing.
        if (!(error instanceof LiveUnreadable)) throw error
        const why = error.message
        notes.push(`no observation of the re-sent ${target.kind} probe: ${why}`)
        for (const p of [a, b]) unreadable.push({node: p.node, what: 'live probes', reason: why})
        result.unreadable = unreadable
        observeFailed = true
      }
      if (observed) {
        notes.push(...observed.notes)
        target.lastSeenHop = observed.lastSeenHop
        if (observed.probe.ok !== target.ok) {
          notes.push(
            `the re-sent ${target.kind} probe ${observed.probe.ok ? 'succeeded' : 'failed'} (an intermittent path)`,
          )
        }
        if (observed.drops.length) result.drops = observed.drops
      }
    }
    result.timings.observeMs = Math.round(performance.now() - tObs)
  }
  result.probes = outcomes.map(toTraceProbe)
  if (observeFailed && !staticFault) {
    // The probes failed, but where is what the lost observation would have said.
    result.verdict = 'unknown'
    result.fault = undefined
    result.durationMs = Math.round(performance.now() - t0)
    return result
  }

  // ---- verdict -------------------------------------------------------------------------------
  if (!failed.length) {
    result.verdict = 'reachable'
    result.fault = undefined
    if (staticFault) {
      for (const h of hops) if (h.status === 'fail') overruled(h, 'but the live probes passed')
      notes.push('the static checks flagged a problem the live probes did not hit')
    }
  } else {
    result.verdict = 'unreachable'
    const refusedOnly = failed.every((p) => p.kind === 'tcp' && p.refused)
    // What listens on the port, read here or by the destination's agent.
    const listeners = !refusedOnly
      ? undefined
      : b.netnsPath
        ? await tcpListeners(b.netnsPath, plan.tcpPort)
        : await liveB
            ?.sockets({target: {pod: b.ip}, port: plan.tcpPort})
            .then((x) => x.listening)
            .catch(() => undefined)
    result.fault = withNetfilterObject(decideFault(ctx, hops, staticFault, outcomes, observed, A, B, plan, listeners))
  }
  result.durationMs = Math.round(performance.now() - t0)
  return result
}

function toTraceProbe(p: Outcome): TraceProbe {
  const out: TraceProbe = {protocol: p.protocol, ok: p.ok, detail: p.detail, durationMs: p.durationMs}
  if (p.direction) out.direction = p.direction
  if (p.size !== undefined) out.size = p.size
  if (p.df) out.df = true
  if (p.port !== undefined) out.port = p.port
  if (p.lastSeenHop !== undefined) out.lastSeenHop = p.lastSeenHop
  return out
}

/** A static finding the live probes overruled: kept as a warning that says why, no longer a fault. */
function overruled(h: TraceHop, why: string): void {
  h.status = 'warn'
  h.detail = `${h.detail} (${why})`
  delete h.reason
}

function firstFault(hops: TraceHop[]): TraceFault | undefined {
  const h = hops.find((x) => x.status === 'fail' && x.direction === 'forward') ?? hops.find((x) => x.status === 'fail')
  if (!h) return undefined
  return withNetfilterObject(
    faultAt(h, {
      reason: h.reason ?? 'unknown',
      evidence: h.evidence ?? [h.detail],
      hint: h.hint ?? '',
      ...(h.policy ? {policy: h.policy} : {}),
    }),
  )
}

function lastHopIndex(hops: TraceHop[], dir: 'forward' | 'return'): number | undefined {
  const d = hops.filter((h) => h.direction === dir)
  return d[d.length - 1]?.index
}

/** Which failed probe to re-send under observation: the most basic one. */
function pickProbe(failed: Outcome[]): Outcome | undefined {
  const order: ProbeKind[] = ['icmp-forward', 'icmp-return', 'udp', 'tcp', 'icmp-df']
  for (const k of order) {
    const p = failed.find((x) => x.kind === k)
    if (p) return p
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------
// observation

interface Observation {
  probe: ProbeOutcome
  lastSeenHop?: number
  lastSeen?: TraceHop
  /** Where the packet stopped: the first capture-able hop after the last one that saw it. */
  stopHop?: TraceHop
  evidence: string[]
  drops: DropSummary[]
  notes: string[]
  /** Neighbour entries left unresolved (INCOMPLETE/FAILED) after the probe, by namespace label. */
  unresolved: Map<string, NeighEntry[]>
}

function capturePointsFor(ctx: PathContext, hops: TraceHop[], views: NsView[]): Map<string, CapturePoint> {
  const byLabel = new Map(views.map((v) => [v.label, v]))
  const points = new Map<string, CapturePoint>()
  for (const h of hops) {
    if (!CAPTURE_STAGES.has(h.stage)) continue
    const v = byLabel.get(h.netns)
    if (!v || !v.reader.local || !v.reader.netnsPath) continue
    if (!findLink(v, h.device)) continue
    const key = `${h.netns}|${h.device}`
    if (points.has(key)) continue
    points.set(key, {
      netnsPath: v.reader.netnsPath,
      device: h.device,
      label: `${h.netns}/${h.device}`,
      encapsulated: ctx.mode === 'vxlan' && h.device === ctx.underlay && 'node' in v,
    })
  }
  return points
}

/** What watching a re-sent probe gave, from this machine or from the nodes' agents. */
interface Gathered {
  probe: ProbeOutcome
  /** Per capture point (labelled `<hop netns>/<device>`): packets seen each way. */
  captures: Array<{label: string; ok: boolean; error?: string; aToB: number; bToA: number}>
  /** Counter deltas of interest (drops on links, DROP rules that matched). */
  deltas: string[]
  drops: DropSummary[]
  /** Neighbour entries left unresolved after the probe, by namespace label. */
  unresolved: Map<string, NeighEntry[]>
  notes: string[]
}

const unresolvedOf = (neigh: readonly NeighEntry[]): NeighEntry[] =>
  neigh.filter((n) => n.state?.some((x) => x === 'INCOMPLETE' || x === 'FAILED'))

async function observe(
  ctx: PathContext,
  plan: ProbePlan,
  kind: ProbeKind,
  hops: TraceHop[],
  views: NsView[],
  dropReasons: boolean,
): Promise<Observation> {
  const notes: string[] = []
  const points = capturePointsFor(ctx, hops, views)
  const protocol = protocolOf(kind)
  const captures = new Captures([...points.values()], {
    a: plan.a.ip,
    b: plan.b.ip,
    protocol,
    port: kind === 'tcp' ? plan.tcpPort : kind === 'udp' ? plan.udpPort : undefined,
    vxlanPort: ctx.vxlanPort,
  })
  const localViews = views.filter((v) => v.reader instanceof LocalKernelReader)
  const localReaders = localViews.map((v) => v.reader as LocalKernelReader)
  // Everything started here is stopped in `finally`, whatever fails in between.
  const watching = dropReasons ? DropWatch.start() : Promise.resolve('drop reasons: disabled')
  let probe: ProbeOutcome
  let results: CaptureResult[] = []
  let events: Awaited<ReturnType<DropWatch['stop']>> = []
  let before: Awaited<ReturnType<typeof readCounters>> | undefined
  let after: Awaited<ReturnType<typeof readCounters>> | undefined
  try {
    ;[, before] = await Promise.all([captures.start(), readCounters(localReaders).catch(() => undefined), watching])
    ;[probe] = await runProbes(plan, [kind])
    // Read as soon as the probe is done, before the captures drain: an address the probe made the
    // kernel resolve stays INCOMPLETE for a few seconds, then FAILED, and the kernel's garbage
    // collection removes FAILED entries once the machine holds many (one neighbour table serves every
    // namespace). Read later on a busy machine, the entry was gone and the fault was misread.
    after = await readCounters(localReaders).catch(() => undefined)
  } finally {
    results = await captures.stop()
    const watch = await watching
    if (typeof watch === 'string') notes.push(watch)
    else events = await watch.stop()
  }
  const deltas: string[] = []
  const unresolved = new Map<string, NeighEntry[]>()
  localViews.forEach((v, i) => {
    const b0 = before?.[i]
    const a0 = after?.[i]
    if (b0 && a0) deltas.push(...counterDeltas(v.label, b0, a0))
    const bad = unresolvedOf(a0?.neigh ?? [])
    if (bad.length) unresolved.set(v.label, bad)
  })
  return analyze(plan, kind, hops, {
    probe: probe!,
    captures: results.map((r) => ({
      label: r.point.label,
      ok: r.ok,
      ...(r.error ? {error: r.error} : {}),
      aToB: r.aToB,
      bToA: r.bToA,
    })),
    deltas,
    drops: summarizeDrops(events),
    unresolved,
    notes,
  })
}

/**
 * The same watch through the nodes' agents: one observation per node (captures on the path's
 * devices of the node and of its pods, their counters, the node kernel's drop reasons), the probe
 * re-sent through the pods' agents, then every observation stopped.
 */
/** The re-sent probe could not be made through the agents: what was not read, not a fault. */
class LiveUnreadable extends Error {}

async function observeRemote(
  ctx: PathContext,
  plan: ProbePlan,
  kind: ProbeKind,
  hops: TraceHop[],
  views: NsView[],
  remotes: Map<NsView, Remote>,
  dropReasons: boolean,
  liveA: NodeAccess,
  liveB: NodeAccess,
): Promise<Observation> {
  const byLabel = new Map(views.map((v) => [v.label, v]))
  const perNode = new Map<NodeAccess, {body: ObserveBody; labels: Map<string, string>}>()
  const entry = (access: NodeAccess) => {
    let e = perNode.get(access)
    if (!e) {
      e = {
        body: {
          points: [],
          spec: {
            a: plan.a.ip,
            b: plan.b.ip,
            protocol: protocolOf(kind),
            ...(kind === 'tcp' ? {port: plan.tcpPort} : kind === 'udp' ? {port: plan.udpPort} : {}),
            vxlanPort: ctx.vxlanPort,
          },
          counters: [],
          dropReasons,
        },
        labels: new Map(),
      }
      perNode.set(access, e)
    }
    return e
  }
  const taken = new Set<string>()
  for (const h of hops) {
    if (!CAPTURE_STAGES.has(h.stage)) continue
    const v = byLabel.get(h.netns)
    const r = v && remotes.get(v)
    if (!v || !r || !findLink(v, h.device)) continue
    const label = `${h.netns}/${h.device}`
    if (taken.has(label)) continue
    taken.add(label)
    const e = entry(r.access)
    // The agent's labels are a short alphabet: the path's own label is kept here.
    const short = `p${e.labels.size}`
    e.labels.set(short, label)
    e.body.points.push({
      ...(r.target.pod ? {target: r.target} : {}),
      device: h.device,
      label: short,
      encapsulated: ctx.mode === 'vxlan' && h.device === ctx.underlay && 'node' in v,
    })
  }
  for (const v of views) {
    const r = remotes.get(v)
    if (!r) continue
    const e = entry(r.access)
    const short = `c${e.labels.size}`
    e.labels.set(short, v.label)
    e.body.counters!.push({...(r.target.pod ? {target: r.target} : {}), label: short})
  }
  const notes: string[] = []
  const started = await Promise.all(
    [...perNode.entries()].map(async ([access, e]) => {
      try {
        const a = await access.observe(e.body)
        notes.push(...a.notes)
        return {access, e, id: a.id}
      } catch (err) {
        notes.push(`no observation through ${access.describe}: ${(err as Error).message}`)
        return undefined
      }
    }),
  )
  let probe: ProbeOutcome | undefined
  const stopped: Array<{e: (typeof started)[number] & object; r: ObserveResult}> = []
  try {
    ;[probe] = await remoteProbes(plan, [kind], liveA, liveB).catch((error: unknown) => {
      throw new LiveUnreadable(`agent: ${(error as Error).message}`)
    })
  } finally {
    for (const s of started) {
      if (!s) continue
      try {
        stopped.push({e: s, r: await s.access.stopObserve(s.id)})
      } catch (err) {
        notes.push(`observation through ${s.access.describe} lost: ${(err as Error).message}`)
      }
    }
  }
  const name = (labels: Map<string, string>, short: string) => labels.get(short) ?? short
  const captures: Gathered['captures'] = []
  const deltas: string[] = []
  const unresolved = new Map<string, NeighEntry[]>()
  const drops = new Map<string, DropSummary>()
  for (const {e, r} of stopped) {
    const labels = e.e.labels
    for (const c of r.captures)
      captures.push({
        label: name(labels, c.label),
        ok: c.ok,
        ...(c.error ? {error: c.error} : {}),
        aToB: c.aToB,
        bToA: c.bToA,
      })
    for (const c of r.counters) {
      const full = name(labels, c.label)
      deltas.push(...c.deltas.map((d) => (d.startsWith(`${c.label} `) ? `${full}${d.slice(c.label.length)}` : d)))
      if (c.unresolved.length) unresolved.set(full, c.unresolved)
    }
    // Agents that share one kernel (a lab) see the same drops: counted once.
    for (const d of r.drops) {
      const key = `${d.reason}|${d.location}|${d.comm}`
      const had = drops.get(key)
      if (!had || had.count < d.count) drops.set(key, d)
    }
    notes.push(...r.notes)
  }
  return analyze(plan, kind, hops, {
    probe: probe!,
    captures,
    deltas,
    drops: [...drops.values()].sort((x, y) => y.count - x.count),
    unresolved,
    notes,
  })
}

function protocolOf(kind: ProbeKind): ProbeProtocol {
  return kind === 'tcp' ? 'tcp' : kind === 'udp' ? 'udp' : 'icmp'
}

/**
 * The probe through the pods' agents: the destination's agent starts its side (temporary listeners,
 * the ICMP echo back), the source's agent sends, and the destination's session then says what
 * arrived. The outcomes come back in the order of `kinds`.
 */
async function remoteProbes(
  plan: ProbePlan,
  kinds: readonly ProbeKind[],
  liveA: NodeAccess | undefined,
  liveB: NodeAccess | undefined,
): Promise<Outcome[]> {
  if (!liveA || !liveB) throw new Error(`no agent for ${liveA ? plan.b.ip : plan.a.ip}`)
  const common = {
    size: plan.size,
    timeoutMs: Math.min(2000, Math.max(100, plan.timeoutMs)),
    tcpPort: plan.tcpPort,
    udpPort: plan.udpPort,
    ...(plan.udpToken ? {udpToken: plan.udpToken} : {}),
  }
  const srcKinds = kinds.filter((k): k is SourceKind => k !== 'icmp-return')
  const dstKinds = kinds.filter(
    (k): k is DestinationKind => k === 'icmp-return' || k === 'udp' || (k === 'tcp' && !plan.userPort),
  )
  const session = dstKinds.length
    ? await liveB.listen({pod: plan.b.ip, peer: plan.a.ip, kinds: dstKinds, ...common})
    : undefined
  let sent: ProbeOutcome[] = []
  let arrived: ProbeOutcome[] = []
  let tcpListenerError: string | undefined
  try {
    if (srcKinds.length) {
      const answer = await liveA.probe({
        from: plan.a.ip,
        to: plan.b.ip,
        kinds: srcKinds,
        ...common,
        ...(plan.userPort ? {userPort: true} : {}),
        // The source's agent can't see the datagram arrive: half a second of sending is plenty for a
        // path that works (the first one crosses at once), and the listener's answer decides.
        ...(kinds.includes('udp') ? {udpSendMs: Math.min(500, common.timeoutMs)} : {}),
        ...(plan.dfSize !== undefined ? {dfSize: plan.dfSize} : {}),
      })
      sent = answer.outcomes
    }
  } finally {
    if (session) {
      const r = await liveB.stopListen(session.id)
      arrived = r.outcomes
      tcpListenerError = r.tcpListenerError
    }
  }
  return kinds.flatMap((k) => {
    const o = (k === 'icmp-return' || k === 'udp' ? arrived : sent).find((x) => x.kind === k)
    if (!o) return []
    if (k === 'tcp' && !o.ok && tcpListenerError)
      return [{...o, detail: `the temporary listener on :${plan.tcpPort} failed: ${tcpListenerError}`}]
    return [o]
  })
}

/** Which hops saw the re-sent probe, where it stopped, and the evidence, from what was gathered. */
function analyze(plan: ProbePlan, kind: ProbeKind, hops: TraceHop[], g: Gathered): Observation {
  const {probe, notes} = g
  const protocol = protocolOf(kind)
  const broken = g.captures.filter((r) => !r.ok)
  if (broken.length) notes.push(`capture failed on ${broken.map((r) => `${r.label} (${r.error})`).join(', ')}`)

  // Mark hops seen by direction: a→b packets travel the forward hops, b→a the return hops.
  const seen = new Map(g.captures.filter((r) => r.ok).map((r) => [r.label, r]))
  for (const h of hops) {
    const r = seen.get(`${h.netns}/${h.device}`)
    if (!r || !CAPTURE_STAGES.has(h.stage)) continue
    h.seen = (h.direction === 'forward' ? r.aToB : r.bToA) > 0
  }
  const reqDir = probe.direction === 'return' ? 'return' : 'forward'
  const repDir = reqDir === 'forward' ? 'return' : 'forward'
  const observedIn = (dir: string) => hops.filter((h) => h.direction === dir && h.seen !== undefined)
  const req = observedIn(reqDir)
  const rep = observedIn(repDir)
  const lastReq = [...req].reverse().find((h) => h.seen)
  const reqArrived = req.length > 0 && req[req.length - 1]!.seen === true
  let lastSeen = lastReq
  let stopDirHops = req
  // The last tap in the destination pod sees the request before its INPUT hook: a request dropped
  // there looks "arrived". Only a reply seen leaving moves the search to the reply's hops; with none
  // seen, the packet stopped on or after the request's last seen hop.
  const lastRep = reqArrived && protocol !== 'udp' ? [...rep].reverse().find((h) => h.seen) : undefined
  if (lastRep) {
    lastSeen = lastRep
    stopDirHops = rep
  }
  const stopHop = stopDirHops.find(
    (h) => !h.seen && (!lastSeen || h.index > lastSeen.index || lastSeen.direction !== h.direction),
  )
  const evidence: string[] = [...g.deltas]
  evidence.unshift(
    `re-sent ${kind} probe: ${lastSeen ? `last seen at hop ${lastSeen.index} (${lastSeen.netns}/${lastSeen.device})` : 'not seen on any interface'}` +
      (stopHop && !probe.ok ? `, not at hop ${stopHop.index} (${stopHop.netns}/${stopHop.device})` : ''),
  )
  const counted = g.captures.filter((x) => x.ok)
  if (counted.length) {
    evidence.push(
      `tcpdump packets ${plan.a.ip}→${plan.b.ip}/${plan.b.ip}→${plan.a.ip}: ${counted.map((r) => `${r.label} ${r.aToB}/${r.bToA}`).join(', ')}`,
    )
  }
  // Replies are only expected once the request arrived: don't mark the other direction "not seen".
  if (!reqArrived || protocol === 'udp') {
    for (const h of hops) if (h.direction === repDir) delete h.seen
  }
  return {
    probe,
    lastSeenHop: lastSeen?.index,
    lastSeen,
    stopHop: probe.ok ? undefined : stopHop,
    evidence,
    drops: g.drops,
    notes,
    unresolved: g.unresolved,
  }
}

// ---------------------------------------------------------------------------------------------
// deciding the fault

const KERNEL_REASON: Record<string, FaultReason> = {
  NETFILTER_DROP: 'filtered',
  IP_RPFILTER: 'rp-filter',
  IP_INNOROUTES: 'no-route',
  IP_OUTNOROUTES: 'no-route',
  NEIGH_FAILED: 'no-neighbor',
  NEIGH_QUEUEFULL: 'no-neighbor',
  NEIGH_DEAD: 'no-neighbor',
  PKT_TOO_BIG: 'mtu',
  VXLAN_NO_REMOTE: 'no-fdb',
  NO_TX_TARGET: 'no-fdb',
  DEV_READY: 'link-down',
  OTHERHOST: 'stale-fdb',
  NO_SOCKET: 'no-listener',
}

/** The counter lines (src/kernel/observe.ts counterDeltas) of DROP or REJECT rules in `netns` that matched. */
export function dropRuleHits(deltas: readonly string[], netns: string): string[] {
  return deltas.filter((d) => d.startsWith(`${netns} `) && / \+\d+ packets$/.test(d))
}

/**
 * Where a socket lookup that found none drops a packet of each probe protocol. An ICMP echo request is
 * answered by the kernel itself, so NO_SOCKET never explains a lost one: at ping_rcv it is a reply that
 * came back after its ping socket closed, at the UDP and TCP receive functions the other probes'
 * datagrams and segments. Only the failed probe's own protocol counts.
 */
const NO_SOCKET_AT: Record<ProbeProtocol, RegExp | undefined> = {
  icmp: undefined,
  udp: /udp/,
  tcp: /tcp/,
}

/**
 * The kernel drop reasons that can explain a failed probe of `protocol`, most frequent first (our
 * tools' tasks preferred).
 */
export function kernelReasons(drops: DropSummary[], protocol?: ProbeProtocol): DropSummary[] {
  const relevant = drops.filter(
    (d) =>
      KERNEL_REASON[d.reason] &&
      (d.reason !== 'NO_SOCKET' || protocol === undefined || NO_SOCKET_AT[protocol]?.test(d.location) === true),
  )
  const ours = relevant.filter((d) => /^(ping|nc|ksoftirqd|<idle>|swapper)/.test(d.comm))
  return ours.length ? ours : relevant
}

function dropLines(drops: DropSummary[]): string[] {
  return drops.slice(0, 4).map((d) => `kfree_skb reason ${d.reason} ×${d.count} at ${d.location} (task ${d.comm})`)
}

function decideFault(
  ctx: PathContext,
  hops: TraceHop[],
  staticFault: TraceFault | undefined,
  outcomes: ProbeOutcome[],
  obs: Observation | undefined,
  A: PodView,
  B: PodView,
  plan: ProbePlan,
  listeners: string[] | undefined,
): TraceFault {
  const failed = outcomes.filter((p) => !p.ok)
  const liveEvidence = [
    ...failed.map(
      (p) => `probe ${p.kind}${p.size ? ` size ${p.size}` : ''}${p.port ? ` port ${p.port}` : ''}: ${p.detail}`,
    ),
    ...(obs?.evidence ?? []),
    ...dropLines(obs ? kernelReasons(obs.drops, obs.probe.protocol) : []),
  ]

  // A refused TCP connection (RST back) means the path works and nothing listens.
  if (failed.length && failed.every((p) => p.kind === 'tcp' && p.refused)) {
    const listening = listeners ?? []
    const hop = hops.find((h) => h.direction === 'forward' && h.stage === 'pod-ingress')!
    return faultAt(hop, {
      reason: 'no-listener',
      evidence: [
        ...liveEvidence,
        listeners === undefined
          ? `${B.label}: the connection to :${plan.tcpPort} was refused (its sockets could not be read)`
          : listening.length
            ? `ss -ltn in ${B.label}: ${listening.join(' | ')} (a socket exists: check its bind address)`
            : `ss -ltn in ${B.label}: nothing listens on tcp :${plan.tcpPort}`,
      ],
      hint: `start the server on port ${plan.tcpPort} in ${B.ep.namespace}/${B.ep.name}, or trace the port it listens on (${execCmd(B.netns, 'ss -ltn')})`,
    })
  }

  if (staticFault) return {...staticFault, evidence: [...staticFault.evidence, ...liveEvidence]}

  if (obs) {
    const probe = obs.probe
    const reversed = probe.direction === 'return'
    const byLabel = new Map([A, B, A.nodeView, B.nodeView].map((v) => [v.label, v.ipt]))
    const policy = policyFaultFromDeltas(
      obs.evidence,
      hops,
      (label) => byLabel.get(label),
      {
        src: reversed ? plan.b.ip : plan.a.ip,
        dst: reversed ? plan.a.ip : plan.b.ip,
        proto: probe.protocol,
        ...(probe.protocol === 'tcp' ? {dport: plan.tcpPort} : probe.protocol === 'udp' ? {dport: plan.udpPort} : {}),
      },
      reversed ? 'return' : 'forward',
      liveEvidence,
    )
    if (policy) return policy
    // The same probe, sent again, got through: nothing on the path stops it, so no hop is blamed. What
    // lost the first ones comes and goes (loss, a rule that drops only some packets, a path slower
    // than the probes' wait). The fault is placed where the probes start.
    if (probe.ok) {
      const start = hops.find((h) => h.direction === 'forward')!
      return faultAt(start, {
        reason: 'intermittent',
        evidence: [
          ...liveEvidence,
          `the ${probe.kind} probe failed, then got through when sent again (${probe.durationMs} ms)`,
        ],
        hint: `run the trace again; if probes keep failing now and then, look for loss between ${A.label} and ${B.label} (${execCmd(B.netns, 'nstat -az')}, and the drop counters of the rules on the path)`,
      })
    }
  }

  const icmpOk = outcomes.find((p) => p.kind === 'icmp-forward')?.ok === true
  const onlyDf = failed.every((p) => p.kind === 'icmp-df')
  const stop = obs?.stopHop
  const kr = obs ? kernelReasons(obs.drops, obs.probe.protocol) : []
  const fallbackHop = hops.find(
    (h) => h.direction === 'forward' && (h.stage === 'underlay-rx' || h.stage === 'host-veth-egress'),
  )!
  // Seen at every tap up to its last one and nothing tapped after: it died on or after that hop, and
  // only the kernel's drop reason says why (no place is guessed).
  const beyondTaps = !stop && obs?.lastSeen !== undefined
  const hop = stop ?? obs?.lastSeen ?? fallbackHop
  const prev = hops.filter((h) => h.direction === hop.direction && h.index < hop.index && h.seen).pop()

  // An address the probe made the kernel resolve, on the device where the packet stopped, that
  // never answered ARP.
  const stuck = (obs?.unresolved.get(hop.netns) ?? []).filter((n) => n.dev === hop.device)
  let reason: FaultReason
  if (onlyDf && icmpOk) reason = 'mtu'
  else if (stuck.length && (hop.stage === 'next-hop' || hop.stage === 'host-veth-egress' || hop.stage === 'neighbor')) {
    reason = 'no-neighbor'
    liveEvidence.push(...stuck.map((n) => `after the probe: neigh ${n.dst} dev ${n.dev} ${(n.state ?? []).join(',')}`))
  } else if (stuck.length && hop.stage === 'underlay-tx') {
    reason = 'underlay-blocked'
    liveEvidence.push(...stuck.map((n) => `after the probe: neigh ${n.dst} dev ${n.dev} ${(n.state ?? []).join(',')}`))
  } else if (!beyondTaps && (hop.stage === 'underlay-rx' || (hop.stage === 'decap' && prev?.stage === 'underlay-rx'))) {
    reason = kr[0]?.reason === 'PKT_TOO_BIG' ? 'mtu' : 'underlay-blocked'
  } else if (beyondTaps && dropRuleHits(obs?.evidence ?? [], hop.netns).length) {
    // A DROP or REJECT rule in the namespace where the probe was last seen counted it: that names the
    // cause directly, where the kernel's drop reasons are counted machine-wide and other traffic's
    // may outnumber the probe's.
    reason = 'filtered'
  } else if (kr[0]) reason = KERNEL_REASON[kr[0].reason] ?? 'unknown'
  else reason = 'unknown'

  const sNode = hop.direction === 'forward' ? A.nodeView : B.nodeView
  const dNode = hop.direction === 'forward' ? B.nodeView : A.nodeView
  let hint: string
  switch (reason) {
    case 'mtu': {
      const df = outcomes.find((p) => p.kind === 'icmp-df')
      const mtuNow = A.eth?.mtu ?? 0
      const target = df?.reportedMtu ?? mtuNow - 50
      hint =
        `full-size packets (${mtuNow} bytes) don't cross the path: lower the pod and ${ctx.mode === 'vxlan' ? ctx.vtep : ctx.underlay} MTUs to ${target} ` +
        `(e.g. ${ipCmd(sNode.netns, `link set dev ${shellWord(ctx.mode === 'vxlan' ? ctx.vtep : ctx.underlay)} mtu ${target}`)}) or raise the underlay MTU between ${sNode.node.name} and ${dNode.node.name}`
      break
    }
    case 'underlay-blocked':
      hint =
        ctx.mode === 'vxlan'
          ? `let UDP ${ctx.vxlanPort} (VXLAN) through between ${sNode.node.nodeIP} and ${dNode.node.nodeIP}; watch it with ${execCmd(dNode.netns, `tcpdump -ni ${shellWord(ctx.underlay)} udp port ${ctx.vxlanPort}`)}`
          : `let traffic for ${dNode.node.podCIDR} through the underlay between ${sNode.node.nodeIP} and ${dNode.node.nodeIP}`
      break
    case 'no-neighbor':
      hint = `${stuck.map((n) => n.dst).join(', ')} does not answer ARP on ${hop.device}: check that address and its link (${ipCmd(nsOf(hop, A, B), `neigh show dev ${shellWord(hop.device)}`)})`
      break
    case 'filtered':
      hint = `find the rule that drops it in ${hop.netns} (its counter grows with each probe): ${execCmd(nsOf(hop, A, B), 'iptables-save -c')}, ${execCmd(nsOf(hop, A, B), 'nft list ruleset')}`
      break
    default:
      hint = `inspect ${hop.netns}/${hop.device}: ${execCmd(nsOf(hop, A, B), `tcpdump -ni ${shellWord(hop.device)}`)}`
  }
  return faultAt(hop, {reason, evidence: liveEvidence, hint})
}

function nsOf(hop: TraceHop, A: PodView, B: PodView) {
  for (const v of [A, B, A.nodeView, B.nodeView]) if (v.label === hop.netns) return v.netns
  return A.netns
}
