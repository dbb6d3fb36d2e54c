/**
 * `cnidbg trace pod-a svc/web`: a trace whose destination is a ClusterIP Service.
 *
 * 1. The Service, its port (`--port` is the service port; the only one by default) and its
 *    EndpointSlices, from the API. No ready endpoint: `no-endpoints`, with the selector and the slices.
 * 2. The DNAT hop on the source pod's node: its nat table read through the node's reader (here, or its
 *    agent) and walked as a packet from the pod to VIP:port takes it, PREROUTING → KUBE-SERVICES →
 *    KUBE-SVC-… → every KUBE-SEP-… and its DNAT. Not reached, or leading to no DNAT:
 *    `service-not-programmed`, with the rules read.
 * 3. Unless static: one TCP connection from the pod to VIP:port, then the node's conntrack entry of
 *    that connection (before/after, so an older entry of the same flow is not taken) names the
 *    endpoint kube-proxy's rules chose. Static: every endpoint is listed, and the first ready one
 *    is traced to.
 * 4. The pod-to-pod trace to that endpoint pod on its target port (engine.ts), with the DNAT hop
 *    put in after the source node's host-veth hop.
 * 5. The filter rules that drop conntrack state INVALID (kube-proxy's KUBE-FORWARD rule) on the nodes
 *    of the path, counted before the probe and after the trace: when they grew and the flow failed,
 *    `conntrack-invalid`, with the rule and its counters.
 */
import {UsageError} from '../core/errors.js'
import {readConntrack, type ConntrackEntry, type ConntrackFlow, type ConntrackRead} from '../kernel/conntrack.js'
import {matchIptablesRule, parseIptablesSave, type IptablesRuleset, type NfPacket} from '../kernel/netfilter.js'
import type {NodeAccess} from '../kernel/node-access.js'
import {LocalKernelReader, type KernelReader} from '../kernel/reader.js'
import {runInNetns} from '../netns/index.js'
import type {CoreV1Api, DiscoveryV1Api, V1EndpointSlice, V1Service, V1ServicePort} from '../kube/client.js'
import {traceBetween} from './engine.js'
import {serviceOfRule, serviceName} from './netfilter-objects.js'
import {execCmd, netnsLabel} from './ns-commands.js'
import type {
  ProbeProtocol,
  TraceEndpoint,
  TraceFault,
  TraceHop,
  TraceNode,
  TraceOptions,
  TraceResult,
  TraceService,
  TraceServiceDnat,
  TraceServiceEndpoint,
  TraceTopology,
} from './types.js'
import {faultAt} from './types.js'

export interface ServiceTarget {
  namespace: string
  name: string
}

/** `svc/NAME` or `svc/NAMESPACE/NAME` (also `service/…`); undefined when the reference is no Service. */
export function parseServiceRef(ref: string, namespace: string): ServiceTarget | undefined {
  const m = /^(?:svc|service|services)\/(.*)$/.exec(ref)
  if (!m) return undefined
  const parts = m[1]!.split('/')
  if (parts.length === 1 && parts[0]) return {namespace, name: parts[0]}
  if (parts.length === 2 && parts[0] && parts[1]) return {namespace: parts[0], name: parts[1]}
  throw new UsageError(`"${ref}" is not a Service: use svc/NAME or svc/NAMESPACE/NAME.`, {code: 'TRACE_BAD_SERVICE'})
}

// ---------------------------------------------------------------------------------------------
// the Service from the API

export interface ResolvedService {
  info: Omit<TraceService, 'dnat'>
  /** The ready endpoints, in the slices' order. */
  ready: TraceServiceEndpoint[]
  /** Evidence: the selector and each slice's endpoints for the port. */
  evidence: string[]
}

function portLabel(p: V1ServicePort): string {
  return `${p.name ? `${p.name} ` : ''}${p.port}/${p.protocol ?? 'TCP'}`
}

/** Picks the service port: `--port`, else the only one; anything else is the user's to say. */
export function pickServicePort(svc: V1Service, port: number | undefined): V1ServicePort {
  const ports = svc.spec?.ports ?? []
  const id = `${svc.metadata?.namespace}/${svc.metadata?.name}`
  if (port !== undefined) {
    const p = ports.find((x) => x.port === port)
    if (p) return p
    throw new UsageError(`Service ${id} has no port ${port}; its ports: ${ports.map(portLabel).join(', ') || 'none'}`, {
      code: 'TRACE_SERVICE_PORT',
      suggestions: ['Give one of its ports with --port.'],
    })
  }
  if (ports.length === 1) return ports[0]!
  throw new UsageError(
    ports.length
      ? `Service ${id} has ${ports.length} ports (${ports.map(portLabel).join(', ')}): say which with --port`
      : `Service ${id} has no ports`,
    {code: 'TRACE_SERVICE_PORT', suggestions: ports.length ? [`e.g. --port ${ports[0]!.port}`] : []},
  )
}

/** The endpoints of one service port in the slices: a slice port of the same name gives the target port. */
export function sliceEndpoints(slices: readonly V1EndpointSlice[], port: V1ServicePort): TraceServiceEndpoint[] {
  const out: TraceServiceEndpoint[] = []
  for (const s of slices) {
    if (s.addressType && s.addressType !== 'IPv4') continue
    const sp = (s.ports ?? []).find((p) => (p.name ?? '') === (port.name ?? ''))
    if (!sp?.port) continue
    for (const e of s.endpoints ?? []) {
      const ip = e.addresses?.[0]
      if (!ip) continue
      out.push({
        ip,
        port: sp.port,
        // The API's rule: an unset condition is ready.
        ready: e.conditions?.ready !== false,
        ...(e.targetRef?.kind === 'Pod' && e.targetRef.name
          ? {pod: `${e.targetRef.namespace ?? s.metadata?.namespace ?? 'default'}/${e.targetRef.name}`}
          : {}),
        ...(e.nodeName ? {node: e.nodeName} : {}),
      })
    }
  }
  return out
}

function selectorText(svc: V1Service): string {
  return Object.entries(svc.spec?.selector ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
}

export async function resolveService(
  core: CoreV1Api,
  discovery: DiscoveryV1Api,
  ref: ServiceTarget,
  port: number | undefined,
): Promise<ResolvedService> {
  let svc: V1Service
  try {
    svc = await core.readNamespacedService({name: ref.name, namespace: ref.namespace})
  } catch (error) {
    if ((error as {code?: number}).code === 404)
      throw new UsageError(`Service ${ref.namespace}/${ref.name} not found.`, {
        code: 'TRACE_SERVICE_NOT_FOUND',
        suggestions: [`List Services: kubectl -n ${ref.namespace} get svc`],
      })
    throw error
  }
  const clusterIP = svc.spec?.clusterIP
  if (!clusterIP || clusterIP === 'None')
    throw new UsageError(`Service ${ref.namespace}/${ref.name} has no ClusterIP (headless): trace one of its pods.`, {
      code: 'TRACE_SERVICE_HEADLESS',
    })
  const p = pickServicePort(svc, port)
  const slices = (
    await discovery.listNamespacedEndpointSlice({
      namespace: ref.namespace,
      labelSelector: `kubernetes.io/service-name=${ref.name}`,
    })
  ).items
  const endpoints = sliceEndpoints(slices, p)
  const selector = selectorText(svc)
  const evidence = [
    `Service ${ref.namespace}/${ref.name} ${clusterIP}:${p.port}/${p.protocol ?? 'TCP'} → targetPort ${p.targetPort ?? p.port}, selector ${selector || '(none: endpoints are managed by hand)'}`,
    ...(slices.length
      ? slices.map((s) => {
          const eps = (s.endpoints ?? []).map(
            (e) => `${e.addresses?.join('/') ?? '?'}${e.conditions?.ready === false ? ' (not ready)' : ''}`,
          )
          return `EndpointSlice ${s.metadata?.name ?? '?'}: ${eps.length ? eps.join(', ') : 'no endpoints'}; ports ${(s.ports ?? []).map((x) => `${x.name ?? ''}:${x.port ?? '?'}`).join(', ') || 'none'}`
        })
      : [`no EndpointSlice labelled kubernetes.io/service-name=${ref.name}`]),
  ]
  return {
    info: {
      namespace: ref.namespace,
      name: ref.name,
      clusterIP,
      port: p.port,
      protocol: (p.protocol ?? 'TCP') as TraceService['protocol'],
      portName: p.name ?? '',
      targetPort: p.targetPort ?? p.port,
      selector,
      endpoints,
    },
    ready: endpoints.filter((e) => e.ready),
    evidence,
  }
}

// ---------------------------------------------------------------------------------------------
// the node's nat rules

type Walked =
  | {kind: 'svc'; chain: string; rule: string}
  | {kind: 'dnat'; rule: string; to: string}
  | {kind: 'accept' | 'return'; rule: string}
  | {kind: 'end'}

function ruleText(table: string, r: {text: string; packets?: number}): string {
  return `iptables -t ${table}: ${r.text}${r.packets !== undefined ? ` [${r.packets} pkts]` : ''}`
}

/**
 * Walks the nat table from PREROUTING for the packet, until it reaches a KUBE-SVC chain, a DNAT, or
 * leaves the table. Rules with matches not modelled (statistic) are skipped; `chains` gets the path.
 */
function walkNat(rs: IptablesRuleset, chain: string, pkt: NfPacket, chains: string[], depth = 0): Walked {
  const nat = rs.tables.get('nat')
  if (!nat || depth > 16) return {kind: 'end'}
  chains.push(chain)
  for (const r of nat.rules.get(chain) ?? []) {
    const m = matchIptablesRule(r.tokens, pkt)
    if (m.result !== 'match' || !m.target) continue
    const text = ruleText('nat', r)
    if (m.target.startsWith('KUBE-SVC-')) {
      chains.push(m.target)
      return {kind: 'svc', chain: m.target, rule: text}
    }
    if (m.target === 'DNAT') {
      const to = m.targetArgs[m.targetArgs.indexOf('--to-destination') + 1] ?? '?'
      return {kind: 'dnat', rule: text, to}
    }
    if (m.target === 'ACCEPT' || m.target === 'RETURN')
      return {kind: m.target === 'ACCEPT' ? 'accept' : 'return', rule: text}
    if (nat.rules.has(m.target)) {
      const sub = walkNat(rs, m.target, pkt, chains, depth + 1)
      if (sub.kind !== 'end' && sub.kind !== 'return') return sub
      chains.splice(chains.lastIndexOf(m.target))
    }
  }
  return {kind: 'end'}
}

export interface NatAnalysis extends TraceServiceDnat {
  reason?: 'service-not-programmed'
  hint?: string
}

/**
 * What the node's nat table does to a packet from `src` to the Service's VIP:port: the DNAT hop.
 * `ready`: the endpoints the API says are ready (a DNAT to none of them is not the Service's).
 */
export function analyzeNat(
  iptablesSave: string,
  svc: Pick<TraceService, 'namespace' | 'name' | 'clusterIP' | 'port' | 'protocol'>,
  src: string,
  ready: readonly TraceServiceEndpoint[],
  where: {node: string; netns: string; cmd: (c: string) => string},
): NatAnalysis {
  const id = `${svc.namespace}/${svc.name}`
  const rs = parseIptablesSave(iptablesSave)
  const nat = rs.tables.get('nat')
  const base = {node: where.node, netns: where.netns, chains: [] as string[], targets: []}
  const notProgrammed = (detail: string, evidence: string[]): NatAnalysis => ({
    ...base,
    status: 'fail',
    detail,
    evidence,
    reason: 'service-not-programmed',
    hint: `the node's service proxy (kube-proxy) has not programmed ${id}: check it runs and syncs on ${where.node} (its log, ${where.cmd('iptables-save -t nat')})`,
  })
  if (!nat)
    return notProgrammed(`no nat table on ${where.node}: no Service is programmed`, ['iptables-save shows no *nat'])
  const proto = svc.protocol === 'UDP' ? 'udp' : 'tcp'
  const pkt: NfPacket = {src, dst: svc.clusterIP, proto, sport: 40000, dport: svc.port, ctstate: 'NEW'}
  const chains: string[] = []
  const w = walkNat(rs, 'PREROUTING', pkt, chains)
  // The rules a reader wants to see: PREROUTING's, and any naming the ClusterIP or the Service.
  const mentions = [...nat.rules.values()]
    .flat()
    .filter((r) => {
      const named = serviceOfRule(r.text)
      return (
        r.chain === 'PREROUTING' ||
        r.text.includes(`${svc.clusterIP}/32`) ||
        (named?.namespace === svc.namespace && named.name === svc.name)
      )
    })
    .slice(0, 8)
    .map((r) => ruleText('nat', r))
  if (w.kind === 'end')
    return notProgrammed(
      `no nat rule takes ${svc.clusterIP}:${svc.port}/${proto} to a DNAT (no KUBE-SERVICES rule for it)`,
      mentions.length ? mentions : ['the nat table has no rule for the ClusterIP'],
    )
  if (w.kind === 'accept' || w.kind === 'return')
    return notProgrammed(`nat ${chains.join(' → ')} lets ${svc.clusterIP}:${svc.port} leave before KUBE-SERVICES`, [
      w.rule,
      ...mentions.filter((m) => m !== w.rule),
    ])
  const dnat: NatAnalysis = {...base, chains, status: 'ok', detail: '', evidence: [w.rule], targets: []}
  if (w.kind === 'dnat') {
    dnat.targets.push({chain: chains[chains.length - 1] ?? 'PREROUTING', destination: w.to})
  } else {
    const sv = w as Extract<Walked, {kind: 'svc'}>
    dnat.serviceChain = sv.chain
    const svcRules = nat.rules.get(sv.chain)
    if (!svcRules) return notProgrammed(`KUBE-SERVICES jumps to ${sv.chain}, which does not exist`, [sv.rule])
    for (const r of svcRules) {
      const j = r.tokens.indexOf('-j')
      const sep = r.tokens[j + 1]
      if (j < 0 || !sep?.startsWith('KUBE-SEP-')) continue
      dnat.evidence.push(ruleText('nat', r))
      const p = r.tokens.indexOf('--probability')
      const sepRules = nat.rules.get(sep) ?? []
      const d = sepRules.find((x) => x.tokens.includes('DNAT'))
      if (d) dnat.evidence.push(ruleText('nat', d))
      const to = d ? d.tokens[d.tokens.indexOf('--to-destination') + 1] : undefined
      dnat.targets.push({chain: sep, destination: to ?? '(no DNAT)', ...(p > 0 ? {probability: r.tokens[p + 1]} : {})})
    }
    if (!dnat.targets.length) return notProgrammed(`${sv.chain} (${id}) jumps to no KUBE-SEP chain`, dnat.evidence)
    if (dnat.targets.every((t) => t.destination === '(no DNAT)'))
      return notProgrammed(`the KUBE-SEP chains of ${sv.chain} DNAT nowhere`, dnat.evidence)
  }
  const readyAt = new Set(ready.map((e) => `${e.ip}:${e.port}`))
  const live = dnat.targets.filter((t) => readyAt.has(t.destination))
  if (!live.length && ready.length)
    return notProgrammed(
      `${chains.join(' → ')} DNATs to ${dnat.targets.map((t) => t.destination).join(', ')}, none of the ready endpoints (${[...readyAt].join(', ')})`,
      dnat.evidence,
    )
  dnat.detail = `${svc.clusterIP}:${svc.port} DNAT via ${chains.join(' → ')} to ${dnat.targets.map((t) => t.destination).join(', ')}`
  if (live.length < ready.length) {
    dnat.status = 'warn'
    dnat.detail += ` (the API lists ${ready.length} ready endpoints)`
  }
  return dnat
}

// ---------------------------------------------------------------------------------------------
// INVALID drops

/** Filter rules that drop conntrack state INVALID, by their text, with their packet counters. */
export function invalidDropRules(rs: IptablesRuleset): Map<string, number> {
  const out = new Map<string, number>()
  for (const rules of rs.tables.get('filter')?.rules.values() ?? []) {
    for (const r of rules) {
      const s = r.tokens.indexOf('--ctstate')
      const j = r.tokens.indexOf('-j')
      if (s < 0 || j < 0 || r.tokens[j + 1] !== 'DROP') continue
      if (r.tokens[s - 1] === '!' || !(r.tokens[s + 1] ?? '').split(',').includes('INVALID')) continue
      out.set(r.text, r.packets ?? 0)
    }
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// the trace

export interface ServiceTraceDeps {
  core: CoreV1Api
  discovery: DiscoveryV1Api
  /** Resolves the source pod and a destination pod to trace inputs (resolve.ts's resolveFromCluster). */
  resolvePair(
    a: {namespace: string; name: string},
    b: {namespace: string; name: string},
  ): Promise<{topology: TraceTopology; a: TraceEndpoint; b: TraceEndpoint}>
}

function readerOf(n: TraceNode, opts: TraceOptions): KernelReader | undefined {
  if (opts.readerFor) return opts.readerFor(n)
  if (n.netns) return new LocalKernelReader(n.netns.path)
  return opts.accessFor?.(n)?.reader()
}

async function readIptables(n: TraceNode | undefined, opts: TraceOptions): Promise<{text?: string; why?: string}> {
  const reader = n && readerOf(n, opts)
  if (!reader) return {why: `no way to read ${n?.name ?? 'the node'}`}
  try {
    const snap = await reader.snapshot({parts: ['iptables']})
    if (snap.iptables === undefined) return {why: `iptables not read on ${n!.name}: ${snap.missing.join('; ')}`}
    return {text: snap.iptables}
  } catch (error) {
    return {why: `iptables not read on ${n!.name}: ${(error as Error).message}`}
  }
}

interface ClusterIpProbe {
  conntrack(flow: ConntrackFlow): Promise<ConntrackRead | undefined>
  connect(): Promise<{ok: boolean; detail: string}>
}

/**
 * One TCP connection from the source pod to the ClusterIP, and its node's conntrack: here when this
 * machine enters both the pod and its node (no pod scan, as through the agent's probe), else through
 * the node's access (its agent).
 */
function clusterIpProbe(
  src: TraceEndpoint,
  node: TraceNode | undefined,
  access: NodeAccess | undefined,
  svc: Pick<TraceService, 'clusterIP' | 'port'>,
  probeTimeoutMs = 1000,
): ClusterIpProbe | undefined {
  const timeoutMs = Math.min(2000, Math.max(1000, probeTimeoutMs))
  const to = `${svc.clusterIP}:${svc.port}`
  if (src.netnsPath && node?.netns) {
    const nodeNs = node.netns.path
    return {
      conntrack: (flow) => readConntrack(nodeNs, flow).catch(() => undefined),
      async connect() {
        const r = await runInNetns(
          src.netnsPath,
          'nc',
          ['-z', '-v', '-n', '-w', String(Math.round(timeoutMs / 1000)), svc.clusterIP, String(svc.port)],
          {timeoutMs: timeoutMs + 5000},
        )
        if (r.exitCode === 0) return {ok: true, detail: `connected to ${to}`}
        const why = /refused/i.test(r.stderr) ? 'refused' : `no answer within ${timeoutMs / 1000} s`
        return {ok: false, detail: `connection to ${to} ${why}`}
      },
    }
  }
  if (!access) return undefined
  return {
    conntrack: (flow) =>
      access.conntrack ? access.conntrack({flow}).catch(() => undefined) : Promise.resolve(undefined),
    async connect() {
      try {
        const answer = await access.probe({
          from: src.ip,
          to: svc.clusterIP,
          kinds: ['tcp'],
          tcpPort: svc.port,
          userPort: true,
          timeoutMs,
        })
        const o = answer.outcomes[0]
        return {
          ok: o?.ok === true,
          detail: (o?.detail ?? 'no answer').replace(/^connection to \S+/, `connection to ${to}`),
        }
      } catch (error) {
        return {ok: false, detail: `the probe could not run: ${(error as Error).message}`}
      }
    },
  }
}

function entryKey(e: ConntrackEntry): string {
  return `${e.orig.sport}|${e.reply.src}|${e.reply.sport}`
}

function ctLine(e: ConntrackEntry): string {
  return `conntrack: ${e.proto} ${e.state ?? ''} src=${e.orig.src} dst=${e.orig.dst} sport=${e.orig.sport} dport=${e.orig.dport} → reply src=${e.reply.src} sport=${e.reply.sport}${e.flags.length ? ` [${e.flags.join(',')}]` : ''}`
}

const HOP_STAGE = 'service-dnat' as const

/** Puts the DNAT hop after the source node's host-veth hop, renumbering what points at hops. */
function insertDnatHop(r: TraceResult, hop: Omit<TraceHop, 'index'>): TraceHop {
  const after = r.hops.findIndex((h) => h.direction === 'forward' && h.stage === 'host-veth-ingress')
  const at = after >= 0 ? after + 1 : 0
  const inserted: TraceHop = {index: at + 1, ...hop}
  r.hops.splice(at, 0, inserted)
  r.hops.forEach((h, i) => (h.index = i + 1))
  if (r.fault && r.fault.hop >= inserted.index) r.fault.hop++
  for (const p of r.probes) if (p.lastSeenHop !== undefined && p.lastSeenHop >= inserted.index) p.lastSeenHop++
  return inserted
}

function dnatHop(d: TraceServiceDnat, extra: Partial<TraceHop> = {}): Omit<TraceHop, 'index'> {
  return {
    direction: 'forward',
    node: d.node,
    netns: d.netns,
    device: 'nat',
    stage: HOP_STAGE,
    status: d.status,
    detail: d.detail,
    evidence: d.evidence,
    ...extra,
  }
}

/** A result that stops at the Service (no endpoint to continue to). */
function stopped(
  src: TraceEndpoint,
  svc: TraceService,
  mode: TraceResult['mode'],
  fault: Omit<TraceFault, 'hop' | 'direction' | 'node' | 'netns' | 'device'>,
  notes: string[],
  t0: number,
): TraceResult {
  const hop: TraceHop = {index: 1, ...dnatHop(svc.dnat), status: 'fail', reason: fault.reason, hint: fault.hint}
  return {
    verdict: 'unreachable',
    source: {name: src.name, namespace: src.namespace, ip: src.ip, node: src.node},
    destination: {name: svc.name, namespace: svc.namespace, ip: svc.clusterIP, node: svc.dnat.node},
    mode,
    hops: [hop],
    fault: {hop: 1, direction: 'forward', node: hop.node, netns: hop.netns, device: hop.device, ...fault},
    probes: [],
    notes,
    service: svc,
    timings: {staticMs: Math.round(performance.now() - t0), probesMs: 0, observeMs: 0},
    durationMs: Math.round(performance.now() - t0),
  }
}

export async function traceToService(
  deps: ServiceTraceDeps,
  source: {namespace: string; name: string},
  ref: ServiceTarget,
  opts: TraceOptions & {servicePort?: number},
): Promise<TraceResult> {
  const t0 = performance.now()
  const {servicePort, ...traceOpts} = opts
  const rsv = await resolveService(deps.core, deps.discovery, ref, servicePort)
  const id = `${ref.namespace}/${ref.name}`
  const podOf = (e: TraceServiceEndpoint) => {
    const [namespace, name] = (e.pod ?? '').split('/')
    return namespace && name ? {namespace, name} : undefined
  }
  const firstPod = rsv.ready.map(podOf).find(Boolean)
  let pair = await deps.resolvePair(source, firstPod ?? source)
  const src = pair.a
  const srcNode = pair.topology.nodes.find((n) => n.name === src.node)
  const label = srcNode?.netns ? netnsLabel(srcNode.netns) : src.node
  const cmd = (c: string) => (srcNode?.netns ? execCmd(srcNode.netns, c) : `${c} (on ${src.node})`)
  const notes: string[] = []
  const protocol = rsv.info.protocol
  const live =
    !traceOpts.staticOnly && protocol === 'TCP' && rsv.ready.length > 0
      ? clusterIpProbe(src, srcNode, srcNode && traceOpts.accessFor?.(srcNode), rsv.info, traceOpts.probeTimeoutMs)
      : undefined
  const flow = {a: src.ip, b: rsv.info.clusterIP, port: rsv.info.port, proto: 'tcp' as const}
  // At once: the source node's rules, the INVALID drop counters of the other nodes the flow may
  // cross (before the probe), and the flow's conntrack entries before it (an older entry of the same
  // flow is not the probe's).
  const others = traceOpts.staticOnly
    ? []
    : [...new Set(rsv.ready.flatMap((e) => (e.node && e.node !== src.node ? [e.node] : [])))]
  const [ipt, otherIpt, ctBefore] = await Promise.all([
    readIptables(srcNode, traceOpts),
    Promise.all(
      others.map((name) =>
        readIptables(
          pair.topology.nodes.find((x) => x.name === name),
          traceOpts,
        ),
      ),
    ),
    live?.conntrack(flow),
  ])
  if (ipt.why) notes.push(ipt.why)

  if (!rsv.ready.length) {
    const reject = ipt.text
      ? [...(parseIptablesSave(ipt.text).tables.get('filter')?.rules.values() ?? [])]
          .flat()
          .filter((r) => {
            const named = serviceOfRule(r.text, undefined, 'filter')
            return named?.namespace === ref.namespace && named.name === ref.name && r.tokens.includes('REJECT')
          })
          .map((r) => ruleText('filter', r))
      : []
    const svc: TraceService = {
      ...rsv.info,
      dnat: {
        node: src.node,
        netns: label,
        status: 'fail',
        chains: [],
        targets: [],
        evidence: reject,
        detail: `${rsv.info.clusterIP}:${rsv.info.port} has no ready endpoint${reject.length ? ' (the node REJECTs it)' : ''}`,
      },
    }
    return stopped(
      src,
      svc,
      pair.topology.mode,
      {
        reason: 'no-endpoints',
        service: id,
        evidence: [...rsv.evidence, ...reject],
        hint: rsv.info.selector
          ? `no ready pod matches ${id}'s selector ${rsv.info.selector}: check the pods' labels and readiness (kubectl -n ${ref.namespace} get pods -l ${rsv.info.selector})`
          : `${id} has no selector: its EndpointSlices are written by hand; add ready endpoints to them`,
      },
      notes,
      t0,
    )
  }

  const nat: NatAnalysis | undefined = ipt.text
    ? analyzeNat(ipt.text, rsv.info, src.ip, rsv.ready, {node: src.node, netns: label, cmd})
    : undefined
  const dnat: TraceServiceDnat = nat
    ? {
        node: nat.node,
        netns: nat.netns,
        status: nat.status,
        chains: nat.chains,
        targets: nat.targets,
        evidence: nat.evidence,
        detail: nat.detail,
        ...(nat.serviceChain ? {serviceChain: nat.serviceChain} : {}),
      }
    : {
        node: src.node,
        netns: label,
        status: 'unknown',
        chains: [],
        targets: [],
        evidence: [],
        detail: `the nat table of ${src.node} could not be read`,
      }
  const svc: TraceService = {...rsv.info, dnat}
  if (nat?.reason)
    return stopped(
      src,
      svc,
      pair.topology.mode,
      {reason: nat.reason, service: id, evidence: [...nat.evidence, ...rsv.evidence], hint: nat.hint!},
      notes,
      t0,
    )

  // ---- the probe to the ClusterIP and the endpoint conntrack says it chose --------------------
  const invalidBefore = new Map<string, Map<string, number>>()
  if (!traceOpts.staticOnly) {
    if (ipt.text) invalidBefore.set(src.node, invalidDropRules(parseIptablesSave(ipt.text)))
    others.forEach((name, i) => {
      const text = otherIpt[i]?.text
      if (text) invalidBefore.set(name, invalidDropRules(parseIptablesSave(text)))
    })
  }
  let chosen: TraceService['chosen']
  if (live) {
    const t = performance.now()
    const {ok, detail} = await live.connect()
    const after = await live.conntrack(flow)
    const seen = new Set((ctBefore?.entries ?? []).map(entryKey))
    const fresh = (after?.entries ?? []).filter((e) => e.orig.src === src.ip && !seen.has(entryKey(e)))
    const entry = fresh[fresh.length - 1]
    svc.probe = {
      ok,
      detail,
      durationMs: Math.round(performance.now() - t),
      ...(entry ? {conntrack: ctLine(entry)} : {}),
    }
    if (!after?.available) notes.push(`conntrack of ${src.node} could not be read: the endpoint is not known from it`)
    const ep = entry && rsv.info.endpoints.find((e) => e.ip === entry.reply.src)
    if (ep) chosen = {...ep, how: 'conntrack'}
  }
  if (!traceOpts.staticOnly && protocol !== 'TCP')
    notes.push(`${id}:${rsv.info.port} is ${protocol}: the ClusterIP is probed over TCP only, so it was not probed`)
  if (!chosen) {
    const first = rsv.ready[0]!
    chosen = {...first, how: rsv.ready.length === 1 ? 'only-endpoint' : 'first-endpoint'}
    if (rsv.ready.length > 1)
      notes.push(
        `${id} has ${rsv.ready.length} ready endpoints (${rsv.ready.map((e) => e.ip).join(', ')}): traced to the first`,
      )
  }
  svc.chosen = chosen
  const chosenPod = podOf(chosen)
  if (!chosenPod)
    throw new UsageError(`the endpoint ${chosen.ip} of ${id} names no pod (targetRef): trace it by its pod`, {
      code: 'TRACE_SERVICE_ENDPOINT',
    })
  if (chosenPod.name !== firstPod?.name || chosenPod.namespace !== firstPod.namespace)
    pair = await deps.resolvePair(source, chosenPod)

  // ---- the pod-to-pod trace to the endpoint, on its target port ----------------------------
  // Only a TCP target port is connected to: a UDP or SCTP server answers no TCP connect (a refusal
  // would read as no-listener), so its path is probed with what the engine can send there.
  const podOpts = protocol === 'TCP' ? {...traceOpts, port: chosen.port} : nonTcpOpts(traceOpts, protocol)
  if (!traceOpts.staticOnly && protocol !== 'TCP')
    notes.push(
      `${id} is ${protocol}: the path to ${chosen.ip} was probed with ${podOpts.protocols!.join(' and ')}${protocol === 'UDP' ? ' (UDP to a temporary port)' : ''}; nothing was sent to ${protocol.toLowerCase()} :${chosen.port} itself`,
    )
  const r = await traceBetween(pair.topology, pair.a, pair.b, podOpts)
  r.service = svc
  const hop = insertDnatHop(
    r,
    dnatHop(dnat, {
      detail: `${dnat.detail}${chosen.how === 'conntrack' ? `; conntrack: this connection went to ${chosen.ip}:${chosen.port}` : ''}`,
      evidence: [...dnat.evidence, ...(svc.probe?.conntrack ? [svc.probe.conntrack] : [])],
    }),
  )
  r.notes.push(...notes)

  // ---- INVALID drops on the path's nodes ---------------------------------------------------
  const failed = r.verdict === 'unreachable' || (svc.probe !== undefined && !svc.probe.ok)
  if (failed && !traceOpts.staticOnly) {
    const nodes = [...new Set([src.node, pair.b.node])]
    for (const name of nodes) {
      const n = pair.topology.nodes.find((x) => x.name === name)
      const before = invalidBefore.get(name)
      const now = await readIptables(n, traceOpts)
      // Not read before the probe, or not now: no delta to speak of.
      if (!now.text || !before) continue
      const rs = parseIptablesSave(now.text)
      for (const [rule, packets] of invalidDropRules(rs)) {
        const had = before?.get(rule) ?? 0
        if (packets <= had) continue
        const where =
          r.hops.find((h) => h.node === name && h.stage === 'filter' && h.direction === 'return') ??
          r.hops.find((h) => h.node === name) ??
          hop
        where.status = 'fail'
        where.reason = 'conntrack-invalid'
        const owner = serviceOfRule(rule, rs, 'filter')
        const ns = n?.netns
        r.verdict = 'unreachable'
        r.fault = {
          hop: where.index,
          direction: where.direction,
          node: where.node,
          netns: where.netns,
          device: where.device,
          reason: 'conntrack-invalid',
          service: owner ? serviceName(owner) : id,
          evidence: [
            `iptables -t filter: ${rule}: ${had} → ${packets} packets during the trace`,
            ...(svc.probe ? [`probe tcp ${rsv.info.clusterIP}:${rsv.info.port}: ${svc.probe.detail}`] : []),
            ...(r.fault ? [`the pod-to-pod trace said: ${r.fault.reason} at hop ${r.fault.hop}`] : []),
          ],
          hint: `conntrack on ${name} classes the flow's packets INVALID and this rule drops them: look for a path that shows conntrack only one direction (asymmetric routing, raw-table CT or NOTRACK rules) and count them with ${ns ? execCmd(ns, 'conntrack -S') : 'conntrack -S'}`,
        }
        where.hint = r.fault.hint
        break
      }
      if (r.fault?.reason === 'conntrack-invalid') break
    }
  }
  if (r.verdict === 'reachable' && svc.probe && !svc.probe.ok) {
    r.verdict = 'unreachable'
    hop.status = 'fail'
    hop.reason = 'unknown'
    r.fault = faultAt(hop, {
      reason: 'unknown',
      service: id,
      evidence: [`probe tcp ${rsv.info.clusterIP}:${rsv.info.port}: ${svc.probe.detail}`, ...dnat.evidence],
      hint: `the endpoint answers directly but not through ${rsv.info.clusterIP}:${rsv.info.port}: compare ${cmd('iptables-save -c -t nat')} with the endpoints`,
    })
  }
  r.durationMs = Math.round(performance.now() - t0)
  return r
}

/**
 * The pod-to-pod options for a UDP or SCTP endpoint: the TCP probe asked for becomes a UDP one for a
 * UDP Service (the engine's UDP probe, to a temporary listener) and is left out for SCTP.
 */
export function nonTcpOpts(opts: TraceOptions, protocol: TraceService['protocol']): TraceOptions {
  const rest = {...opts}
  delete rest.port
  const asked = opts.protocols ?? ['icmp', 'tcp', 'udp']
  const protocols = [
    ...new Set(asked.flatMap((p): ProbeProtocol[] => (p === 'icmp' ? ['icmp'] : protocol === 'UDP' ? ['udp'] : []))),
  ]
  return {...rest, protocols: protocols.length ? protocols : ['icmp']}
}
