/**
 * The supervisor's control channel: a tiny HTTP API on a unix socket in the lab dir (root-only, no
 * port). `lab status` reads it; `lab break daemon-stopped` and friends stop and start node daemons
 * through it.
 */
import {chmodSync, rmSync} from 'node:fs'
import http from 'node:http'

import {createBoundedServer, type HttpLimits, listen, readBody, requestUrl} from '../core/http.js'

export type ControlHandler = (method: string, path: string) => Promise<{status: number; body: unknown}>

export interface ControlServer {
  close(): Promise<void>
}

export interface ControlServerOptions {
  /** Tighter bounds for tests; the defaults are src/core/http.ts's. No body is taken either way. */
  limits?: Partial<Omit<HttpLimits, 'maxBody'>>
  log?: (line: string) => void
}

/**
 * The socket is root-only, but the supervisor also hosts every node's daemon: a request that could
 * throw here would take the whole lab's node agents down, so framing and errors go through
 * src/core/http.ts like every server's.
 */
export async function startControlServer(
  socket: string,
  handler: ControlHandler,
  opts: ControlServerOptions = {},
): Promise<ControlServer> {
  rmSync(socket, {force: true})
  const server = createBoundedServer(
    async (req, res) => {
      const {pathname} = requestUrl(req)
      await readBody(req, 0)
      let answer: {status: number; body: unknown}
      try {
        answer = await handler(req.method ?? 'GET', pathname)
      } catch (error) {
        // The supervisor's own failure (a daemon that would not start…): `lab` shows its message.
        answer = {status: 500, body: {error: (error as Error)?.message ?? String(error)}}
      }
      const text = JSON.stringify(answer.body)
      res.writeHead(answer.status, {'content-type': 'application/json', 'content-length': Buffer.byteLength(text)})
      res.end(text)
    },
    {limits: {...opts.limits, maxBody: 0}, log: opts.log},
  )
  await listen(server, socket)
  chmodSync(socket, 0o600)
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
        rmSync(socket, {force: true})
      }),
  }
}

export class ControlError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message)
  }
}

/** One request to the supervisor; rejects with ControlError when it is unreachable or answers non-2xx. */
export function controlRequest<T = unknown>(
  socket: string,
  method: string,
  path: string,
  timeoutMs = 30_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = http.request({socketPath: socket, method, path, timeout: timeoutMs}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let body: unknown
        try {
          body = JSON.parse(text)
        } catch {
          body = text
        }
        const status = res.statusCode ?? 0
        if (status >= 200 && status < 300) resolve(body as T)
        else reject(new ControlError((body as {error?: string})?.error ?? `HTTP ${status}`, status))
      })
    })
    req.on('timeout', () => req.destroy(new Error(`no answer from the lab supervisor within ${timeoutMs / 1000}s`)))
    req.on('error', (e) => reject(new ControlError(`lab supervisor unreachable at ${socket}: ${e.message}`)))
    req.end()
  })
}
