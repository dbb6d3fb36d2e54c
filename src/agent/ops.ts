/**
 * What the node agent does for a request, with no HTTP in it: the reads of src/kernel, aimed at the
 * node's namespace or at a pod on the node, and the two sides of a live probe (src/kernel/probes.ts)
 * run apart: the source side in one request, the destination side as a listening session between two
 * requests that ends by itself within 10 s. A pod's namespace is looked up again after a few seconds
 * (pods come and go), and a path that no longer exists is looked up at once.
 */
import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'

import {HttpError} from '../core/http.js'
import {readConntrack} from '../kernel/conntrack.js'
import {evaluateNetfilter, parseIptablesSave, parseNftJson} from '../kernel/netfilter.js'
import type {NetnsScanOptions} from '../kernel/netns-scan.js'
import {findPodNetns, type PodNetns} from '../kernel/pods.js'
import {DropWatch, summarizeDrops} from '../kernel/dropwatch.js'
import {runJobsInNetns, tempDir, type NsJobResult} from '../kernel/multi-exec.js'
import {Captures, counterDeltas, readCounters, type CounterSnapshot} from '../kernel/observe.js'
import {
  collectProbes,
  listenerError,
  listenersStarted,
  probeJobs,
  stopListeners,
  tcpListeners,
  type ProbeKind,
  type ProbePlan,
} from '../kernel/probes.js'
import {LocalKernelReader} from '../kernel/reader.js'
import type {
  BgpAnswer,
  BgpView,
  ConntrackBody,
  ConntrackRead,
  ListenAnswer,
  ListenBody,
  ListenResult,
  ObserveAnswer,
  ObserveBody,
  ObserveResult,
  ProbeAnswer,
  ProbeBody,
  NetfilterAnswer,
  NetfilterBody,
  PodsAnswer,
  SnapshotAnswer,
  SnapshotBody,
  SocketsAnswer,
  SocketsBody,
  Target,
} from './api.js'
import {parseJson} from '../core/json.js'

export interface AgentOpsOptions {
  node: string
  /** The node's network namespace, a path nsenter accepts. */
  nodeNetns: string
  /** libcni's cache directory on the node. Default /var/lib/cni. */
  cniCacheDir?: string
  /** Where pod namespaces are looked for (tests narrow it). */
  scan?: NetnsScanOptions
  /** How long a pod lookup is reused. Default 5 s. */
  podCacheMs?: number
  /** Listening sessions at once. Default 4. */
  maxSessions?: number
  /**
   * The node daemon's base URL (`http://<node IP>:10266`), which /v1/bgp asks for its GET /diag.
   * Reached from where the agent runs (a hostNetwork pod: the node's own address).
   */
  daemonUrl?: string
}

/** How long the node daemon may take to answer /diag. */
const DAEMON_TIMEOUT_MS = 5000

/** The longest a listening session lives: one operation's limit. */
export const SESSION_MS = 10_000

interface Session {
  plan: ProbePlan
  kinds: ProbeKind[]
  dir: {path: string; remove: () => void}
  done: Promise<NsJobResult[]>
  startedAt: number
  timer: NodeJS.Timeout
}

/** A plan for one side of a probe; the other side's namespace is on another node, never entered here. */
function plan(
  a: {ip: string; netnsPath: string; ifname?: string},
  b: {ip: string; netnsPath: string; ifname?: string},
  body: Omit<Partial<ProbeBody>, 'kinds'>,
  kinds: readonly string[],
): ProbePlan {
  return {
    a,
    b,
    protocols: [
      ...(kinds.some((k) => k.startsWith('icmp')) ? (['icmp'] as const) : []),
      ...(kinds.includes('tcp') ? (['tcp'] as const) : []),
      ...(kinds.includes('udp') ? (['udp'] as const) : []),
    ],
    size: body.size ?? 56,
    dfSize: body.dfSize,
    df: kinds.includes('icmp-df'),
    timeoutMs: body.timeoutMs ?? 1000,
    tcpPort: body.tcpPort ?? 0,
    userPort: body.userPort ?? false,
    udpPort: body.udpPort ?? 0,
    udpToken: body.udpToken,
    udpSendMs: body.udpSendMs,
  }
}

const ELSEWHERE = '/nonexistent/another-node'

interface Observation {
  captures: Captures
  counters: Array<{label: string; reader: LocalKernelReader}>
  before: CounterSnapshot[] | undefined
  watch: DropWatch | string
  notes: string[]
  timer: NodeJS.Timeout
}

export class AgentOps {
  readonly nodeReader: LocalKernelReader
  private readonly pods = new Map<string, {pod: PodNetns; at: number}>()

  private readonly sessions = new Map<string, Session>()
  private readonly observations = new Map<string, Observation>()

  constructor(readonly opts: AgentOpsOptions) {
    this.nodeReader = new LocalKernelReader(opts.nodeNetns)
  }

  async findPods(ips: readonly string[]): Promise<PodsAnswer> {
    const found = await findPodNetns(ips, {
      nodeNetns: this.opts.nodeNetns,
      cniCacheDir: this.opts.cniCacheDir,
      scan: this.opts.scan,
    })
    const now = Date.now()
    for (const p of found.values()) this.pods.set(p.ip, {pod: p, at: now})
    return {
      node: this.opts.node,
      pods: ips.flatMap((ip) => (found.has(ip) ? [found.get(ip)!] : [])),
      missing: ips.filter((ip) => !found.has(ip)),
    }
  }

  /** The namespace a target names, or a 404 for a pod not on this node. */
  async resolve(target: Target | undefined): Promise<{path: string; pod?: PodNetns}> {
    if (!target?.pod) return {path: this.opts.nodeNetns}
    const ip = target.pod
    const cached = this.pods.get(ip)
    if (cached && Date.now() - cached.at < (this.opts.podCacheMs ?? 5000) && existsSync(cached.pod.path))
      return {path: cached.pod.path, pod: cached.pod}
    const answer = await this.findPods([ip])
    const pod = answer.pods[0]
    if (!pod) throw new HttpError(404, `no pod with IP ${ip} on node ${this.opts.node}`)
    return {path: pod.path, pod}
  }

  async snapshot(body: SnapshotBody): Promise<SnapshotAnswer> {
    const {path, pod} = await this.resolve(body.target)
    const reader = path === this.opts.nodeNetns ? this.nodeReader : new LocalKernelReader(path)
    const snap: SnapshotAnswer = await reader.snapshot({parts: body.parts, routeGets: body.routeGets})
    if (pod) snap.pod = pod
    return snap
  }

  async netfilter(body: NetfilterBody): Promise<NetfilterAnswer> {
    const {path} = await this.resolve(body.target)
    const snap = await new LocalKernelReader(path).snapshot({parts: ['iptables', 'nft']})
    const ipt = snap.iptables ? parseIptablesSave(snap.iptables) : undefined
    const nft = snap.nft ? parseNftJson(snap.nft) : undefined
    return {verdict: evaluateNetfilter(ipt, nft, body.hooks, body.packet), missing: snap.missing}
  }

  async conntrack(body: ConntrackBody): Promise<ConntrackRead> {
    const {path} = await this.resolve(body.target)
    return readConntrack(path, body.flow)
  }

  async sockets(body: SocketsBody): Promise<SocketsAnswer> {
    const {path} = await this.resolve(body.target)
    return {listening: await tcpListeners(path, body.port)}
  }

  /**
   * The node daemon's BGP state (its /diag `bgp`), asked with the caller's own Authorization: the
   * daemon's gate checks the same `get nodes/proxy` the agent's did, and the agent holds no right of
   * its own there. Failures are 502s that say what the daemon did.
   */
  async bgp(authorization?: string): Promise<BgpAnswer> {
    const base = this.opts.daemonUrl?.replace(/\/+$/, '')
    if (!base) throw new HttpError(404, `the agent of ${this.opts.node} was started without --daemon-url`)
    const url = `${base}/diag`
    let res: Response
    try {
      res = await fetch(url, {
        headers: {accept: 'application/json', ...(authorization ? {authorization} : {})},
        signal: AbortSignal.timeout(DAEMON_TIMEOUT_MS),
        redirect: 'error',
      })
    } catch (error) {
      const e = error as Error & {cause?: {code?: string}}
      const why =
        e.name === 'TimeoutError' ? `no answer within ${DAEMON_TIMEOUT_MS / 1000} s` : (e.cause?.code ?? e.message)
      throw new HttpError(502, `node daemon ${url} unreachable (${why}): is it running?`)
    }
    const text = await res.text()
    if (res.status !== 200) {
      const said = (() => {
        try {
          return (JSON.parse(text) as {error?: unknown}).error
        } catch {
          return undefined
        }
      })()
      throw new HttpError(
        502,
        `node daemon ${url}: HTTP ${res.status}${typeof said === 'string' ? ` (${said.slice(0, 200)})` : ''}`,
      )
    }
    let doc: {bgp?: BgpView | null}
    try {
      doc = parseJson(text) as {bgp?: BgpView | null}
    } catch {
      throw new HttpError(502, `node daemon ${url}: not JSON`)
    }
    const bgp = doc.bgp
    return {node: this.opts.node, daemon: base, bgp: bgp && typeof bgp === 'object' && !Array.isArray(bgp) ? bgp : null}
  }

  /** A probe's source side, from a pod on this node. UDP is sent; the listener reports its arrival. */
  async probe(body: ProbeBody): Promise<ProbeAnswer> {
    const {path, pod} = await this.resolve({pod: body.from})
    const p = plan(
      {ip: body.from, netnsPath: path, ifname: pod?.ifname},
      {ip: body.to, netnsPath: ELSEWHERE},
      body,
      body.kinds,
    )
    const dir = tempDir('cnidbg-agent-probe-')
    try {
      const startedAt = Date.now()
      const [, source] = probeJobs(p, body.kinds, dir.path)
      await runJobsInNetns([source!], {dir: dir.path, timeoutMs: SESSION_MS - 500})
      return {
        outcomes: collectProbes(
          p,
          body.kinds.filter((k) => k !== 'udp'),
          dir.path,
          startedAt,
        ),
      }
    } finally {
      dir.remove()
    }
  }

  /** Starts a probe's destination side in a pod on this node; answers once its listeners started. */
  async listen(body: ListenBody): Promise<ListenAnswer> {
    if (this.sessions.size >= (this.opts.maxSessions ?? 4))
      throw new HttpError(429, `busy: ${this.sessions.size} listening sessions already`)
    const {path, pod} = await this.resolve({pod: body.pod})
    const kinds = body.kinds as ProbeKind[]
    const p = plan(
      {ip: body.peer, netnsPath: ELSEWHERE},
      {ip: body.pod, netnsPath: path, ifname: pod?.ifname},
      body,
      kinds,
    )
    const dir = tempDir('cnidbg-agent-listen-')
    const id = randomBytes(8).toString('hex')
    const [destination] = probeJobs(p, kinds, dir.path)
    const startedAt = Date.now()
    const done = runJobsInNetns([destination!], {dir: dir.path, timeoutMs: SESSION_MS + 2000})
    done.catch(() => [])
    const timer = setTimeout(() => void this.stopListen(id).catch(() => undefined), SESSION_MS)
    timer.unref()
    this.sessions.set(id, {plan: p, kinds, dir, done, startedAt, timer})
    let ended = false
    void done.finally(() => (ended = true))
    // Until the listeners' pid files are there (the bound is far beyond the milliseconds it takes).
    const until = Date.now() + 3000
    while (!ended && !listenersStarted(p, kinds, dir.path) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 10))
    return {id, listening: listenersStarted(p, kinds, dir.path)}
  }

  /** Ends a listening session and says what arrived. */
  async stopListen(id: string): Promise<ListenResult> {
    const s = this.sessions.get(id)
    if (!s) throw new HttpError(404, `no listening session ${id}`)
    this.sessions.delete(id)
    clearTimeout(s.timer)
    try {
      stopListeners(s.dir.path)
      await s.done.catch(() => [])
      const kinds = s.kinds.filter((k) => k === 'icmp-return' || k === 'udp')
      const out: ListenResult = {outcomes: collectProbes(s.plan, kinds, s.dir.path, s.startedAt)}
      const tcpErr = s.kinds.includes('tcp') ? listenerError(s.dir.path, 'tcp') : ''
      if (tcpErr) out.tcpListenerError = tcpErr
      return out
    } finally {
      s.dir.remove()
    }
  }

  /**
   * Starts watching: the captures listen, the counters are read, drop reasons are being collected,
   * when it answers. It ends at /v1/observe/stop, or by itself within 10 s.
   */
  async observe(body: ObserveBody): Promise<ObserveAnswer> {
    if (this.observations.size >= (this.opts.maxSessions ?? 4))
      throw new HttpError(429, `busy: ${this.observations.size} observations already`)
    const paths = await Promise.all(body.points.map((p) => this.resolve(p.target)))
    const counterPaths = await Promise.all((body.counters ?? []).map((c) => this.resolve(c.target)))
    const counters = (body.counters ?? []).map((c, i) => ({
      label: c.label,
      reader: new LocalKernelReader(counterPaths[i]!.path),
    }))
    const captures = new Captures(
      body.points.map((p, i) => ({
        netnsPath: paths[i]!.path,
        device: p.device,
        label: p.label,
        encapsulated: p.encapsulated === true,
      })),
      {...body.spec, vxlanPort: body.spec.vxlanPort ?? 8472},
    )
    const notes: string[] = []
    const watching = body.dropReasons ? DropWatch.start() : Promise.resolve('drop reasons: not asked for')
    let before: CounterSnapshot[] | undefined
    try {
      ;[, before] = await Promise.all([
        captures.start(6000),
        readCounters(counters.map((c) => c.reader)).catch(() => undefined),
      ])
    } catch (e) {
      // Nothing started here may outlive a failed start.
      await Promise.all([
        captures.stop(0, 0).catch(() => []),
        watching.then((w) => (typeof w === 'string' ? [] : w.stop())),
      ])
      throw e
    }
    const watch = await watching
    if (typeof watch === 'string' && body.dropReasons) notes.push(watch)
    const id = randomBytes(8).toString('hex')
    const timer = setTimeout(() => void this.stopObserve(id).catch(() => undefined), SESSION_MS)
    timer.unref()
    this.observations.set(id, {captures, counters, before, watch, notes, timer})
    return {id, notes}
  }

  /** Stops watching and says what was seen. */
  async stopObserve(id: string): Promise<ObserveResult> {
    const o = this.observations.get(id)
    if (!o) throw new HttpError(404, `no observation ${id}`)
    this.observations.delete(id)
    clearTimeout(o.timer)
    // The counters and neighbours are read at once, while the captures drain: an address the probe made
    // the kernel resolve is INCOMPLETE for a few seconds, then FAILED, and the kernel removes FAILED
    // entries once the machine holds many (src/trace/engine.ts, observe, says more).
    const [after, results, events] = await Promise.all([
      readCounters(o.counters.map((c) => c.reader)).catch(() => undefined),
      o.captures.stop(60, 2000),
      typeof o.watch === 'string' ? Promise.resolve([]) : o.watch.stop(),
    ])
    return {
      captures: results.map((r) => ({
        label: r.point.label,
        device: r.point.device,
        ok: r.ok,
        ...(r.error ? {error: r.error} : {}),
        aToB: r.aToB,
        bToA: r.bToA,
      })),
      counters: o.counters.map((c, i) => {
        const b = o.before?.[i]
        const a = after?.[i]
        return {
          label: c.label,
          deltas: a && b ? counterDeltas(c.label, b, a) : [],
          unresolved: (a?.neigh ?? []).filter((n) => n.state?.some((x) => x === 'INCOMPLETE' || x === 'FAILED')),
        }
      }),
      drops: summarizeDrops(events),
      notes: o.notes,
    }
  }

  /** Ends every session (the agent is stopping). */
  async close(): Promise<void> {
    await Promise.all([
      ...[...this.sessions.keys()].map((id) => this.stopListen(id).catch(() => undefined)),
      ...[...this.observations.keys()].map((id) => this.stopObserve(id).catch(() => undefined)),
    ])
  }
}
