/**
 * The daemon's read-only HTTP endpoints: `/healthz` (for the lab and probes) and `/diag` (for
 * `cnidbg trace`). GET only, JSON only, no request body is ever read. Served on TCP (`host:port`, port
 * 0 = any free one) or a unix socket (`unix:/path`).
 */
import {chmodSync, lstatSync, rmSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

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
  /** Status code and JSON body. */
  (): Promise<{status: number; body: unknown}>
}

export interface HttpServer {
  /** The bound address in --listen syntax (the real port when 0 was asked for). */
  address: string
  close(): Promise<void>
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n'
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  })
  res.end(text)
}

export async function startHttp(listen: string, endpoints: Record<string, Endpoint>): Promise<HttpServer> {
  const spec = parseListen(listen)
  if (!spec) throw new Error(`invalid listen address ${JSON.stringify(listen)} (want HOST:PORT or unix:/path)`)
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://daemon').pathname
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
    ep().then(
      ({status, body}) => send(res, status, body),
      (err: unknown) => send(res, 500, {error: err instanceof Error ? err.message : String(err)}),
    )
  }
  const server: Server = createServer(handler)
  if (spec.kind === 'unix') {
    // A socket file left by a killed daemon would make listen fail with EADDRINUSE.
    try {
      if (lstatSync(spec.path).isSocket()) rmSync(spec.path)
    } catch {
      // Absent.
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    if (spec.kind === 'unix') server.listen(spec.path, () => resolve())
    else server.listen(spec.port, spec.host, () => resolve())
  })
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
