/**
 * The daemon's read-only HTTP endpoints: `/healthz` (for the lab and probes) and `/diag` (for
 * `cnidbg trace` and people). GET only, JSON only, no request body is taken (413). A request passes
 * `authorize` first (the daemon's is the node-proxy gate: a bearer token allowed `get nodes/proxy` on
 * this node), so what the node's state tells is never open to the network. The one exception is
 * `/healthz` without an Authorization header, as a kubelet probe sends it: it is served, and its
 * endpoint is told the caller is not authorized, so it answers whether the daemon is healthy and no
 * more. Served on TCP (`host:port`, port 0 = any free one) or a unix socket (`unix:/path`). The daemon
 * runs as root and, in the lab, in the supervisor's process: a request must never be able to end it
 * (src/core/http.ts).
 */
import {chmodSync, lstatSync, rmSync} from 'node:fs'
import type {IncomingMessage, Server, ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

import {createBoundedServer, type HttpLimits, listen as listenOn, readBody, requestUrl} from '../core/http.js'
import {listenFailure} from '../core/listen.js'

export type ListenSpec = {kind: 'tcp'; host: string; port: number} | {kind: 'unix'; path: string}

/** Parses `127.0.0.1:PORT`, `[::1]:PORT`, `:PORT` (= 127.0.0.1) or `unix:/abs/path`. */
export function parseListen(text: string): ListenSpec | undefined {
  if (text.startsWith('unix:')) {
    const path = text.slice(5)
    return path.startsWith('/') ? {kind: 'unix', path} : undefined
  }
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text)
  if (!m) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  return {kind: 'tcp', host: m[1] ?? (m[2] || '127.0.0.1'), port}
}

export function formatListen(spec: ListenSpec): string {
  if (spec.kind === 'unix') return `unix:${spec.path}`
  return spec.host.includes(':') ? `[${spec.host}]:${spec.port}` : `${spec.host}:${spec.port}`
}

export interface Endpoint {
  /**
   * Status code and JSON body. `authorized` is false only for the open `/healthz` (a request without
   * credentials), whose answer must then say no more than whether the daemon is healthy.
   */
  (request: {authorized: boolean}): Promise<{status: number; body: unknown}>
}

/** The path served to a caller without credentials (see the top of this file). */
export const OPEN_PATH = '/healthz'

export interface HttpServer {
  /** The bound address in --listen syntax (the real port when 0 was asked for). */
  address: string
  close(): Promise<void>
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body, null, 2) + '\n'
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  })
  res.end(text)
}

/** A refusal (401, 403, or 503 when the API could not be asked), or undefined to let the request in. */
export type Authorize = (
  authorization: string | undefined,
) => Promise<{status: 401 | 403 | 503; error: string} | undefined>

export interface HttpOptions {
  /**
   * Asked before routing, except for OPEN_PATH without an Authorization header. Without it every path
   * is open and every caller authorized: tests only.
   */
  authorize?: Authorize
  /** Tighter bounds for tests; the defaults are src/core/http.ts's. No body is taken either way. */
  limits?: Partial<Omit<HttpLimits, 'maxBody'>>
  /** Where a failure no client sees goes (an accept error, a bug's stack). */
  log?: (line: string) => void
}

export async function startHttp(
  listen: string,
  endpoints: Record<string, Endpoint>,
  opts: HttpOptions = {},
): Promise<HttpServer> {
  const spec = parseListen(listen)
  if (!spec) throw new Error(`invalid listen address ${JSON.stringify(listen)} (want HOST:PORT or unix:/path)`)
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const path = requestUrl(req).pathname
    await readBody(req, 0)
    // A probe sends no credentials; a caller that sends some is held to them, on every path.
    const authorized = !opts.authorize || path !== OPEN_PATH || req.headers.authorization !== undefined
    if (authorized && opts.authorize) {
      const refused = await opts.authorize(req.headers.authorization)
      if (refused) {
        if (refused.status === 503) opts.log?.(`${req.method} ${path}: ${refused.error}`)
        send(
          res,
          refused.status,
          {error: refused.error},
          refused.status === 401 ? {'www-authenticate': 'Bearer realm="cnidbg-daemon"'} : {},
        )
        return
      }
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, {error: 'read-only: GET only'})
      return
    }
    if (path === '/') {
      send(res, 200, {endpoints: Object.keys(endpoints)})
      return
    }
    const ep = endpoints[path]
    if (!ep) {
      send(res, 404, {error: `no such endpoint ${path}`, endpoints: Object.keys(endpoints)})
      return
    }
    let answer: Awaited<ReturnType<Endpoint>>
    try {
      answer = await ep({authorized})
    } catch (err) {
      // The daemon's own failure (reading the kernel state…): the operator wants its message.
      send(res, 500, {error: err instanceof Error ? err.message : String(err)})
      return
    }
    send(res, answer.status, answer.body)
  }
  // Until it listens, the only thing the server reports is why it can't, which is thrown below.
  let listening = false
  const server: Server = createBoundedServer(handler, {
    limits: {...opts.limits, maxBody: 0},
    respond: (res, status, error) =>
      send(res, status, {error: status >= 500 ? 'internal error' : (error as Error).message}),
    log: (line) => {
      if (listening) opts.log?.(line)
    },
  })
  if (spec.kind === 'unix') {
    // A socket file left by a killed daemon would make listen fail with EADDRINUSE.
    try {
      if (lstatSync(spec.path).isSocket()) rmSync(spec.path)
    } catch {
      // Absent.
    }
  }
  try {
    if (spec.kind === 'unix') await listenOn(server, spec.path)
    else await listenOn(server, spec.port, spec.host)
  } catch (error) {
    throw listenFailure(error, formatListen(spec), spec.kind === 'unix' ? spec.path : undefined)
  }
  listening = true
  let address: string
  if (spec.kind === 'unix') {
    chmodSync(spec.path, 0o660)
    address = formatListen(spec)
  } else {
    const a = server.address() as AddressInfo
    address = formatListen({kind: 'tcp', host: spec.host, port: a.port})
  }
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          if (spec.kind === 'unix') rmSync(spec.path, {force: true})
          resolve()
        })
        server.closeAllConnections()
      }),
  }
}
