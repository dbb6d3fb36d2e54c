/**
 * The lab's Kubernetes apiserver over HTTP: the resources of resources.ts (core/v1 Nodes, Pods,
 * Namespaces, Services, ServiceAccounts, ConfigMaps; apps/v1 DaemonSets; discovery.k8s.io/v1
 * EndpointSlices, kept by the endpoints controller (endpoints-controller.ts); networking.k8s.io/v1
 * NetworkPolicies; RBAC ClusterRoles and ClusterRoleBindings) with get, list, watch, create, update, patch (merge, strategic, JSON) and
 * delete, the status subresource, selectors, Table output for kubectl, and enough discovery for
 * kubectl 1.20 onwards and @kubernetes/client-node; TokenReview, SubjectAccessReview,
 * SelfSubjectAccessReview and ServiceAccount TokenRequests (reviews.ts), evaluated against the
 * token file, the ServiceAccount tokens it minted and RBAC. State lives in a Store (store.ts), which
 * the lab may also use in-process.
 *
 * It listens on loopback only. Loopback is open to every local user, so with tokens configured every
 * request is authenticated and authorized (auth.ts). The lab configures tokens and serves HTTPS with
 * a certificate of its own: kubectl sends no credential over plain HTTP (client-go refuses to), and
 * TLS is what a real apiserver speaks. Without `tls` it serves plain HTTP (in-process tests).
 */
import {chmodSync, readFileSync, rmSync} from 'node:fs'
import http from 'node:http'
import net, {type AddressInfo} from 'node:net'

import {
  createBoundedServer,
  type HttpLimits,
  listen,
  readBody as readBounded,
  requestUrl,
  statusOf,
} from '../../core/http.js'
import {parseJson as parseJsonText} from '../../core/json.js'

import {
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  groupResourceList,
  SERVED_GROUPS,
  DEFAULT_SERVER_VERSION,
  OPENAPI_V2_PROTOBUF,
  OPENAPI_V2_PROTOBUF_RESPONSE,
  openApiV2,
  versionInfo,
} from './discovery.js'
import {
  ADMIN_GROUP,
  Authenticator,
  authorize,
  SINGLE_TOKEN_ADMIN,
  verbOf,
  type TokenEntry,
  type UserInfo,
} from './auth.js'
import {kubeconfigYaml, writeKubeconfig, type KubeconfigOptions} from './kubeconfig.js'
import {patchTypeOf} from './patch.js'
import {
  CERTIFICATES_GROUP,
  groupVersion,
  isResourceName,
  RESOURCES,
  type K8sObject,
  type ResourceName,
} from './resources.js'
import {CsrSigner, nodeAddressesOf} from '../../kube/agent-signing.js'
import {prepareCsr} from './csr.js'
import {reviewOf, selfSubjectAccessReview, subjectAccessReview, tokenRequest, tokenReview} from './reviews.js'
import {ServiceAccountTokens} from './sa-tokens.js'
import {ApiError, badRequest, methodNotAllowed, notAcceptable, notFound, unsupportedMediaType} from './status.js'
import {Store, type Selection, type WatchEvent} from './store.js'
import {toTable} from './table.js'
import {EndpointsController} from './endpoints-controller.js'

export interface ApiServerOptions {
  /** Loopback address to bind. Default 127.0.0.1; anything that is not loopback is refused. */
  host?: string
  /** Default 0: a free port. */
  port?: number
  /** Watch history length (see Store). Default 1000. */
  historySize?: number
  /** A single bearer token, for the admin (group system:masters). */
  token?: string
  /**
   * Bearer tokens and their users (a token file, auth.ts). With `token` or `tokens`, every request
   * but /healthz, /livez, /readyz and /version needs one; with neither, every request is the admin.
   */
  tokens?: readonly TokenEntry[]
  /** Serve HTTPS with this certificate and key (PEM); kubeconfigs then trust the certificate. */
  tls?: {cert: string | Buffer; key: string | Buffer}
  /**
   * The key that signs ServiceAccount tokens (sa-tokens.ts). Default: a random key, so tokens live
   * as long as the process; the lab passes one kept in a file so they survive a restart.
   */
  serviceAccountKey?: Buffer
  /** Load state from this JSON file and keep it updated (see Store). */
  snapshotPath?: string
  /** Serve this store instead of a new one (it is then not closed by close(), only flushed). */
  store?: Store
  /** gitVersion reported at /version. */
  serverVersion?: string
  /** Bookmark period for watches with allowWatchBookmarks. Default 60 s, like the real apiserver. */
  bookmarkIntervalMs?: number
  /** Longest a watch stays open without timeoutSeconds. Default 1800 s (the apiserver's min-request-timeout). */
  maxWatchSeconds?: number
  /** Called once per finished request with a one-line summary. */
  log?: (line: string) => void
  /**
   * Also serve on this unix socket (0600), the same server behind it: a socket lives in the
   * filesystem, not in a network namespace, so the lab's control-plane forwarder in the underlay
   * namespace reaches the server through it (docs/lab.md) while the root namespace gets no link.
   */
  socketPath?: string
  /** Request bounds (src/core/http.ts); tests tighten them. Default body limit 3 MiB. */
  limits?: Partial<HttpLimits>
  /**
   * Run the endpoints controller on the store (endpoints-controller.ts), as a cluster's
   * controller-manager would. Default true.
   */
  endpointsController?: boolean
  /**
   * The cluster CA (PEM files), to approve and sign the node agents' CSRs (csr.ts), as
   * kube-controller-manager's --cluster-signing-cert-file and --cluster-signing-key-file. Without it
   * CSRs are stored and stay pending.
   */
  clusterSigning?: {certFile: string; keyFile: string}
}

export interface ApiServer {
  /** http://127.0.0.1:PORT, or https:// with `tls` */
  url: string
  host: string
  port: number
  store: Store
  /**
   * A token for an existing ServiceAccount, as a TokenRequest would return it (`audiences` default
   * to the API server's, the lifetime to an hour).
   */
  mintToken(namespace: string, name: string, opts?: {audiences?: string[]; expirationSeconds?: number}): string
  /** A kubeconfig for this server; its token defaults to the admin's (the first system:masters entry). */
  kubeconfigYaml(opts?: Omit<KubeconfigOptions, 'server'>): string
  writeKubeconfig(file: string, opts?: Omit<KubeconfigOptions, 'server'>): void
  /** Open watch streams right now. */
  readonly watchCount: number
  /** Ends every open watch cleanly, as an apiserver restart would; clients re-watch. Returns how many. */
  endWatches(): number
  /** Ends every watch, closes every connection, flushes state. */
  close(): Promise<void>
}

const MAX_BODY = 3 * 1024 * 1024
// A watcher this far behind is dropped (the real apiserver drops slow watchers too); it will relist.
const MAX_WATCH_BACKLOG = 16 * 1024 * 1024

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

type Output = {table: false} | {table: true; version: string}

/**
 * Picks the response format from Accept, in the client's order. Table (meta.k8s.io v1 or v1beta1)
 * or JSON; other `as=` forms (aggregated discovery, PartialObjectMetadata) and protobuf are skipped
 * so that clients fall back to the next type they listed.
 */
export function negotiate(accept: string | undefined): Output {
  if (!accept || accept.trim() === '') return {table: false}
  for (const range of accept.split(',')) {
    const [type, ...rawParams] = range.split(';').map((s) => s.trim())
    const params: Record<string, string> = {}
    for (const p of rawParams) {
      const eq = p.indexOf('=')
      if (eq > 0) params[p.slice(0, eq).trim().toLowerCase()] = p.slice(eq + 1).trim()
    }
    const t = type.toLowerCase()
    if (t === '*/*' || t === 'application/*') return {table: false}
    if (t !== 'application/json') continue
    if (params.as === undefined) return {table: false}
    if (params.as === 'Table' && params.g === 'meta.k8s.io' && (params.v === 'v1' || params.v === 'v1beta1')) {
      return {table: true, version: params.v}
    }
  }
  throw notAcceptable()
}

interface Route {
  resource: ResourceName
  group: string
  namespace?: string
  name?: string
  subresource?: string
  legacyWatch: boolean
}

function notFoundPath(): ApiError {
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource', {})
}

/** The group of an /api/v1/… or /apis/<group>/v1/… path and the segments after the version. */
function apiPath(segs: string[]): {group: string; rest: string[]} | undefined {
  if (segs[0] === 'api' && segs[1] === 'v1' && segs.length > 2) return {group: '', rest: segs.slice(2)}
  if (segs[0] === 'apis' && segs[2] === 'v1' && segs.length > 3 && SERVED_GROUPS.includes(segs[1]))
    return {group: segs[1], rest: segs.slice(3)}
  return undefined
}

/**
 * Serves `server` on a unix socket (0600) too: each connection is handed to it as one of its own,
 * TLS included. Those are not counted against the server's maxConnections, so the socket has the same
 * bound of its own; and a failed accept (EMFILE under a flood) is logged, as the server's own are,
 * not an 'error' without a listener that would end the process.
 */
export async function serveOnSocket(
  server: http.Server,
  path: string,
  log?: (line: string) => void,
): Promise<net.Server> {
  const unixServer = net.createServer((socket) => server.emit('connection', socket))
  unixServer.maxConnections = server.maxConnections
  rmSync(path, {force: true})
  await new Promise<void>((resolve, reject) => {
    unixServer.once('error', reject)
    unixServer.listen(path, () => {
      unixServer.off('error', reject)
      resolve()
    })
  })
  unixServer.on('error', (error) => log?.(`unix socket ${path}: ${error.message}`))
  chmodSync(path, 0o600)
  return unixServer
}

/** Parses the segments after the group version into a resource route. */
function route(rest: string[], group: string): Route {
  const legacyWatch = rest[0] === 'watch'
  if (legacyWatch) rest = rest.slice(1)
  const served = (r: string | undefined): r is ResourceName => !!r && isResourceName(r) && RESOURCES[r].group === group
  if (rest[0] === 'namespaces' && rest.length >= 3 && served(rest[2]) && RESOURCES[rest[2]].namespaced) {
    if (rest.length > 5) throw notFoundPath()
    return {resource: rest[2], group, namespace: rest[1], name: rest[3], subresource: rest[4], legacyWatch}
  }
  if (rest.length >= 1 && rest.length <= 3 && served(rest[0])) {
    return {resource: rest[0], group, name: rest[1], subresource: rest[2], legacyWatch}
  }
  throw notFoundPath()
}

function sendJson(res: http.ServerResponse, code: number, body: unknown): void {
  const s = JSON.stringify(body)
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(s),
    'Cache-Control': 'no-cache, private',
  })
  res.end(s)
}

// Statuses src/core/http.ts gives to a malformed or oversized request, as the apiserver's reasons.
const REASONS: Record<number, string> = {400: 'BadRequest', 413: 'RequestEntityTooLarge'}

function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e
  const status = statusOf(e)
  if (status >= 500) return new ApiError(500, 'InternalError', `Internal error: ${(e as Error)?.message}`)
  return new ApiError(status, REASONS[status] ?? 'BadRequest', (e as Error)?.message ?? String(e))
}

function sendError(res: http.ServerResponse, e: unknown): void {
  const err = toApiError(e)
  if (res.headersSent) {
    res.destroy()
    return
  }
  sendJson(res, err.code, err.toStatus())
}

function parseJson(text: string): unknown {
  try {
    return parseJsonText(text)
  } catch (e) {
    throw badRequest(`the body of the request could not be decoded as JSON: ${(e as Error).message}`)
  }
}

function checkJsonType(req: http.IncomingMessage): void {
  const ct = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
  if (ct !== '' && ct !== 'application/json' && ct !== '*/*') throw unsupportedMediaType(ct)
}

function boolParam(q: URLSearchParams, name: string): boolean {
  const v = q.get(name)
  return v === 'true' || v === '1'
}

export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const host = opts.host ?? '127.0.0.1'
  if (!isLoopback(host)) throw new Error(`the lab apiserver listens on loopback only, not on ${host}`)
  const ownStore = !opts.store
  const store = opts.store ?? new Store({historySize: opts.historySize, snapshotPath: opts.snapshotPath})
  const gitVersion = opts.serverVersion ?? DEFAULT_SERVER_VERSION
  const bookmarkMs = opts.bookmarkIntervalMs ?? 60_000
  const maxWatchSeconds = opts.maxWatchSeconds ?? 1800
  const tokens = [...(opts.token ? [{token: opts.token, user: SINGLE_TOKEN_ADMIN}] : []), ...(opts.tokens ?? [])]
  const saTokens = new ServiceAccountTokens(store, {key: opts.serviceAccountKey})
  const signer = opts.clusterSigning ? new CsrSigner(opts.clusterSigning) : undefined
  /** A CSR after the approver and the signer have seen it (csr.ts). */
  const signCsr = async (csr: K8sObject): Promise<K8sObject> => {
    const status = await signer?.process(csr, (node) => nodeAddressesOf(store.get('nodes', undefined, node)))
    if (!status) return csr
    const cur = store.get('certificatesigningrequests', undefined, csr.metadata.name ?? '')
    if (!cur) return csr
    return store.update(
      'certificatesigningrequests',
      undefined,
      cur.metadata.name!,
      {...cur, status: {...cur.status, ...status}},
      {subresource: 'status'},
    )
  }
  const controller = opts.endpointsController === false ? undefined : new EndpointsController(store, opts.log)
  controller?.start()
  const authn = new Authenticator(tokens, saTokens)
  const adminToken = tokens.find((e) => e.user.groups.includes(ADMIN_GROUP))?.token
  const watches = new Set<() => void>()
  let address = ''
  const limits = {maxBody: MAX_BODY, ...opts.limits}
  const readBody = async (req: http.IncomingMessage) => (await readBounded(req, limits.maxBody)).toString('utf8')

  const serveWatch = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    r: Route,
    sel: Selection,
    q: URLSearchParams,
    out: Output,
  ): void => {
    const info = RESOURCES[r.resource]
    const timeoutParam = q.get('timeoutSeconds')
    // timeoutSeconds unset or 0: the server's own limit.
    const timeoutSec = Number(timeoutParam ?? 0) || maxWatchSeconds
    if (!Number.isFinite(timeoutSec) || timeoutSec < 0) throw badRequest(`invalid timeoutSeconds ${timeoutParam}`)
    // Bad selectors and resourceVersions are HTTP 400s, before the stream starts.
    store.matcher(r.resource, sel)
    const rv = q.get('resourceVersion')
    if (rv && !/^\d+$/.test(rv)) throw badRequest(`invalid resourceVersion: ${JSON.stringify(rv)}`)
    const bookmarks = boolParam(q, 'allowWatchBookmarks')
    const initial = boolParam(q, 'sendInitialEvents')
    res.writeHead(200, {'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private'})
    res.flushHeaders()
    req.socket.setKeepAlive(true, 30_000)
    req.socket.setNoDelay(true)

    let ended = false
    let stop: () => void = () => {}
    let ticker: NodeJS.Timeout | undefined
    const end = () => {
      if (ended) return
      ended = true
      stop()
      clearTimeout(timer)
      clearInterval(ticker)
      watches.delete(end)
      res.end()
    }
    const write = (ev: WatchEvent) => {
      if (ended) return
      let object = ev.object
      if (out.table && ev.type !== 'ERROR' && ev.type !== 'BOOKMARK') {
        const o = ev.object as K8sObject
        object = toTable(
          r.resource,
          [o],
          {resourceVersion: o.metadata.resourceVersion},
          {
            version: out.version,
            includeObject: q.get('includeObject') ?? undefined,
          },
        )
      }
      res.write(`${JSON.stringify({type: ev.type, object})}\n`)
      if (res.writableLength > MAX_WATCH_BACKLOG) end()
    }
    const bookmark = (annotations?: Record<string, string>) =>
      write({
        type: 'BOOKMARK',
        object: {
          kind: info.kind,
          apiVersion: groupVersion(info.group),
          metadata: {resourceVersion: String(store.resourceVersion), ...(annotations ? {annotations} : {})},
        },
      })
    // Capped: setTimeout overflows past 2^31-1 ms and then fires at once.
    const timeoutMs = Math.min(timeoutSec * 1000, 2 ** 31 - 1)
    const timer = setTimeout(() => {
      if (bookmarks) bookmark()
      end()
    }, timeoutMs)
    watches.add(end)
    res.on('close', end)
    try {
      const unsubscribe = store.watch(
        r.resource,
        {...sel, resourceVersion: q.get('resourceVersion') ?? undefined, sendInitialEvents: initial},
        write,
      )
      if (ended) unsubscribe()
      else stop = unsubscribe
    } catch (e) {
      // Like the watch cache: HTTP 200, then one ERROR event with the Status, then the end.
      const err = e instanceof ApiError ? e : new ApiError(500, 'InternalError', (e as Error).message)
      write({type: 'ERROR', object: err.toStatus()})
      end()
      return
    }
    // KEP-3157 watch-list: this bookmark tells the client its initial state is complete.
    if (initial && bookmarks) bookmark({'k8s.io/initial-events-end': 'true'})
    if (bookmarks) ticker = setInterval(() => bookmark(), bookmarkMs)
  }

  /** POST of a TokenReview, SubjectAccessReview or SelfSubjectAccessReview: answered, never stored. */
  const serveReview = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    group: string,
    resource: string,
    q: URLSearchParams,
    user: UserInfo | undefined,
  ): Promise<void> => {
    if (req.method !== 'POST') throw methodNotAllowed()
    authorize(user, {verb: 'create', group, resource}, store)
    if (q.has('dryRun')) throw badRequest('dryRun is not supported by the cnidbg lab apiserver')
    checkJsonType(req)
    const body = parseJson(await readBody(req))
    if (resource === 'tokenreviews') return sendJson(res, 201, tokenReview(body, authn))
    if (resource === 'subjectaccessreviews') return sendJson(res, 201, subjectAccessReview(body, store))
    return sendJson(res, 201, selfSubjectAccessReview(body, user as UserInfo, store))
  }

  const serveResource = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    rest: string[],
    group: string,
    q: URLSearchParams,
    user: UserInfo | undefined,
  ): Promise<void> => {
    const r = route(rest, group)
    const info = RESOURCES[r.resource]
    const method = req.method ?? 'GET'
    // A ServiceAccount's token subresource (TokenRequest): POST only, for that named account.
    if (r.resource === 'serviceaccounts' && r.subresource === 'token' && r.name !== undefined && !r.legacyWatch) {
      if (method !== 'POST') throw methodNotAllowed()
      authorize(user, {verb: 'create', ...r}, store)
      checkJsonType(req)
      const text = await readBody(req)
      const sa = store.get('serviceaccounts', r.namespace, r.name)
      if (!sa) throw notFound('serviceaccounts', r.name)
      return sendJson(res, 201, tokenRequest(text.trim() ? parseJson(text) : {}, sa, saTokens, store))
    }
    if (r.resource === 'certificatesigningrequests' && !r.legacyWatch) {
      if (r.subresource === 'approval' && r.name !== undefined) {
        if (method !== 'PUT') throw methodNotAllowed()
        authorize(user, {verb: 'update', ...r}, store)
        checkJsonType(req)
        const body = parseJson(await readBody(req)) as K8sObject
        const cur = store.get('certificatesigningrequests', undefined, r.name)
        if (!cur) throw notFound(r.resource, r.name)
        // As kube-apiserver: approving needs `approve` on the CSR's signer too.
        authorize(
          user,
          {verb: 'approve', group: CERTIFICATES_GROUP, resource: 'signers', name: String(cur.spec?.signerName ?? '')},
          store,
        )
        const conditions = (body.status as {conditions?: unknown} | undefined)?.conditions
        if (!Array.isArray(conditions)) throw badRequest('status.conditions must be a list')
        const updated = store.update(
          'certificatesigningrequests',
          undefined,
          r.name,
          {
            ...cur,
            metadata: {...cur.metadata, resourceVersion: body.metadata?.resourceVersion},
            status: {...cur.status, conditions},
          },
          {subresource: 'status'},
        )
        return sendJson(res, 200, await signCsr(updated))
      }
      if (r.name === undefined && method === 'POST' && !boolParam(q, 'watch')) {
        const admit = authorize(user, {verb: 'create', ...r}, store)
        if (q.has('dryRun')) throw badRequest('dryRun is not supported by the cnidbg lab apiserver')
        checkJsonType(req)
        const body = prepareCsr(parseJson(await readBody(req)), user as UserInfo)
        const created = store.create('certificatesigningrequests', undefined, body, {admit})
        return sendJson(res, 201, await signCsr(created))
      }
    }
    if (r.subresource !== undefined && (r.subresource !== 'status' || !info.hasStatus)) throw notFoundPath()
    // --- access (auth.ts): refused here with a 403, or checked on the object just before it is stored.
    const watching = r.legacyWatch || boolParam(q, 'watch')
    const verb = verbOf(method, r.name !== undefined, watching)
    // No verb, no request: a method added below later cannot pass without being authorized.
    if (!verb) throw methodNotAllowed()
    const admit = authorize(user, {verb, ...r}, store)
    // ---
    if (q.has('dryRun')) throw badRequest('dryRun is not supported by the cnidbg lab apiserver')
    const out = method === 'GET' ? negotiate(req.headers.accept) : ({table: false} as Output)
    const sel: Selection = {
      namespace: r.namespace,
      labelSelector: q.get('labelSelector') ?? undefined,
      fieldSelector: q.get('fieldSelector') ?? undefined,
    }
    const tableOpts = {version: out.table ? out.version : undefined, includeObject: q.get('includeObject') ?? undefined}

    if (r.name === undefined) {
      if (method === 'GET' && watching) return serveWatch(req, res, r, sel, q, out)
      if (method === 'GET') {
        const limit = q.get('limit')
        const list = store.list(r.resource, {
          ...sel,
          limit: limit ? Number(limit) : undefined,
          continue: q.get('continue') ?? undefined,
          resourceVersion: q.get('resourceVersion') ?? undefined,
          resourceVersionMatch: q.get('resourceVersionMatch') ?? undefined,
        })
        const metadata: Record<string, unknown> = {resourceVersion: list.resourceVersion}
        if (list.continue) metadata.continue = list.continue
        if (list.remainingItemCount !== undefined) metadata.remainingItemCount = list.remainingItemCount
        if (out.table) return sendJson(res, 200, toTable(r.resource, list.items, metadata, tableOpts))
        return sendJson(res, 200, {
          kind: info.listKind,
          apiVersion: groupVersion(info.group),
          metadata,
          items: list.items,
        })
      }
      if (method === 'POST') {
        if (info.namespaced && r.namespace === undefined) throw methodNotAllowed()
        checkJsonType(req)
        const created = store.create(r.resource, r.namespace, parseJson(await readBody(req)), {admit})
        return sendJson(res, 201, created)
      }
      if (method === 'DELETE') {
        const items = store.deleteCollection(r.resource, sel, {admit})
        return sendJson(res, 200, {
          kind: info.listKind,
          apiVersion: groupVersion(info.group),
          metadata: {resourceVersion: String(store.resourceVersion)},
          items,
        })
      }
      throw methodNotAllowed()
    }

    if (info.namespaced && r.namespace === undefined) throw notFoundPath()
    if (method === 'GET' && watching) {
      // The deprecated single-object watch: a watch with a name field selector.
      const byName = `metadata.name=${r.name}`
      return serveWatch(
        req,
        res,
        r,
        {...sel, fieldSelector: sel.fieldSelector ? `${sel.fieldSelector},${byName}` : byName},
        q,
        out,
      )
    }
    if (method === 'GET') {
      const o = store.get(r.resource, r.namespace, r.name)
      if (!o) throw notFound(r.resource, r.name)
      if (out.table)
        return sendJson(res, 200, toTable(r.resource, [o], {resourceVersion: o.metadata.resourceVersion}, tableOpts))
      return sendJson(res, 200, o)
    }
    if (method === 'PUT') {
      checkJsonType(req)
      const body = parseJson(await readBody(req))
      return sendJson(
        res,
        200,
        store.update(r.resource, r.namespace, r.name, body, {subresource: r.subresource, admit}),
      )
    }
    if (method === 'PATCH') {
      const type = patchTypeOf(req.headers['content-type'])
      if (!type) throw unsupportedMediaType(req.headers['content-type'] ?? '')
      const patch = parseJson(await readBody(req))
      return sendJson(
        res,
        200,
        store.patch(r.resource, r.namespace, r.name, type, patch, {subresource: r.subresource, admit}),
      )
    }
    if (method === 'DELETE' && r.subresource === undefined) {
      const text = await readBody(req)
      const body = (text.trim() ? parseJson(text) : {}) as {
        preconditions?: {uid?: string; resourceVersion?: string}
        dryRun?: unknown
      }
      if (body && Array.isArray(body.dryRun) && body.dryRun.length > 0) {
        throw badRequest('dryRun is not supported by the cnidbg lab apiserver')
      }
      return sendJson(
        res,
        200,
        store.delete(r.resource, r.namespace, r.name, {preconditions: body?.preconditions, admit}),
      )
    }
    throw methodNotAllowed()
  }

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = requestUrl(req)
    let segs: string[]
    try {
      segs = url.pathname
        .split('/')
        .filter((s) => s !== '')
        .map(decodeURIComponent)
    } catch {
      throw badRequest(`malformed path ${url.pathname}`)
    }
    const path = `/${segs.join('/')}`
    // --- authentication (auth.ts): a 401 unless the token is known or the path is public.
    const user = authn.requestUser(req.headers.authorization, path)
    if (req.method === 'GET' && (path === '/healthz' || path === '/livez' || path === '/readyz')) {
      res.writeHead(200, {'Content-Type': 'text/plain; charset=utf-8'})
      res.end('ok')
      return
    }
    const api = apiPath(segs)
    if (api) {
      if (api.rest.length === 1 && reviewOf(api.group, api.rest[0]))
        return serveReview(req, res, api.group, api.rest[0], url.searchParams, user)
      return serveResource(req, res, api.rest, api.group, url.searchParams, user)
    }
    if (req.method !== 'GET') throw methodNotAllowed()
    if (path === '/version') return sendJson(res, 200, versionInfo(gitVersion))
    if (path === '/api') return sendJson(res, 200, apiVersions(address))
    if (path === '/api/v1') return sendJson(res, 200, apiResourceList())
    if (path === '/apis') return sendJson(res, 200, apiGroupList())
    if (segs[0] === 'apis' && SERVED_GROUPS.includes(segs[1])) {
      if (segs.length === 2) return sendJson(res, 200, apiGroup(segs[1]))
      if (segs.length === 3 && segs[2] === 'v1') return sendJson(res, 200, groupResourceList(segs[1]))
    }
    if (path === '/openapi/v2') {
      const doc = openApiV2(gitVersion)
      if (!(req.headers.accept ?? '').includes(OPENAPI_V2_PROTOBUF)) return sendJson(res, 200, doc.json)
      res.writeHead(200, {'Content-Type': OPENAPI_V2_PROTOBUF_RESPONSE, 'Content-Length': doc.protobuf.length})
      res.end(doc.protobuf)
      return
    }
    // /openapi/v3, other groups: a 404 Status, which kubectl treats as "not served".
    throw notFoundPath()
  }

  const server = createBoundedServer(
    (req, res) => {
      const started = performance.now()
      if (opts.log) {
        res.on('finish', () =>
          opts.log?.(`${req.method} ${req.url} ${res.statusCode} ${(performance.now() - started).toFixed(1)}ms`),
        )
      }
      return handle(req, res)
    },
    {limits, respond: (res, _status, e) => sendError(res, e), log: opts.log, tls: opts.tls},
  )
  await listen(server, opts.port ?? 0, host)
  const unixServer = opts.socketPath ? await serveOnSocket(server, opts.socketPath, opts.log) : undefined
  const port = (server.address() as AddressInfo).port
  const urlHost = host.includes(':') ? `[${host}]` : host
  address = `${urlHost}:${port}`
  const url = `${opts.tls ? 'https' : 'http'}://${address}`
  // Its kubeconfigs trust the cluster CA, which signed the serving certificate, else that certificate.
  const ca = opts.tls
    ? (opts.clusterSigning ? readFileSync(opts.clusterSigning.certFile) : Buffer.from(opts.tls.cert)).toString('base64')
    : undefined

  return {
    url,
    host,
    port,
    store,
    mintToken(namespace, name, o) {
      const sa = store.get('serviceaccounts', namespace, name)
      if (!sa) throw notFound('serviceaccounts', name)
      return saTokens.mint(sa, o).token
    },
    kubeconfigYaml: (k) => kubeconfigYaml({token: adminToken, certificateAuthorityData: ca, ...k, server: url}),
    writeKubeconfig: (file, k) =>
      writeKubeconfig(file, {token: adminToken, certificateAuthorityData: ca, ...k, server: url}),
    get watchCount() {
      return watches.size
    },
    endWatches() {
      const n = watches.size
      for (const end of [...watches]) end()
      return n
    },
    async close() {
      controller?.stop()
      for (const end of [...watches]) end()
      unixServer?.close()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
        // Connections still busy a moment later (a client mid-request) are cut.
        setTimeout(() => server.closeAllConnections(), 200).unref()
      })
      if (ownStore) store.close()
      else store.flush()
    },
  }
}
