/**
 * The supervisor's control channel: a tiny HTTP API on a unix socket in the lab dir (root-only, no
 * port). `lab status` reads it; `lab break daemon-stopped` and friends stop and start node daemons
 * through it.
 */
import {chmodSync, rmSync} from 'node:fs'
import http from 'node:http'

export type ControlHandler = (method: string, path: string) => Promise<{status: number; body: unknown}>

export interface ControlServer {
  close(): Promise<void>
}

export async function startControlServer(socket: string, handler: ControlHandler): Promise<ControlServer> {
  rmSync(socket, {force: true})
  const server = http.createServer((req, res) => {
    handler(req.method ?? 'GET', req.url ?? '/').then(
      ({status, body}) => {
        res.writeHead(status, {'content-type': 'application/json'})
        res.end(JSON.stringify(body))
      },
      (error: unknown) => {
        res.writeHead(500, {'content-type': 'application/json'})
        res.end(JSON.stringify({error: (error as Error).message ?? String(error)}))
      },
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(socket, () => resolve())
  })
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
