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
 * fails the reconcile, and the daemon's next pass (every --interval seconds) tries again.
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
      json = text ? JSON.parse(text) : undefined
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

  constructor(
    private readonly client: VpcRouteClient,
    private readonly self: () => {name: string; podCIDR?: string; nodeIP?: string},
    url: string,
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
      execs++
      try {
        if (op.action === 'replace') await this.client.createRoute(me.name, op.route.dst)
        else await this.client.deleteRoute(op.route.dst, op.route.dst === me.podCIDR ? undefined : me.name)
        applied++
      } catch (error) {
        // Gone already: what DeleteRoute wanted is true.
        if (op.action === 'del' && error instanceof VpcApiError && error.status === 404) applied++
        else errors.push({op, command, error: (error as Error).message})
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

  constructor(opts: {nodeName: string; client: VpcRouteClient; url: string}) {
    this.me = {name: opts.nodeName}
    this.programmer = new VpcProgrammer(opts.client, () => this.me, opts.url)
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
