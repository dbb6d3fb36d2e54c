/**
 * vpc backend: pod traffic leaves the node unencapsulated to the network's router (the node's default
 * route), and the router forwards it by a cloud route table (`POD_CIDR → node`), which the daemon
 * edits through the cloud's route-table API, as Kubernetes' route controller does with the
 * cloud-provider Routes interface (ListRoutes, CreateRoute, DeleteRoute).
 *
 * Who writes which route: each node's daemon writes the one route for its own pod CIDR, and removes
 * routes that send some other CIDR to it. No leader election is needed, a node that is gone stops
 * claiming its CIDR, and a daemon's credentials need to reach only the API, not every node. The cost is
 * that nobody removes a dead node's route (the route controller's job on a real cluster; the table's
 * quota bounds it). `read` therefore returns only the entries about this node, so the diff never
 * deletes another node's route.
 *
 * Every call is retried with exponential backoff on network errors, 429 and 5xx; what still fails
 * fails the reconcile, and the daemon's next pass (every --interval seconds) tries again. A CreateRoute
 * the table refuses because it is full (409, RouteLimitExceeded) will not pass on the next call
 * either: it is tried again after a delay that doubles from 2 s up to 12 s, so a full table is not
 * asked every pass, and a raised quota or a freed entry is used within 12 s plus one pass. Meanwhile
 * the pass reports the refusal as its error (in the log once per attempt, in /healthz and /diag).
 */
import {ANN_BACKEND_TYPE, ANN_NODE_IP, type PeerNode, type SkippedPeer} from '../annotations.js'
import type {LinkInfo} from '../kernel-state.js'
import type {ActualRoute, ActualState, Ownership} from '../model.js'
import type {Op} from '../reconcile.js'
import type {
  ApplyResult,
  Backend,
  DeviceStatus,
  LocalContext,
  LocalResult,
  OpError,
  PeerPlan,
  PlanContext,
  Programmer,
} from './backend.js'
import {parseJson} from '../../core/json.js'

/** The route table's entries in the router's kernel carry this proto (the lab's router; names.ts). */
export const VPC_ROUTE_PROTO = 206

/** A route as the API answers it (cloudprovider.Route). */
export interface VpcApiRoute {
  name: string
  targetNode: string
  targetIP?: string
  destinationCIDR: string
  blackhole: boolean
}

export interface VpcClientOptions {
  /** Base URL of the route-table API, e.g. http://198.18.0.1:8787 */
  url: string
  /** The `Authorization` header value (the daemon's own Kubernetes bearer token). */
  authorization: () => Promise<string | undefined>
  /** Attempts per call (1 = no retry). */
  attempts?: number
  backoffInitialMs?: number
  backoffMaxMs?: number
  timeoutMs?: number
  sleep?: (ms: number) => Promise<void>
}

export class VpcApiError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
  ) {
    super(message)
    this.name = 'VpcApiError'
  }
}

const retryable = (e: VpcApiError): boolean => e.status === undefined || e.status === 429 || e.status >= 500

/** The table refused a new entry because it holds its quota (the cloud's RouteLimitExceeded). */
export const isQuotaRefusal = (e: unknown): e is VpcApiError =>
  e instanceof VpcApiError && (e.status === 409 || /RouteLimitExceeded/.test(e.message))

/** When a CreateRoute refused for the quota is tried again: doubling from the first delay to the cap. */
export interface QuotaBackoff {
  initialMs: number
  maxMs: number
  now: () => number
}

const QUOTA_BACKOFF: QuotaBackoff = {initialMs: 2000, maxMs: 12_000, now: () => Date.now()}

/** The route-table API, with retries. */
export class VpcRouteClient {
  constructor(private readonly opts: VpcClientOptions) {}

  private async once(method: string, path: string, body?: unknown): Promise<unknown> {
    const auth = await this.opts.authorization()
    let res: Response
    try {
      res = await fetch(new URL(path, this.opts.url), {
        method,
        headers: {
          ...(auth ? {authorization: auth} : {}),
          ...(body === undefined ? {} : {'content-type': 'application/json'}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000),
      })
    } catch (error) {
      const cause = (error as {cause?: {code?: string}}).cause?.code
      throw new VpcApiError(`${method} ${path}: ${cause ?? (error as Error).message}`, undefined)
    }
    const text = await res.text()
    let json: unknown
    try {
      json = text ? parseJson(text) : undefined
    } catch {
      json = undefined
    }
    if (!res.ok) {
      const msg = (json as {error?: string} | undefined)?.error ?? text.slice(0, 200)
      throw new VpcApiError(`${method} ${path}: ${res.status} ${msg}`, res.status)
    }
    return json
  }

  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const attempts = this.opts.attempts ?? 4
    const sleep = this.opts.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)))
    let delay = this.opts.backoffInitialMs ?? 200
    for (let i = 1; ; i++) {
      try {
        return await this.once(method, path, body)
      } catch (error) {
        if (!(error instanceof VpcApiError) || !retryable(error) || i >= attempts) throw error
        await sleep(delay)
        delay = Math.min(delay * 2, this.opts.backoffMaxMs ?? 5000)
      }
    }
  }

  async listRoutes(): Promise<VpcApiRoute[]> {
    const r = (await this.call('GET', '/v1/routes')) as {routes?: VpcApiRoute[]} | undefined
    return r?.routes ?? []
  }

  async createRoute(targetNode: string, destinationCIDR: string): Promise<void> {
    await this.call('POST', '/v1/routes', {targetNode, destinationCIDR})
  }

  async deleteRoute(destinationCIDR: string, targetNode?: string): Promise<void> {
    const q = new URLSearchParams({destinationCIDR, ...(targetNode ? {targetNode} : {})})
    await this.call('DELETE', `/v1/routes?${q.toString()}`)
  }
}

/** The route table as the daemon's diff sees it: only the entries about this node. */
class VpcProgrammer implements Programmer {
  readonly target: string
  /** CreateRoutes the table refused for its quota, by CIDR: how often, and when to try again. */
  private readonly refused = new Map<string, {attempts: number; nextAt: number; message: string}>()

  constructor(
    private readonly client: VpcRouteClient,
    private readonly self: () => {name: string; podCIDR?: string; nodeIP?: string},
    url: string,
    private readonly backoff: QuotaBackoff,
  ) {
    this.target = `router:vpc ${url}`
  }

  async read(): Promise<ActualState> {
    const me = this.self()
    const routes: ActualRoute[] = (await this.client.listRoutes())
      .filter(
        (r) => r.destinationCIDR === me.podCIDR || r.targetNode === me.name || (me.nodeIP && r.targetIP === me.nodeIP),
      )
      .map((r) => ({
        dst: r.destinationCIDR,
        ...(r.targetIP ? {via: r.targetIP} : {}),
        dev: '',
        onlink: false,
        metric: 0,
        proto: String(VPC_ROUTE_PROTO),
        type: r.blackhole ? 'blackhole' : 'unicast',
        multipath: false,
      }))
    return {routes, neighs: [], fdbs: []}
  }

  async apply(ops: readonly Op[]): Promise<ApplyResult> {
    const errors: OpError[] = []
    let applied = 0
    let execs = 0
    const me = this.self()
    for (const op of ops) {
      if (op.kind !== 'route') continue
      const command =
        op.action === 'replace'
          ? `CreateRoute ${op.route.dst} → ${me.name}`
          : `DeleteRoute ${op.route.dst}${op.route.via ? ` (via ${op.route.via})` : ''}`
      const refused = op.action === 'replace' ? this.refused.get(op.route.dst) : undefined
      if (refused && this.backoff.now() < refused.nextAt) {
        // The table was full a moment ago: the same answer until the delay is over.
        errors.push({op, command, error: refused.message})
        continue
      }
      execs++
      try {
        if (op.action === 'replace') await this.client.createRoute(me.name, op.route.dst)
        else await this.client.deleteRoute(op.route.dst, op.route.dst === me.podCIDR ? undefined : me.name)
        applied++
        if (op.action === 'replace') this.refused.delete(op.route.dst)
      } catch (error) {
        // Gone already: what DeleteRoute wanted is true.
        if (op.action === 'del' && error instanceof VpcApiError && error.status === 404) applied++
        else if (op.action === 'replace' && isQuotaRefusal(error)) {
          const attempts = (refused?.attempts ?? 0) + 1
          const delay = Math.min(this.backoff.initialMs * 2 ** (attempts - 1), this.backoff.maxMs)
          const message = `refused, the route table is full (${error.message}); trying again in ${delay / 1000} s (attempt ${attempts}): raise the table's route quota or delete an entry no node uses`
          this.refused.set(op.route.dst, {attempts, nextAt: this.backoff.now() + delay, message})
          errors.push({op, command, error: message})
        } else errors.push({op, command, error: (error as Error).message})
      }
    }
    return {applied, errors, execs}
  }
}

export class VpcBackend implements Backend {
  readonly type = 'vpc'
  readonly ownership: Ownership = {routeProto: VPC_ROUTE_PROTO, neighDevs: [], fdbDevs: []}
  readonly programmer: Programmer
  private me: {name: string; podCIDR?: string; nodeIP?: string}

  constructor(opts: {nodeName: string; client: VpcRouteClient; url: string; quotaBackoff?: Partial<QuotaBackoff>}) {
    this.me = {name: opts.nodeName}
    this.programmer = new VpcProgrammer(opts.client, () => this.me, opts.url, {...QUOTA_BACKOFF, ...opts.quotaBackoff})
  }

  async ensureLocal(ctx: LocalContext): Promise<LocalResult> {
    this.me = {name: ctx.nodeName, podCIDR: ctx.podCIDR, nodeIP: ctx.underlay.ip}
    // No encapsulation: pods get the underlay MTU. The node's default route (to the router) is the
    // network's, not the daemon's.
    return {
      mtu: ctx.underlay.mtu,
      annotations: {[ANN_NODE_IP]: ctx.underlay.ip, [ANN_BACKEND_TYPE]: this.type},
      changes: [],
    }
  }

  /** One route, ours: this node's pod CIDR to this node. Peers need nothing on this node. */
  plan(self: PlanContext, peers: readonly PeerNode[]): {plans: PeerPlan[]; skipped: SkippedPeer[]} {
    const skipped = peers
      .filter((p) => p.backendType !== this.type)
      .map((p) => ({name: p.name, reason: `backend-type ${p.backendType}, this node runs ${this.type}`}))
    const peer: PeerNode = {
      name: self.name,
      podCIDR: self.podCIDR,
      nodeIP: self.nodeIP,
      backendType: this.type,
      annotations: {},
    }
    return {
      plans: [
        {
          peer,
          neighs: [],
          fdbs: [],
          routes: [{dst: self.podCIDR, via: self.nodeIP, dev: '', onlink: false, metric: 0}],
        },
      ],
      skipped,
    }
  }

  describeLocal(): DeviceStatus[] {
    return []
  }

  async teardownLocal(_netns: string | undefined, _links: readonly LinkInfo[]): Promise<string[]> {
    return []
  }
}
