/**
 * What every long-running HTTP server of cnidbg shares (the node daemon's /healthz and /diag, the lab
 * supervisor's control socket, the lab apiserver): bounds on what one client may send, URL and body
 * parsing that fail with a 4xx instead of throwing, and a request wrapper through which no exception
 * can escape into the event loop. These servers run as root for hours and every request is hostile
 * (docs/security.md), so a malformed request gets a 4xx and the next one is served as usual.
 *
 * Framing errors Node's parser catches itself (a bad request line, headers over maxHeaderSize, a
 * truncated request, a stalled one) are answered by Node's own `clientError` handling with 400, 431
 * or 408 and the connection is closed; nothing here replaces that.
 *
 * No imports outside node: and src/core (which is for code every other folder may use).
 */
import http from 'node:http'
import https from 'node:https'

import {parseJson as parseJsonText} from './json.js'

export interface HttpLimits {
  /** Request line plus headers, in bytes (Node answers 431 beyond it). */
  maxHeaderSize: number
  /** Time for the request line and headers to arrive (Node answers 408 beyond it). */
  headersTimeout: number
  /** Time for the whole request, body included, to arrive (Node answers 408 beyond it). */
  requestTimeout: number
  /** How often Node checks the two timeouts above. */
  connectionsCheckingInterval: number
  /** Largest request body, in bytes (413 beyond it). 0: the server takes no body. */
  maxBody: number
  /** Open connections at once; more are closed on accept. */
  maxConnections: number
}

export const DEFAULT_LIMITS: HttpLimits = {
  maxHeaderSize: 16 * 1024,
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  connectionsCheckingInterval: 5_000,
  maxBody: 0,
  maxConnections: 1024,
}

/** A failure that is the client's: its status goes on the wire. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
    this.name = 'HttpError'
  }
}

/**
 * The status to answer `error` with: an HttpError's own, 400 for a request its client abandoned or
 * cut short (the body stream fails with ECONNRESET "aborted"), 500 for everything else.
 */
export function statusOf(error: unknown): number {
  if (error instanceof HttpError) return error.status
  const code = (error as {code?: unknown} | null)?.code
  if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE') return 400
  return 500
}

/**
 * The request's URL, resolved against a placeholder origin. `new URL` throws a TypeError on targets
 * Node's parser lets through (an absolute-form `http://[bad/x`); that is the client's mistake: 400.
 */
export function requestUrl(req: http.IncomingMessage): URL {
  try {
    return new URL(req.url ?? '/', 'http://request.invalid')
  } catch {
    throw new HttpError(400, `malformed request target ${JSON.stringify((req.url ?? '').slice(0, 200))}`)
  }
}

/**
 * Reads the request body, at most `limit` bytes: 413 at once when Content-Length says more, or as
 * soon as a chunked body goes past it, so a client can't make the server buffer without bound.
 */
export async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length']
  if (declared !== undefined && Number(declared) > limit) throw tooLarge(limit)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) throw tooLarge(limit)
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, `request body too large: the limit is ${limit} bytes`)
}

/** JSON.parse whose failure, nesting too deep included (core/json.ts), is a 400. */
export function parseJson(text: string): unknown {
  try {
    return parseJsonText(text)
  } catch (error) {
    throw new HttpError(400, `the request body is not valid JSON: ${(error as Error).message}`)
  }
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>
/** Answers a failed request; `status` comes from statusOf. Must not throw. */
export type ErrorResponder = (res: http.ServerResponse, status: number, error: unknown) => void

export interface BoundedServerOptions {
  limits?: Partial<HttpLimits>
  /** Default: a JSON `{"error": message}` (for a 500, only "internal error"). */
  respond?: ErrorResponder
  /** Where failures nobody sees otherwise go (a handler's 500, accept errors). */
  log?: (line: string) => void
  /** Serve HTTPS with this certificate and key (PEM); plain HTTP without. */
  tls?: {cert: string | Buffer; key: string | Buffer}
}

export function sendJsonError(res: http.ServerResponse, status: number, error: unknown): void {
  const message = status >= 500 ? 'internal error' : (error as Error)?.message || String(error)
  const text = JSON.stringify({error: message})
  res.writeHead(status, {'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text)})
  res.end(text)
}

/**
 * An http.Server with `limits` applied whose handler can't throw out: a synchronous throw or a
 * rejection becomes an error response (or, once the headers are out, a cut connection). After an
 * error answered before the body was read, the connection is closed: what is left of the body would
 * otherwise be parsed as the next request.
 */
export function createBoundedServer(handler: Handler, opts: BoundedServerOptions = {}): http.Server {
  const limits = {...DEFAULT_LIMITS, ...opts.limits}
  const respond = opts.respond ?? sendJsonError
  const log = opts.log ?? (() => {})
  const fail = (req: http.IncomingMessage, res: http.ServerResponse, error: unknown) => {
    const status = statusOf(error)
    if (status >= 500) log(`${req.method} ${JSON.stringify(req.url)}: ${(error as Error)?.stack ?? String(error)}`)
    try {
      if (res.headersSent || res.destroyed) {
        res.destroy()
        return
      }
      if (!req.complete) res.setHeader('connection', 'close')
      respond(res, status, error)
    } catch (error_) {
      log(`answering a failed request: ${(error_ as Error)?.message ?? String(error_)}`)
      res.destroy()
    }
  }
  const serverOpts = {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.requestTimeout,
    connectionsCheckingInterval: limits.connectionsCheckingInterval,
  }
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    try {
      Promise.resolve(handler(req, res)).catch((error: unknown) => fail(req, res, error))
    } catch (error) {
      fail(req, res, error)
    }
  }
  const server: http.Server = opts.tls
    ? https.createServer({...serverOpts, cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2'}, onRequest)
    : http.createServer(serverOpts, onRequest)
  // A TLS handshake that goes wrong (a plain-HTTP client, garbage) is the client's problem, not ours.
  server.on('tlsClientError', (error: Error) => log(`tls: ${error.message}`))
  server.maxConnections = limits.maxConnections
  // A listening server emits 'error' on a failed accept (EMFILE under a connection flood); with no
  // listener that would be an uncaught exception.
  server.on('error', (error) => log(`http server: ${error.message}`))
  return server
}

/** Starts `server` listening; rejects when it can't (EADDRINUSE…). */
export function listen(server: http.Server, ...args: [port: number, host: string] | [path: string]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(error)
    server.once('error', onError)
    const done = () => {
      server.off('error', onError)
      resolve()
    }
    if (args.length === 1) server.listen(args[0], done)
    else server.listen(args[0], args[1], done)
  })
}

/**
 * For the entry points of long-running processes: a promise rejected where nobody awaits it (a
 * request's work that outlived its response) is logged, not fatal. Request handlers themselves go
 * through createBoundedServer and can't reject unhandled; this is the last line.
 */
export function surviveUnhandledRejections(log: (line: string) => void): void {
  process.on('unhandledRejection', (reason) => {
    log(`unhandled rejection (kept running): ${(reason as Error)?.stack ?? String(reason)}`)
  })
}
