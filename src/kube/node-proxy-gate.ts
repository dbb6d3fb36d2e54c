/**
 * Who may use a node's endpoints (the agent's, and the daemon's /diag), decided by the Kubernetes API as the kubelet and kube-rbac-proxy decide
 * it: the caller's bearer token goes to a TokenReview (whose is it?), then the user it names to a
 * SubjectAccessReview for `nodes/proxy` on this node's Node, verb `get` to read and `create` for live
 * operations. Answers are cached for a short time (a positive one for `ttlMs`, a refusal for
 * `negativeTtlMs`), keyed by the token's SHA-256 and never by the token; the caches are bounded.
 * A token is never logged, never echoed and never kept: only its digest is.
 */
import {createHash} from 'node:crypto'

import type {AuthenticationV1Api, AuthorizationV1Api, KubeConfig} from './client.js'

/** `get` reads a node's state; `create` acts on the node (a probe, a listener). */
export type NodeProxyVerb = 'get' | 'create'

export interface Caller {
  username: string
  uid?: string
  groups: string[]
  extra?: Record<string, string[]>
}

export interface TokenReviewAnswer {
  authenticated: boolean
  user?: Caller
  audiences?: string[]
  error?: string
}

export interface AccessAnswer {
  allowed: boolean
  reason?: string
}

/** The two questions, asked of the API server (apiReviewer) or of a test double. */
export interface Reviewer {
  reviewToken(token: string, audiences?: readonly string[]): Promise<TokenReviewAnswer>
  reviewAccess(user: Caller, attrs: {verb: NodeProxyVerb; node: string}): Promise<AccessAnswer>
}

/**
 * The reviewer that asks the API server with the agent's own credentials. The Kubernetes client is
 * loaded on the first question, not at start: it is most of an idle agent's memory (about 20 MB of
 * the process's resident set, measured with bench/lab-nodes.mjs), and an agent that only answers
 * /healthz never needs it. `kc` may be given as a function, called then too; a failure to load is
 * retried on the next question.
 */
export function apiReviewer(kc: KubeConfig | (() => KubeConfig | Promise<KubeConfig>)): Reviewer {
  let clients: Promise<{authn: AuthenticationV1Api; authz: AuthorizationV1Api}> | undefined
  const api = () =>
    (clients ??= (async () => {
      const client = await import('./client.js')
      const k = typeof kc === 'function' ? await kc() : kc
      return {authn: k.makeApiClient(client.AuthenticationV1Api), authz: k.makeApiClient(client.AuthorizationV1Api)}
    })().catch((error: unknown) => {
      clients = undefined
      throw error
    }))
  return {
    async reviewToken(token, audiences) {
      const {authn} = await api()
      const r = await authn.createTokenReview({
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: {token, ...(audiences?.length ? {audiences: [...audiences]} : {})},
        },
      })
      const u = r.status?.user
      return {
        authenticated: r.status?.authenticated === true,
        user: u?.username ? {username: u.username, uid: u.uid, groups: u.groups ?? [], extra: u.extra} : undefined,
        audiences: r.status?.audiences,
        error: r.status?.error,
      }
    },
    async reviewAccess(user, attrs) {
      const {authz} = await api()
      const r = await authz.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: user.username,
            uid: user.uid,
            groups: user.groups,
            extra: user.extra,
            resourceAttributes: {
              verb: attrs.verb,
              group: '',
              version: 'v1',
              resource: 'nodes',
              subresource: 'proxy',
              name: attrs.node,
            },
          },
        },
      })
      return {allowed: r.status?.allowed === true && r.status?.denied !== true, reason: r.status?.reason}
    },
  }
}

export interface GateOptions {
  /** This node's Node name: the object of the SubjectAccessReview. */
  node: string
  /**
   * Audiences a token must be good for (TokenReview spec.audiences). Default: none asked, so the API
   * server's own audience, i.e. the tokens users already hold.
   */
  audiences?: readonly string[]
  /** How long an accepted answer is reused. Default 10 s. */
  ttlMs?: number
  /** How long a refusal is reused. Default 5 s. */
  negativeTtlMs?: number
  /** Entries per cache. Default 1024. */
  maxEntries?: number
  now?: () => number
}

/** Why a request is refused: 401 (who are you?), 403 (not you), 503 (the API could not be asked). */
export class GateRefusal extends Error {
  constructor(
    readonly status: 401 | 403 | 503,
    message: string,
  ) {
    super(message)
    this.name = 'GateRefusal'
  }
}

class TtlCache<V> {
  private readonly m = new Map<string, {v: V; until: number}>()
  constructor(
    private readonly max: number,
    private readonly now: () => number,
  ) {}
  get(k: string): V | undefined {
    const e = this.m.get(k)
    if (!e) return undefined
    if (e.until <= this.now()) {
      this.m.delete(k)
      return undefined
    }
    return e.v
  }
  set(k: string, v: V, ttlMs: number): void {
    this.m.delete(k)
    // Maps iterate in insertion order: the first key is the oldest.
    while (this.m.size >= this.max) this.m.delete(this.m.keys().next().value as string)
    this.m.set(k, {v, until: this.now() + ttlMs})
  }
  get size(): number {
    return this.m.size
  }
}

const digest = (token: string): string => createHash('sha256').update(token).digest('hex')

/** The token of an `Authorization: Bearer …` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^\s*bearer +(\S+)\s*$/i.exec(header ?? '')
  return m?.[1]
}

/** Removes a token from a message before it goes anywhere (a log, a response). */
export function scrub(message: string, token: string): string {
  return token ? message.split(token).join('<token>') : message
}

export class Gate {
  private readonly users: TtlCache<Caller | null>
  private readonly access: TtlCache<AccessAnswer>
  private readonly ttl: number
  private readonly negativeTtl: number

  constructor(
    private readonly reviewer: Reviewer,
    private readonly opts: GateOptions,
  ) {
    const now = opts.now ?? Date.now
    this.users = new TtlCache(opts.maxEntries ?? 1024, now)
    this.access = new TtlCache(opts.maxEntries ?? 1024, now)
    this.ttl = opts.ttlMs ?? 10_000
    this.negativeTtl = opts.negativeTtlMs ?? 5000
  }

  /** The user of a request's Authorization header; throws a GateRefusal. */
  async authenticate(header: string | undefined): Promise<Caller> {
    const token = bearerToken(header)
    if (!token) throw new GateRefusal(401, 'a bearer token is required')
    const key = digest(token)
    let user = this.users.get(key)
    if (user === undefined) {
      let answer: TokenReviewAnswer
      try {
        answer = await this.reviewer.reviewToken(token, this.opts.audiences)
      } catch (e) {
        throw new GateRefusal(503, scrub(`cannot review the token: ${(e as Error).message}`, token))
      }
      const wanted = this.opts.audiences ?? []
      const audienceOk = wanted.length === 0 || (answer.audiences ?? []).some((a) => wanted.includes(a))
      user = answer.authenticated && answer.user && audienceOk ? answer.user : null
      this.users.set(key, user, user ? this.ttl : this.negativeTtl)
    }
    if (!user) throw new GateRefusal(401, 'the token is not valid here')
    return user
  }

  /** Whether the user may use this verb on the node; throws a GateRefusal when not. */
  async authorize(user: Caller, verb: NodeProxyVerb): Promise<void> {
    const key = JSON.stringify([user.username, user.uid ?? '', [...user.groups].sort(), user.extra ?? {}, verb])
    let answer = this.access.get(key)
    if (!answer) {
      try {
        answer = await this.reviewer.reviewAccess(user, {verb, node: this.opts.node})
      } catch (e) {
        throw new GateRefusal(503, `cannot review access: ${(e as Error).message}`)
      }
      this.access.set(key, answer, answer.allowed ? this.ttl : this.negativeTtl)
    }
    if (!answer.allowed) {
      throw new GateRefusal(
        403,
        `user "${user.username}" may not ${verb} nodes/proxy of node "${this.opts.node}"` +
          (answer.reason ? `: ${answer.reason}` : ''),
      )
    }
  }

  /** Cached answers right now (for /v1/node and tests). */
  get cached(): {users: number; access: number} {
    return {users: this.users.size, access: this.access.size}
  }
}
