/**
 * The node agent's HTTPS server (the API is api.ts's). Every request but `GET /healthz` is
 * authenticated and authorized through the Kubernetes API (gate.ts) before it is routed: no token or
 * an invalid one is a 401, a user without `nodes/proxy` on this node a 403, whatever the path. Then:
 *
 * - at most `maxInFlight` operations at once (more get a 429 at once, with Retry-After);
 * - each answered within `opTimeoutMs` (10 s; a 503 after that, while the operation, still holding
 *   its slot, runs out its own subprocess timeouts);
 * - request bodies of at most `maxBodyBytes` (1 MiB; 413), and every bound of src/core/http.ts;
 * - a malformed request is a 400 and nothing else: the server goes on serving.
 *
 * One log line per request: method, path (never the query), status, user and time. Tokens are never
 * logged or answered (gate.ts scrubs them from review errors).
 */
import type http from 'node:http'
import type https from 'node:https'
import type {AddressInfo} from 'node:net'

import {createBoundedServer, HttpError, listen, parseJson, readBody, requestUrl, type HttpLimits} from '../core/http.js'
import {listenFailure} from '../core/listen.js'
import {
  API_VERSION,
  parseConntrackBody,
  parseSocketsBody,
  parseListenBody,
  parseListenStopBody,
  parseNetfilterBody,
  parseObserveBody,
  parseObserveStopBody,
  parseProbeBody,
  parsePodsQuery,
  parseSnapshotBody,
  PATHS,
  verbFor,
  type NodeInfo,
} from './api.js'
import {GateRefusal, type Caller, type Gate} from '../kube/node-proxy-gate.js'
import type {AgentOps} from './ops.js'

export const DEFAULT_MAX_IN_FLIGHT = 4
export const DEFAULT_OP_TIMEOUT_MS = 10_000
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024

export interface AgentServerOptions {
  node: string
  ops: AgentOps
  gate: Gate
  host: string
  port: number
  tls: {cert: string | Buffer; key: string | Buffer}
  maxInFlight?: number
  opTimeoutMs?: number
  maxBodyBytes?: number
  /** Other bounds of src/core/http.ts (tests shorten the timeouts). */
  limits?: Partial<HttpLimits>
  log?: (line: string) => void
}

export interface AgentStats {
  /** Answers by status code. */
  byStatus: Record<string, number>
  inFlight: number
}

export interface AgentServer {
  url: string
  host: string
  port: number
  stats(): AgentStats
  /** Serves this certificate to new connections from now on (one the cluster issued later). */
  setCertificate(tls: {cert: string | Buffer; key: string | Buffer}): void
  close(): Promise<void>
}

interface Route {
  method: 'GET' | 'POST'
  /** Answered from memory: takes no operation slot. */
  light?: boolean
  run(req: http.IncomingMessage, url: URL, body: unknown): Promise<unknown>
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  })
  res.end(text)
}

export async function startAgentServer(opts: AgentServerOptions): Promise<AgentServer> {
  const maxInFlight = opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT
  const opTimeoutMs = opts.opTimeoutMs ?? DEFAULT_OP_TIMEOUT_MS
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const log = opts.log ?? (() => {})
  const {ops, gate} = opts
  let inFlight = 0
  const byStatus: Record<string, number> = {}

  const info = (): NodeInfo => ({
    node: opts.node,
    apiVersion: API_VERSION,
    reads: ops.nodeReader.describe,
    limits: {maxInFlight, opTimeoutMs, maxBodyBytes: maxBody},
  })

  const routes: Record<string, Route> = {
    [PATHS.node]: {method: 'GET', light: true, run: async () => info()},
    [PATHS.pods]: {method: 'GET', run: (_req, url) => ops.findPods(parsePodsQuery(url.searchParams))},
    [PATHS.snapshot]: {method: 'POST', run: (_req, _url, body) => ops.snapshot(parseSnapshotBody(body))},
    [PATHS.netfilter]: {method: 'POST', run: (_req, _url, body) => ops.netfilter(parseNetfilterBody(body))},
    [PATHS.conntrack]: {method: 'POST', run: (_req, _url, body) => ops.conntrack(parseConntrackBody(body))},
    [PATHS.sockets]: {method: 'POST', run: (_req, _url, body) => ops.sockets(parseSocketsBody(body))},
    [PATHS.bgp]: {method: 'GET', run: (req) => ops.bgp(req.headers.authorization)},
    [PATHS.probe]: {method: 'POST', run: (_req, _url, body) => ops.probe(parseProbeBody(body))},
    [PATHS.listen]: {method: 'POST', run: (_req, _url, body) => ops.listen(parseListenBody(body))},
    [PATHS.listenStop]: {method: 'POST', run: (_req, _url, body) => ops.stopListen(parseListenStopBody(body).id)},
    [PATHS.observe]: {method: 'POST', run: (_req, _url, body) => ops.observe(parseObserveBody(body))},
    [PATHS.observeStop]: {method: 'POST', run: (_req, _url, body) => ops.stopObserve(parseObserveStopBody(body).id)},
  }

  /** Runs an operation in a slot; answers within opTimeoutMs, the slot is freed when it really ends. */
  const inSlot = async <T>(op: () => Promise<T>): Promise<T> => {
    if (inFlight >= maxInFlight) throw new HttpError(429, `busy: ${maxInFlight} operations already running`)
    inFlight++
    const running = Promise.resolve()
      .then(op)
      .finally(() => inFlight--)
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new HttpError(503, `the operation took longer than ${opTimeoutMs / 1000} s`)),
        opTimeoutMs,
      )
    })
    // What the operation does after its answer was given up on is still caught here, not left unhandled.
    running.catch(() => {})
    try {
      return await Promise.race([running, late])
    } finally {
      clearTimeout(timer)
    }
  }

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, who: {user?: string}) => {
    const url = requestUrl(req)
    const path = url.pathname
    if (path === PATHS.healthz) {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'GET /healthz')
      res.writeHead(200, {'content-type': 'text/plain; charset=utf-8'})
      res.end('ok')
      return
    }
    // --- before routing: who is it, and may they (gate.ts)?
    let user: Caller
    try {
      user = await gate.authenticate(req.headers.authorization)
      who.user = user.username
      await gate.authorize(user, verbFor(path))
    } catch (e) {
      if (!(e instanceof GateRefusal)) throw e
      if (e.status === 503) log(`${req.method} ${path}: ${e.message}`)
      const headers: Record<string, string> =
        e.status === 401 ? {'www-authenticate': 'Bearer realm="cnidbg-agent"'} : {}
      // What is left of the body of a refused request is never read: the connection closes after it.
      if (!req.complete) headers.connection = 'close'
      sendJson(res, e.status, {error: e.message}, headers)
      return
    }
    // ---
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined
    if (!route) throw new HttpError(404, `no such path: ${path}`)
    if (req.method !== route.method) throw new HttpError(405, `${route.method} ${path}`)
    let body: unknown
    if (route.method === 'POST') {
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
      if (type !== 'application/json') throw new HttpError(415, 'the body must be application/json')
      body = parseJson((await readBody(req, maxBody)).toString('utf8'))
    }
    const result = route.light ? await route.run(req, url, body) : await inSlot(() => route.run(req, url, body))
    sendJson(res, 200, result)
  }

  let listening = false
  const server = createBoundedServer(
    (req, res) => {
      const started = performance.now()
      const who: {user?: string} = {}
      res.on('finish', () => {
        byStatus[res.statusCode] = (byStatus[res.statusCode] ?? 0) + 1
        log(
          `${req.method} ${requestPath(req)} ${res.statusCode} ${who.user ?? '-'} ${(performance.now() - started).toFixed(0)}ms`,
        )
      })
      return handle(req, res, who)
    },
    {
      limits: {maxConnections: 256, ...opts.limits, maxBody},
      tls: opts.tls,
      // Until it listens, the only thing the server reports is why it can't, which is thrown below.
      log: (line) => {
        if (listening) log(line)
      },
      respond: (res, status, error) => {
        const message =
          error instanceof HttpError ? error.message : status >= 500 ? 'internal error' : (error as Error)?.message
        sendJson(res, status, {error: message || String(error)}, status === 429 ? {'retry-after': '1'} : {})
      },
    },
  )
  try {
    await listen(server, opts.port, opts.host)
  } catch (error) {
    throw listenFailure(error, `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`)
  }
  listening = true
  const port = (server.address() as AddressInfo).port
  const urlHost = opts.host.includes(':') ? `[${opts.host}]` : opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host
  return {
    url: `https://${urlHost}:${port}`,
    host: opts.host,
    port,
    stats: () => ({byStatus: {...byStatus}, inFlight}),
    setCertificate: (tls) =>
      (server as https.Server).setSecureContext({cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2'}),
    close: () =>
      new Promise<void>((resolve) => {
        void ops.close?.()
        server.close(() => resolve())
        server.closeIdleConnections()
        setTimeout(() => server.closeAllConnections(), 200).unref()
      }),
  }
}

/** The path of a request, without its query (which the log never shows). */
function requestPath(req: http.IncomingMessage): string {
  const raw = req.url ?? '/'
  const q = raw.indexOf('?')
  return JSON.stringify(q < 0 ? raw : raw.slice(0, q)).slice(1, -1)
}
