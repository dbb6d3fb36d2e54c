/**
 * The reference node daemon (flanneld's role for cnidbg-ref): one per node. It watches Nodes and Pods,
 * writes this node's subnet file for the IPAM plugin, publishes its own data as `cnidbg.dev/*`
 * annotations, and keeps the channels to every other node programmed in the node's kernel.
 *
 * Level-triggered: every reconcile recomputes desired state from the informer cache and diffs it with
 * a fresh read of the kernel, so a missed event, a restart or a hand-made change all converge the same
 * way. It runs on every informer event and on every change `ip monitor` reports in the node's kernel
 * (kernel-watch.ts), so drift is repaired as it happens. A timer covers the rest: every
 * `reconcileIntervalMs` while the kernel is not watched or the backend's state lives elsewhere (a VPC
 * router, bird), and every `watchedIntervalMs` otherwise, for what no event shows.
 *
 * Where it acts: with `netns` set (a lab node) every command carries `-n <netns>`, the way `ip -n`
 * does; the process itself stays in its own namespace. Without `netns` it programs its own namespace,
 * which is what a real node wants, and only when `hostNetwork` is set explicitly.
 */
import {CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1Node, type V1Pod} from '../kube/client.js'
import {mkdirSync, readFileSync} from 'node:fs'

import {EnvironmentError, UsageError} from '../core/errors.js'
import {onCleanup} from '../process/cleanup.js'
import {netnsExists, netnsPath, runInNetns} from '../netns/netns.js'
import {
  annotationPatch,
  BACKEND_TYPES,
  type BackendType,
  nodePodCidr,
  ownAnnotations,
  selectPeers,
  type SkippedPeer,
} from './annotations.js'
import {type ApplyResult, kernelProgrammer, opArgs} from './apply.js'
import {type Backend, flattenPlans, type PeerPlan, type Programmer} from './backends/backend.js'
import {VpcBackend, VpcRouteClient} from './backends/vpc.js'
import {BgpBackend, type BgpDiag} from './backends/bgp.js'
import {HostGwBackend} from './backends/host-gw.js'
import {DEFAULT_VNI, DEFAULT_VXLAN_PORT, VxlanBackend} from './backends/vxlan.js'
import {type Authorize, type HttpServer, parseListen, startHttp} from './http.js'
import {apiReviewer, Gate, GateRefusal, type Reviewer} from '../kube/node-proxy-gate.js'
import {POLICY_MODES, PolicyEnforcer, type PolicyMode, type PolicyStatus} from './policy-enforcer.js'
import {surviveUnhandledRejections} from '../core/http.js'
import {type InformerStatus, WatchedCollection} from '../kube/informers.js'
import {contains, containsCIDR, formatIP, parseIP, parseNetwork} from '../core/ip.js'
import {type LinkInfo, type NodeSnapshot, readNode, type Underlay, underlayOf} from './kernel-state.js'
import {
  type ActualFdb,
  type ActualNeigh,
  type ActualRoute,
  type ActualState,
  describeFdb,
  describeNeigh,
  describeRoute,
  type Fdb,
  fdbKey,
  type Neigh,
  neighKey,
  type Route,
  routeKey,
} from './model.js'
import {
  compareFdb,
  compareNeigh,
  compareRoute,
  diff,
  isOwnedRoute,
  type ObjectStatus,
  type Op,
  type RouteConflict,
} from './reconcile.js'
import {redact} from '../kube/redact.js'
import {DEFAULT_STATE_DIR, isValidNodeName, nodeStateDir, removeListenFile, writeListenFile} from './state.js'
import {DEFAULT_SUBNET_FILE, readSubnetFile, writeSubnetFile} from './subnet-file.js'
import {KernelWatch, type KernelWatchStatus} from './kernel-watch.js'

export const DEFAULT_CLUSTER_CIDR = '10.244.0.0/16'
export const DEFAULT_IFACE = 'eth0'
export const DEFAULT_LISTEN = '127.0.0.1:0'
export const DEFAULT_RESYNC_SECONDS = 300
export const DEFAULT_RECONCILE_INTERVAL_MS = 3000
export const DEFAULT_WATCHED_INTERVAL_MS = 30_000
/**
 * The least time between the starts of two reconciles. Each one's own changes come back as kernel
 * events and ask for another (which finds all in sync); this keeps a fight with another program over
 * the same route from turning into a busy loop.
 */
const MIN_RECONCILE_GAP_MS = 200

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export type Logger = (level: LogLevel, msg: string) => void

export interface DaemonOptions {
  nodeName: string
  mode: BackendType
  /** Path of a kubeconfig file; ignored when `kubeConfig` is given. Neither = KUBECONFIG/in-cluster. */
  kubeconfigPath?: string
  kubeConfig?: KubeConfig
  /** The node's network namespace (lab). Without it the daemon acts on its own namespace. */
  netns?: string
  /** Required to run without `netns`: acting on the namespace the daemon runs in is deliberate. */
  hostNetwork?: boolean
  iface?: string
  clusterCidr?: string
  subnetFile?: string
  stateDir?: string
  /** HOST:PORT or unix:/path; false = no HTTP endpoints. */
  listen?: string | false
  /** Full relist of Nodes and Pods every this many seconds (0 = never). */
  resyncSeconds?: number
  /**
   * Drift check period while the kernel is not watched, and always for bgp and vpc (their state is not
   * all in the kernel).
   */
  reconcileIntervalMs?: number
  /** Drift check period while `ip monitor` reports the kernel's changes (vxlan, host-gw). */
  watchedIntervalMs?: number
  vni?: number
  vxlanPort?: number
  /** `--mode vpc`: base URL of the route-table API (backends/vpc.ts). */
  vpcApi?: string
  /** bgp: the cluster's AS (default 64512). */
  bgpAs?: number
  /** bgp: extra iBGP peers of this node (a router that must learn the pod CIDRs), IPv4 addresses. */
  bgpPeers?: string[]
  /** bgp: also peer with the next hop of each of this node's own routes on the underlay interface. */
  bgpPeerGateway?: boolean
  backoffInitialMs?: number
  backoffMaxMs?: number
  /**
   * NetworkPolicy enforcement (policy-enforcer.ts): `auto` (default) enforces when the API server
   * serves NetworkPolicies and stays off when it answers 404; `off` never touches the filter table.
   */
  networkPolicy?: PolicyMode
  log?: Logger
  /**
   * Who answers the gate on /diag (TokenReview, then SubjectAccessReview for `get nodes/proxy` on
   * this node): the API server the daemon watches by default, a double in tests.
   */
  reviewer?: Reviewer
}

export interface OpRecord {
  command: string
  reason: string
  error?: string
}

export interface ReconcileReport {
  at: string
  durationMs: number
  ok: boolean
  /** Why the reconcile stopped early, when it did (waiting for sync, no podCIDR…). */
  waiting?: string
  errors: string[]
  inSync: number
  ops: OpRecord[]
  conflicts: RouteConflict[]
  peers: number
  skippedPeers: SkippedPeer[]
  localChanges: string[]
}

export interface HealthReport {
  ok: boolean
  node: string
  mode: string
  informers: {nodes: InformerStatus; pods: InformerStatus}
  networkPolicy: PolicyStatus
  lastReconcile?: ReconcileReport
  lastSuccessAt?: string
  reconciles: number
  /** The `ip monitor` subscription: while `watching`, drift is repaired as the kernel reports it. */
  kernelWatch: KernelWatchStatus
}

/** Errors of the last reconcile that touched an object, by object key, for /diag. */
type ObjectErrors = Map<string, string>

function opObjectKey(op: Op): string {
  switch (op.kind) {
    case 'route':
      return `route|${routeKey(op.route)}`
    case 'neigh':
      return `neigh|${neighKey(op.neigh)}`
    case 'fdb':
      return `fdb|${fdbKey(op.fdb)}`
  }
}

function errorText(err: unknown): string {
  const e = err as {message?: string; body?: unknown; code?: number | string}
  const body = typeof e.body === 'string' ? e.body : e.body ? JSON.stringify(e.body) : ''
  return redact([e.message ?? String(err), body].filter(Boolean).join(': ')).slice(0, 1000)
}

/** Checks options and fills defaults. Throws UsageError/EnvironmentError (the command's exit codes). */
export function resolveOptions(
  opts: DaemonOptions,
): Required<Omit<DaemonOptions, 'kubeConfig' | 'kubeconfigPath' | 'netns' | 'log' | 'reviewer'>> &
  Pick<DaemonOptions, 'kubeConfig' | 'kubeconfigPath' | 'netns' | 'log' | 'reviewer'> {
  if (!isValidNodeName(opts.nodeName)) {
    throw new UsageError(`Invalid node name ${JSON.stringify(opts.nodeName)}.`, {
      code: 'BAD_NODE_NAME',
      suggestions: ['Use the Node object name: lower-case letters, digits, "-" and "."'],
    })
  }
  if (!(BACKEND_TYPES as readonly string[]).includes(opts.mode)) {
    throw new UsageError(`Unknown mode ${JSON.stringify(opts.mode)}.`, {
      code: 'BAD_MODE',
      suggestions: [`Use one of: ${BACKEND_TYPES.join(', ')}`],
    })
  }
  if (opts.mode === 'vpc' && !opts.vpcApi) {
    throw new UsageError('--mode vpc needs the route-table API: --vpc-api URL.', {
      code: 'NEEDS_VPC_API',
      suggestions: ['In a lab, `cnidbg lab status --json` gives router.apiUrl'],
    })
  }
  if (opts.vpcApi !== undefined && !/^https?:\/\/[A-Za-z0-9.:[\]-]+(?::\d+)?\/?$/.test(opts.vpcApi)) {
    throw new UsageError(`Invalid --vpc-api ${JSON.stringify(opts.vpcApi)}.`, {
      code: 'BAD_VPC_API',
      suggestions: ['Give a base URL: http://HOST:PORT'],
    })
  }
  if (opts.netns && opts.hostNetwork) {
    throw new UsageError('--netns and --host-network are exclusive.', {
      code: 'NETNS_AND_HOST_NETWORK',
      suggestions: ['A lab node is a namespace: pass --netns. A real node: pass --host-network.'],
    })
  }
  if (!opts.netns && !opts.hostNetwork) {
    throw new UsageError('Refusing to program the namespace cnidbg runs in without --host-network.', {
      code: 'NEEDS_NETNS',
      suggestions: [
        'For a lab node, pass its namespace: --netns cnidbg-lab-…',
        'On a real node (the daemon runs in the host network namespace), pass --host-network.',
      ],
    })
  }
  if (opts.netns && !netnsExists(opts.netns)) {
    throw new EnvironmentError(`Network namespace ${opts.netns} does not exist.`, {
      code: 'NO_SUCH_NETNS',
      suggestions: ['List them with: ip netns list'],
    })
  }
  const iface = opts.iface ?? DEFAULT_IFACE
  if (!/^[A-Za-z0-9_.@-]{1,15}$/.test(iface)) {
    throw new UsageError(`Invalid interface name ${JSON.stringify(iface)}.`, {code: 'BAD_IFACE', suggestions: []})
  }
  const clusterCidr = opts.clusterCidr ?? DEFAULT_CLUSTER_CIDR
  if (!parseNetwork(clusterCidr, {family: 4})) {
    throw new UsageError(`Invalid cluster CIDR ${JSON.stringify(clusterCidr)}.`, {
      code: 'BAD_CLUSTER_CIDR',
      suggestions: ['Give an IPv4 network with its host bits zero, e.g. 10.244.0.0/16'],
    })
  }
  const listen = opts.listen ?? DEFAULT_LISTEN
  if (listen !== false && !parseListen(listen)) {
    throw new UsageError(`Invalid --listen ${JSON.stringify(listen)}.`, {
      code: 'BAD_LISTEN',
      suggestions: ['Use HOST:PORT (e.g. 127.0.0.1:0 for any free port) or unix:/absolute/path'],
    })
  }
  const networkPolicy = opts.networkPolicy ?? 'auto'
  if (!(POLICY_MODES as readonly string[]).includes(networkPolicy)) {
    throw new UsageError(`Unknown NetworkPolicy mode ${JSON.stringify(networkPolicy)}.`, {
      code: 'BAD_NETWORK_POLICY',
      suggestions: [`Use one of: ${POLICY_MODES.join(', ')}`],
    })
  }
  const vni = opts.vni ?? DEFAULT_VNI
  if (!Number.isInteger(vni) || vni < 1 || vni > 0xffffff) {
    throw new UsageError(`Invalid VNI ${vni}.`, {code: 'BAD_VNI', suggestions: ['1 … 16777215']})
  }
  const bgpPeers = (opts.bgpPeers ?? []).map((text) => {
    const a = parseIP(text)
    if (!a || a.family !== 4)
      throw new UsageError(`Invalid --bgp-peer ${JSON.stringify(text)}.`, {
        code: 'BAD_BGP_PEER',
        suggestions: ['Give the IPv4 address of the BGP peer, e.g. 198.18.0.254'],
      })
    return formatIP(a)
  })
  const bgpAs = opts.bgpAs ?? 64512
  if (!Number.isInteger(bgpAs) || bgpAs < 1 || bgpAs > 4_294_967_294) {
    throw new UsageError(`Invalid AS number ${bgpAs}.`, {code: 'BAD_BGP_AS', suggestions: ['1 … 4294967294']})
  }
  return {
    ...opts,
    iface,
    clusterCidr,
    listen,
    vni,
    bgpPeers,
    bgpAs,
    bgpPeerGateway: opts.bgpPeerGateway ?? false,
    networkPolicy,
    hostNetwork: opts.hostNetwork ?? false,
    subnetFile: opts.subnetFile ?? DEFAULT_SUBNET_FILE,
    stateDir: opts.stateDir ?? DEFAULT_STATE_DIR,
    resyncSeconds: opts.resyncSeconds ?? DEFAULT_RESYNC_SECONDS,
    reconcileIntervalMs: opts.reconcileIntervalMs ?? DEFAULT_RECONCILE_INTERVAL_MS,
    watchedIntervalMs: opts.watchedIntervalMs ?? DEFAULT_WATCHED_INTERVAL_MS,
    vxlanPort: opts.vxlanPort ?? DEFAULT_VXLAN_PORT,
    backoffInitialMs: opts.backoffInitialMs ?? 1000,
    backoffMaxMs: opts.backoffMaxMs ?? 30_000,
    vpcApi: opts.vpcApi ?? '',
  }
}

export class NodeDaemon {
  readonly opts: ReturnType<typeof resolveOptions>
  readonly backend: Backend
  readonly programmer: Programmer
  readonly nodeDir: string
  private readonly kc: KubeConfig
  private readonly core: CoreV1Api
  private readonly nodes: WatchedCollection<V1Node>
  private readonly pods: WatchedCollection<V1Pod>
  readonly policy: PolicyEnforcer
  private http: HttpServer | undefined
  private timer: NodeJS.Timeout | undefined
  private debounce: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private dirty = false
  private started = false
  private stopping = false
  private last: ReconcileReport | undefined
  private lastSuccessAt: string | undefined
  private reconciles = 0
  private lastStartedAt = 0
  private readonly watch: KernelWatch
  private objectErrors: ObjectErrors = new Map()
  private lastPatch: {json: string; at: number} | undefined
  private patchBackoffUntil = 0
  private patchFailures = 0

  constructor(options: DaemonOptions) {
    this.opts = resolveOptions(options)
    this.nodeDir = nodeStateDir(this.opts.stateDir, this.opts.nodeName)
    this.kc = this.opts.kubeConfig ?? new KubeConfig()
    if (!this.opts.kubeConfig) {
      if (this.opts.kubeconfigPath) this.kc.loadFromFile(this.opts.kubeconfigPath)
      else this.kc.loadFromDefault()
    }
    this.backend = this.makeBackend()
    this.programmer = this.backend.programmer ?? kernelProgrammer(this.opts.netns, this.backend.ownership)
    if (!this.kc.getCurrentCluster()) {
      throw new UsageError('The kubeconfig has no current cluster.', {
        code: 'NO_CLUSTER',
        suggestions: ['Check current-context in the kubeconfig, or pass --kubeconfig'],
      })
    }
    this.core = this.kc.makeApiClient(CoreV1Api)
    const common = {
      onChange: () => this.requestReconcile(),
      log: (m: string) => this.log('warn', m),
      backoffInitialMs: this.opts.backoffInitialMs,
      backoffMaxMs: this.opts.backoffMaxMs,
      resyncMs: this.opts.resyncSeconds * 1000,
    }
    this.nodes = new WatchedCollection<V1Node>(this.kc, '/api/v1/nodes', () => this.core.listNode(), common)
    this.pods = new WatchedCollection<V1Pod>(
      this.kc,
      '/api/v1/pods',
      () => this.core.listPodForAllNamespaces(),
      // Pods feed /diag and NetworkPolicy: no route reconcile on pod events.
      {...common, onChange: () => this.policy.request()},
    )
    this.policy = new PolicyEnforcer({
      kc: this.kc,
      nodeName: this.opts.nodeName,
      netns: this.opts.netns,
      mode: this.opts.networkPolicy,
      pods: () => this.pods.list(),
      podsSynced: () => this.pods.synced,
      log: (level, m) => this.log(level, m),
      informer: {
        backoffInitialMs: this.opts.backoffInitialMs,
        backoffMaxMs: this.opts.backoffMaxMs,
        resyncMs: this.opts.resyncSeconds * 1000,
      },
    })
    const own = this.backend.ownership
    this.watch = new KernelWatch({
      netns: this.opts.netns,
      scope: {
        devices: [...new Set([...own.neighDevs, ...own.fdbDevs, this.opts.iface])],
        neighDevs: own.neighDevs,
        fdbDevs: own.fdbDevs,
        routeProto: own.routeProto,
      },
      onChange: () => this.requestReconcile(),
      log: (m) => this.log('warn', m),
      backoffInitialMs: this.opts.backoffInitialMs,
      backoffMaxMs: this.opts.backoffMaxMs,
    })
  }

  /**
   * Whether what the daemon keeps is all in the node's kernel, so that `ip monitor` sees every change
   * of it (vxlan, host-gw). Not so for a VPC router's table or bird's process and sessions: those
   * backends are checked on the timer, and their kernels (a whole BGP table, in bgp mode) not watched.
   */
  private kernelOnly(): boolean {
    return this.backend.programmer === undefined && this.backend.sync === undefined
  }

  /**
   * Whether the timer has to look every --interval: the state is not all in the kernel, or nothing
   * reports its changes.
   */
  private polled(): boolean {
    return !this.kernelOnly() || !this.watch.live
  }

  private makeBackend(): Backend {
    switch (this.opts.mode) {
      case 'vxlan':
        return new VxlanBackend({vni: this.opts.vni, port: this.opts.vxlanPort, stateDir: this.nodeDir})
      case 'host-gw':
        return new HostGwBackend()
      case 'bgp':
        return new BgpBackend({
          nodeDir: this.nodeDir,
          netns: this.opts.netns,
          iface: this.opts.iface,
          asn: this.opts.bgpAs,
          globalPeers: this.opts.bgpPeers,
          peerGateway: this.opts.bgpPeerGateway,
          log: (m) => this.log('info', m),
        })
      case 'vpc': {
        const url = this.opts.vpcApi
        // The daemon's own Kubernetes identity authenticates it to the cloud API (TokenReview there).
        const kc = this.kc
        const authorization = async () => {
          const init = await kc.applyToFetchOptions({})
          // A Headers object, though not necessarily this runtime's class: asked through its get().
          const h = init.headers as {get?: (k: string) => string | null} | Record<string, string> | undefined
          if (typeof h?.get === 'function') return h.get('authorization') ?? undefined
          const rec = h as Record<string, string> | undefined
          return rec?.Authorization ?? rec?.authorization
        }
        return new VpcBackend({nodeName: this.opts.nodeName, url, client: new VpcRouteClient({url, authorization})})
      }
    }
  }

  private log(level: LogLevel, msg: string): void {
    this.opts.log?.(level, msg)
  }

  /** The HTTP address actually bound (`127.0.0.1:41234`, `unix:/…`), once started. */
  get address(): string | undefined {
    return this.http?.address
  }

  get lastReconcile(): ReconcileReport | undefined {
    return this.last
  }

  /** The gate on /diag and the full /healthz: a bearer token allowed `get nodes/proxy` on this node. */
  private diagGate(): Authorize {
    const gate = new Gate(this.opts.reviewer ?? apiReviewer(this.kc), {node: this.opts.nodeName})
    return async (authorization) => {
      try {
        await gate.authorize(await gate.authenticate(authorization), 'get')
        return undefined
      } catch (e) {
        if (e instanceof GateRefusal) return {status: e.status, error: e.message}
        throw e
      }
    }
  }

  /** Starts watching, serving and reconciling. Returns at once; convergence is asynchronous. */
  async start(): Promise<void> {
    if (this.started) return
    this.started = true
    this.stopping = false
    mkdirSync(this.nodeDir, {recursive: true, mode: 0o700})
    const where = this.opts.netns ? `netns ${this.opts.netns}` : 'its own network namespace'
    this.log('info', `node ${this.opts.nodeName}: ${this.opts.mode} on ${this.opts.iface} in ${where}`)
    this.nodes.start()
    this.pods.start()
    this.policy.start()
    if (this.opts.listen !== false) {
      try {
        this.http = await startHttp(
          this.opts.listen,
          {
            // The whole report names peers, pod CIDRs, node IPs, routes and policies: only for a caller
            // the gate let in (the lab's supervisor, a person). A probe learns whether the daemon is ok.
            '/healthz': async ({authorized}) => {
              const h = this.health()
              return {status: h.ok ? 200 : 503, body: authorized ? h : {ok: h.ok}}
            },
            '/diag': async () => ({status: 200, body: await this.diag()}),
          },
          {log: (line) => this.log('error', line), authorize: this.diagGate()},
        )
      } catch (error) {
        // The watches started above would otherwise keep the process alive, retrying, after the error.
        await this.stop()
        throw error
      }
      writeListenFile(this.nodeDir, this.http.address)
      this.log('info', `serving /healthz and /diag on ${this.http.address}`)
    }
    // Subscribed before the first read, so no change after that read goes unseen.
    if (this.kernelOnly()) this.watch.start()
    this.timer = setInterval(() => {
      if (this.polled() || Date.now() - this.lastStartedAt >= this.opts.watchedIntervalMs) this.requestReconcile(0)
      this.policy.tick()
    }, this.opts.reconcileIntervalMs)
    this.requestReconcile(0)
  }

  /**
   * Stops watching and serving. The kernel state stays (pods keep their network while the daemon
   * restarts, as with flannel) unless `teardown` is set, which removes every object the daemon owns.
   */
  async stop(opts: {teardown?: boolean} = {}): Promise<void> {
    if (!this.started) return
    this.stopping = true
    if (this.timer) clearInterval(this.timer)
    if (this.debounce) clearTimeout(this.debounce)
    this.timer = this.debounce = undefined
    await this.running
    await Promise.all([
      this.nodes.stop(),
      this.pods.stop(),
      this.policy.stop({teardown: opts.teardown}),
      this.watch.stop(),
    ])
    if (this.http) {
      await this.http.close()
      removeListenFile(this.nodeDir)
      this.http = undefined
    }
    if (opts.teardown) await this.teardown()
    this.started = false
  }

  /** Removes every route, neighbour, FDB entry and device the daemon owns on this node. */
  async teardown(): Promise<string[]> {
    const {links, state} = await readNode(this.opts.netns, this.backend.ownership)
    // A speaker goes first: stopped, it withdraws nothing from this node's kernel (persist), so the
    // diff below removes what it had installed.
    const speaker = this.backend instanceof BgpBackend
    if (speaker) await (this.backend as BgpBackend).speaker.stop()
    // bgp's routes are in this node's kernel: read and removed there, not through bird.
    const external = this.backend.programmer && !speaker ? this.backend.programmer : undefined
    const actual = external ? await external.read() : state
    const plan = diff({routes: [], neighs: [], fdbs: []}, actual, this.backend.ownership)
    const res = await (external ?? kernelProgrammer(this.opts.netns, this.backend.ownership)).apply(plan.ops)
    const removed = [
      ...plan.ops.map((o) => opArgs(o, this.backend.ownership.routeProto).join(' ')),
      ...(await this.backend.teardownLocal(this.opts.netns, links)),
    ]
    for (const e of res.errors) this.log('warn', `teardown: ${e.command}: ${e.error}`)
    return removed
  }

  /** Schedules a reconcile (coalescing bursts of watch events). */
  requestReconcile(delayMs = 50): void {
    if (!this.started || this.stopping) return
    this.dirty = true
    if (this.running) return
    if (this.debounce) {
      if (delayMs > 0) return
      clearTimeout(this.debounce)
    }
    this.debounce = setTimeout(() => {
      this.debounce = undefined
      void this.runLoop()
    }, delayMs)
    this.debounce.unref()
  }

  /** Runs one reconcile now (after any in flight) and returns its report. */
  async reconcileNow(): Promise<ReconcileReport> {
    while (this.running) await this.running
    this.running = this.reconcileOnce().finally(() => (this.running = undefined))
    await this.running
    return this.last!
  }

  private async runLoop(): Promise<void> {
    if (this.running) return
    this.running = (async () => {
      while (this.dirty && !this.stopping) {
        const wait = this.lastStartedAt + MIN_RECONCILE_GAP_MS - Date.now()
        if (wait > 0) await new Promise((r) => setTimeout(r, wait))
        if (this.stopping) break
        this.dirty = false
        await this.reconcileOnce()
      }
    })().finally(() => (this.running = undefined))
    await this.running
  }

  private async reconcileOnce(): Promise<void> {
    const started = performance.now()
    this.lastStartedAt = Date.now()
    const report: ReconcileReport = {
      at: new Date().toISOString(),
      durationMs: 0,
      ok: false,
      errors: [],
      inSync: 0,
      ops: [],
      conflicts: [],
      peers: 0,
      skippedPeers: [],
      localChanges: [],
    }
    try {
      await this.reconcileInto(report)
    } catch (error) {
      report.errors.push(errorText(error))
    }
    report.ok = report.errors.length === 0 && report.waiting === undefined
    report.durationMs = Math.round(performance.now() - started)
    this.reconciles++
    if (report.ok) this.lastSuccessAt = report.at
    const prev = this.last
    this.last = report
    this.log('debug', `reconcile ${report.ok ? 'ok' : 'not ok'} in ${report.durationMs} ms, ${report.ops.length} ops`)
    // Log transitions and changes, not every quiet tick.
    if (report.waiting && report.waiting !== prev?.waiting) this.log('info', `waiting: ${report.waiting}`)
    for (const e of report.errors) if (!prev?.errors.includes(e)) this.log('error', e)
    if (report.ok && prev && !prev.ok) this.log('info', `reconcile ok (${report.peers} peers)`)
  }

  private async reconcileInto(report: ReconcileReport): Promise<void> {
    const name = this.opts.nodeName
    if (!this.nodes.synced) {
      report.waiting = 'Node informer has not listed yet (API server unreachable?)'
      return
    }
    const own = this.nodes.get(name)
    if (!own) {
      report.waiting = `Node ${name} not found in the API server`
      return
    }
    const podCIDR = nodePodCidr(own)
    if (!podCIDR) {
      report.waiting = `Node ${name} has no IPv4 spec.podCIDR yet`
      return
    }
    if (!containsCIDR(parseNetwork(this.opts.clusterCidr)!, parseNetwork(podCIDR)!)) {
      report.errors.push(`podCIDR ${podCIDR} of node ${name} is outside the cluster CIDR ${this.opts.clusterCidr}`)
      return
    }
    let snap: NodeSnapshot = await readNode(this.opts.netns, this.backend.ownership)
    const underlay = underlayOf(snap.links, this.opts.iface)
    if ('error' in underlay) {
      report.errors.push(`underlay: ${underlay.error}${this.opts.netns ? ` in netns ${this.opts.netns}` : ''}`)
      return
    }
    const local = await this.backend.ensureLocal({
      nodeName: name,
      netns: this.opts.netns,
      podCIDR,
      underlay,
      links: snap.links,
      ownAnnotations: ownAnnotations(own),
      log: (m) => this.log('info', m),
    })
    report.localChanges = local.changes
    for (const c of local.changes) this.log('info', c)
    // A recreated VTEP took its neighbours and FDB entries (and the routes through it) with it.
    if (local.changes.length > 0) snap = await readNode(this.opts.netns, this.backend.ownership)

    if (writeSubnetFile(this.opts.subnetFile, {network: this.opts.clusterCidr, subnet: podCIDR, mtu: local.mtu})) {
      this.log('info', `wrote ${this.opts.subnetFile}: subnet ${podCIDR}, mtu ${local.mtu}`)
    }
    await this.publish(own, local.annotations, report)

    const self = {name, podCIDR, nodeIP: underlay.ip}
    const {peers, skipped} = selectPeers(self, this.nodes.list())
    const planCtx = {...self, underlay, labels: {...own.metadata?.labels}}
    const {plans, skipped: unusable} = this.backend.plan(planCtx, peers)
    report.peers = plans.length
    report.skippedPeers = [...skipped, ...unusable]
    if (this.backend.sync) {
      const changes = await this.backend.sync({self: planCtx, plans})
      report.localChanges.push(...changes)
      for (const c of changes) this.log('info', c)
    }

    const actual = this.backend.programmer ? await this.backend.programmer.read() : snap.state
    const plan = diff(flattenPlans(plans), actual, this.backend.ownership)
    report.inSync = plan.inSync
    report.conflicts = plan.conflicts
    for (const c of plan.conflicts.filter((x) => x.blocking)) {
      report.errors.push(`route ${c.dst} not installed: a foreign route has it (${c.foreign.join('; ')})`)
    }
    const errors: ObjectErrors = new Map()
    if (plan.ops.length > 0) {
      const res: ApplyResult = await this.programmer.apply(plan.ops)
      const failed = new Map(res.errors.map((e) => [e.op, e]))
      for (const op of plan.ops) {
        const err = failed.get(op)
        // An external router's programmer names its own call (CreateRoute …), not an `ip` command.
        const command =
          this.backend.programmer && err?.command
            ? err.command
            : opArgs(op, this.backend.ownership.routeProto).join(' ')
        report.ops.push({command, reason: op.reason, error: err?.error})
        if (err) {
          errors.set(opObjectKey(op), err.error)
          report.errors.push(`${command}: ${err.error}`)
        } else {
          this.log('info', `${command}  (${op.reason})`)
        }
      }
    }
    this.objectErrors = errors
  }

  /** Patches our managed annotations when the API server's copy differs (merge patch, with backoff). */
  private async publish(own: V1Node, want: Record<string, string>, report: ReconcileReport): Promise<void> {
    const patch = annotationPatch(ownAnnotations(own), want)
    if (!patch) {
      this.patchFailures = 0
      return
    }
    const json = JSON.stringify(patch)
    const now = Date.now()
    // The watch may not have delivered our last patch yet: don't repeat an identical one at once.
    if (this.lastPatch?.json === json && now - this.lastPatch.at < 10_000) return
    if (now < this.patchBackoffUntil) {
      report.errors.push('annotations not published yet (API server errors; retrying)')
      return
    }
    try {
      await this.core.patchNode(
        {name: this.opts.nodeName, body: patch},
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      this.lastPatch = {json, at: now}
      this.patchFailures = 0
      this.log('info', `published ${Object.keys(patch.metadata.annotations).join(', ')}`)
    } catch (error) {
      this.patchFailures++
      this.patchBackoffUntil = now + Math.min(30_000, 500 * 2 ** this.patchFailures)
      report.errors.push(`patching Node ${this.opts.nodeName} annotations: ${errorText(error)}`)
    }
  }

  health(): HealthReport {
    const nodes = this.nodes.status()
    const pods = this.pods.status()
    return {
      ok: nodes.synced && pods.synced && Boolean(this.last?.ok) && this.policy.ok,
      node: this.opts.nodeName,
      mode: this.opts.mode,
      informers: {nodes, pods},
      networkPolicy: this.policy.status(),
      lastReconcile: this.last,
      lastSuccessAt: this.lastSuccessAt,
      reconciles: this.reconciles,
      kernelWatch: this.watch.status(),
    }
  }

  /** Resolves once /healthz would say ok, or rejects after `timeoutMs`. */
  async waitHealthy(timeoutMs = 30_000): Promise<HealthReport> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const h = this.health()
      if (h.ok) return h
      if (Date.now() > deadline) {
        const why = h.lastReconcile?.waiting ?? h.lastReconcile?.errors.join('; ') ?? 'no reconcile yet'
        throw new Error(`daemon for ${this.opts.nodeName} not healthy after ${timeoutMs} ms: ${why}`)
      }
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  /** The read-only diagnostics `/diag` serves: expected vs actual per peer, read live from the kernel. */
  async diag(): Promise<DiagReport> {
    return buildDiag(this, {
      nodes: this.nodes.list(),
      pods: this.pods.list(),
      objectErrors: this.objectErrors,
      health: this.health(),
    })
  }
}

// -----------------------------------------------------------------------------------------------
// The service the `cnidbg ref daemon` command calls.

export interface RunDaemonOptions extends DaemonOptions {
  /** Reconcile until healthy (or `onceTimeoutMs`), report, stop: for scripts and CI. */
  once?: boolean
  onceTimeoutMs?: number
}

export interface RunDaemonResult {
  node: string
  mode: string
  address: string | null
  healthy: boolean
  /** Why it is not healthy, when it is not. */
  problem?: string
  diag: DiagReport
}

/**
 * Runs a daemon. Without `once` it never returns: it serves until SIGINT/SIGTERM, when the process
 * cleanup stops it (the kernel state stays, as flannel leaves it across restarts).
 */
export async function runNodeDaemon(opts: RunDaemonOptions): Promise<RunDaemonResult> {
  const d = new NodeDaemon(opts)
  const unregister = onCleanup(`node daemon ${opts.nodeName}`, () => d.stop())
  await d.start()
  if (!opts.once) {
    // Runs for the node's lifetime: a stray rejection is logged, not the end of the node's network.
    surviveUnhandledRejections((line) => opts.log?.('error', line))
    return new Promise<never>(() => {})
  }
  let problem: string | undefined
  try {
    await d.waitHealthy(opts.onceTimeoutMs ?? 60_000)
  } catch (error) {
    problem = (error as Error).message
  }
  const diag = await d.diag()
  const address = d.address ?? null
  await d.stop()
  unregister()
  return {node: opts.nodeName, mode: opts.mode, address, healthy: !problem, problem, diag}
}

// -----------------------------------------------------------------------------------------------
// /diag

/**
 * One peer in /diag. `expected` and `actual` hold the objects themselves (the shapes of model.ts:
 * route {dst, via, dev, onlink, metric[, proto]}, neigh {ip, mac, dev[, state]}, fdb {mac, dst,
 * dev[, state]}); `checks` says per object whether they agree. `actual.route` also lists foreign
 * routes to the same destination, which is what a conflict looks like.
 */
export interface DiagPeer {
  node: string
  nodeIP: string
  podCIDR: string
  backendType: string
  vtepMac?: string
  /** ok: every object present and correct; degraded: something missing/stale/failed. */
  status: 'ok' | 'degraded'
  expected: {route: Route[]; neigh: Neigh[]; fdb: Fdb[]}
  actual: {route: ActualRoute[]; neigh: ActualNeigh[]; fdb: ActualFdb[]}
  checks: Array<{
    object: 'route' | 'neigh' | 'fdb'
    /** The object in `ip`/`bridge` syntax. */
    expected: string
    status: ObjectStatus
    detail?: string
    /** The last reconcile's error programming it, if any. */
    lastError?: string
  }>
}

export interface DiagReport {
  schemaVersion: 1
  generatedAt: string
  node: string
  mode: string
  netns: string | null
  iface: string
  nodeIP: string | null
  podCIDR: string | null
  clusterCIDR: string
  podMTU: number | null
  routeProto: number
  underlay: Underlay | {error: string}
  vtep: {
    name: string
    present: boolean
    mac?: string
    mtu?: number
    state: string
    addresses?: string[]
    details?: Record<string, unknown>
  } | null
  subnetFile: {path: string; content: ReturnType<typeof readSubnetFile> | null}
  annotations: {published: Record<string, string>}
  peers: DiagPeer[]
  skippedPeers: SkippedPeer[]
  kernel: {
    ownedRoutes: ActualRoute[]
    neighs: ActualNeigh[]
    fdbs: ActualFdb[]
    /** Owned objects no peer accounts for (a reconcile will remove them). */
    unexpected: string[]
    routeConflicts: RouteConflict[]
    error?: string
  }
  sysctls: Record<string, string>
  /** bgp mode: the speaker and its sessions, read live from its control socket; null otherwise. */
  bgp: BgpDiag | null
  pods: Array<{namespace: string; name: string; ip: string | null; hostNetwork: boolean; inPodCIDR: boolean | null}>
  informers: HealthReport['informers']
  /** Enforcement state and the last compile (policy-enforcer.ts). */
  networkPolicy: PolicyStatus & ReturnType<PolicyEnforcer['summary']>
  healthy: boolean
  lastReconcile: ReconcileReport | null
  lastSuccessAt: string | null
}

interface DiagInputs {
  nodes: readonly V1Node[]
  pods: readonly V1Pod[]
  objectErrors: ObjectErrors
  health: HealthReport
}

async function readSysctls(netns: string | undefined, names: string[]): Promise<Record<string, string>> {
  const files = names.map((n) => `/proc/sys/${n.replaceAll('.', '/')}`)
  // One process, and grep -H names each value; a missing file (no such device yet) is just absent.
  const r = netns ? await runInNetns(netnsPath(netns), 'grep', ['-H', '', ...files], {timeoutMs: 10_000}) : undefined
  const out: Record<string, string> = {}
  if (r) {
    for (const line of r.stdout.split('\n')) {
      const i = line.lastIndexOf(':')
      if (i > 0) out[line.slice('/proc/sys/'.length, i).replaceAll('/', '.')] = line.slice(i + 1).trim()
    }
    return out
  }
  for (const [i, f] of files.entries()) {
    try {
      out[names[i]!] = readFileSync(f, 'utf8').trim()
    } catch {
      // absent
    }
  }
  return out
}

async function buildDiag(d: NodeDaemon, input: DiagInputs): Promise<DiagReport> {
  const o = d.opts
  const own = input.nodes.find((n) => n.metadata?.name === o.nodeName)
  const podCIDR = own ? (nodePodCidr(own) ?? null) : null
  let links: LinkInfo[] = []
  let actual: ActualState = {routes: [], neighs: [], fdbs: []}
  let kernelError: string | undefined
  const sysctlNames = ['net.ipv4.ip_forward', 'net.ipv4.conf.all.rp_filter', `net.ipv4.conf.${o.iface}.rp_filter`]
  sysctlNames.push(...d.backend.ownership.neighDevs.map((dev) => `net.ipv4.conf.${dev}.rp_filter`))
  const [snap, sysctls] = await Promise.all([
    readNode(o.netns, d.backend.ownership).catch((error: unknown) => errorText(error)),
    readSysctls(o.netns, sysctlNames).catch(() => ({})),
  ])
  if (typeof snap === 'string') kernelError = snap
  else {
    links = snap.links
    actual = snap.state
    if (d.backend.programmer) {
      try {
        actual = await d.backend.programmer.read()
      } catch (error) {
        kernelError = errorText(error)
      }
    }
  }
  const underlay = underlayOf(links, o.iface)
  const vtep = d.backend.describeLocal(links)[0] ?? null
  const own_ = d.backend.ownership
  let plans: PeerPlan[] = []
  let skipped: SkippedPeer[] = []
  let conflicts: RouteConflict[] = []
  let unexpected: string[] = []
  if (podCIDR && !('error' in underlay)) {
    const self = {name: o.nodeName, podCIDR, nodeIP: underlay.ip}
    const sel = selectPeers(self, input.nodes)
    const planned = d.backend.plan({...self, underlay}, sel.peers)
    plans = planned.plans
    skipped = [...sel.skipped, ...planned.skipped]
    const p = diff(flattenPlans(plans), actual, own_)
    conflicts = p.conflicts
    unexpected = p.ops.filter((op) => op.action === 'del').map((op) => opArgs(op, own_.routeProto).slice(2).join(' '))
  }
  const peers: DiagPeer[] = plans.map((p) => {
    const checks: DiagPeer['checks'] = []
    const actualOf: DiagPeer['actual'] = {route: [], neigh: [], fdb: []}
    for (const n of p.neighs) {
      const c = compareNeigh(n, actual)
      actualOf.neigh.push(...c.actual)
      const error = input.objectErrors.get(`neigh|${neighKey(n)}`)
      checks.push({
        object: 'neigh',
        expected: `${describeNeigh(n)} nud permanent`,
        status: c.status,
        detail: c.detail,
        lastError: error,
      })
    }
    for (const f of p.fdbs) {
      const c = compareFdb(f, actual)
      actualOf.fdb.push(...c.actual)
      const error = input.objectErrors.get(`fdb|${fdbKey(f)}`)
      checks.push({
        object: 'fdb',
        expected: `${describeFdb(f)} self permanent`,
        status: c.status,
        detail: c.detail,
        lastError: error,
      })
    }
    for (const r of p.routes) {
      const c = compareRoute(r, actual, own_)
      actualOf.route.push(...c.actual)
      const error = input.objectErrors.get(`route|${routeKey(r)}`)
      checks.push({
        object: 'route',
        expected: `${describeRoute(r)} proto ${own_.routeProto}`,
        status: c.status,
        detail: c.detail,
        lastError: error,
      })
    }
    return {
      node: p.peer.name,
      nodeIP: p.peer.nodeIP,
      podCIDR: p.peer.podCIDR,
      backendType: p.peer.backendType,
      vtepMac: p.fdbs[0]?.mac,
      status: checks.every((c) => c.status === 'ok' && !c.lastError) ? 'ok' : 'degraded',
      expected: {route: p.routes, neigh: p.neighs, fdb: p.fdbs},
      actual: actualOf,
      checks,
    }
  })
  const cidr = podCIDR ? parseNetwork(podCIDR) : undefined
  const pods = input.pods
    .filter((p) => p.spec?.nodeName === o.nodeName)
    .map((p) => {
      const ip = p.status?.podIP ?? null
      const n = ip ? parseIP(ip) : undefined
      return {
        namespace: p.metadata?.namespace ?? '',
        name: p.metadata?.name ?? '',
        ip,
        hostNetwork: Boolean(p.spec?.hostNetwork),
        inPodCIDR: cidr && n !== undefined ? contains(cidr, n) : null,
      }
    })
  const last = input.health.lastReconcile ?? null
  const subnet = readSubnetFile(o.subnetFile) ?? null
  let bgp: BgpDiag | null = null
  if (d.backend instanceof BgpBackend) {
    await d.backend.refreshSessions()
    bgp = d.backend.diag()
  }
  return {
    schemaVersion: 1,
    generatedAt: new Date().toISOString(),
    node: o.nodeName,
    mode: o.mode,
    netns: o.netns ?? null,
    iface: o.iface,
    nodeIP: 'error' in underlay ? null : underlay.ip,
    podCIDR,
    clusterCIDR: o.clusterCidr,
    podMTU: subnet?.mtu ?? null,
    routeProto: own_.routeProto,
    underlay,
    vtep: vtep ? {...vtep} : null,
    subnetFile: {path: o.subnetFile, content: subnet},
    annotations: {published: own ? ownAnnotations(own) : {}},
    peers,
    skippedPeers: skipped,
    kernel: {
      ownedRoutes: actual.routes.filter((r) => isOwnedRoute(r, own_)),
      neighs: actual.neighs.filter((n) => own_.neighDevs.includes(n.dev)),
      fdbs: actual.fdbs,
      unexpected,
      routeConflicts: conflicts,
      error: kernelError,
    },
    sysctls,
    bgp,
    pods,
    informers: input.health.informers,
    networkPolicy: {...input.health.networkPolicy, ...d.policy.summary()},
    healthy: input.health.ok,
    lastReconcile: last,
    lastSuccessAt: input.health.lastSuccessAt ?? null,
  }
}
