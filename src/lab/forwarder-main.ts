/**
 * The lab's forwarder, run by the supervisor inside the underlay namespace (the bridge holds the
 * control plane's address there, and reaches every node's IP):
 *
 *   node dist/lab/forwarder-main.js --forward 198.18.0.1:6443=unix:/run/cnidbg/lab/<name>/apiserver.sock \
 *                                   --forward unix:<node dir>/daemon.sock=198.18.0.2:10266 …
 *
 * Each --forward is LISTEN=TARGET, either side HOST:PORT or unix:PATH; every connection is relayed
 * byte for byte (TLS passes through). A unix socket lives in the filesystem, not in a network
 * namespace: that is how the API server in the root namespace serves the nodes, and how the
 * supervisor reaches the node processes listening on their node IPs, with no link, address or
 * route in the root namespace (docs/lab.md). Unix sockets it makes are 0600. Prints "ready" once
 * every listener listens; exits on SIGTERM.
 */
import {chmodSync, rmSync} from 'node:fs'
import net from 'node:net'
import {parseArgs} from 'node:util'

import {isEntryPoint} from './entry-point.js'

export type Endpoint = {path: string} | {host: string; port: number}

export function parseEndpoint(s: string): Endpoint {
  if (s.startsWith('unix:')) return {path: s.slice(5)}
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(s)
  if (!m || Number(m[2]) > 65535) throw new Error(`not HOST:PORT or unix:PATH: ${s}`)
  return {host: m[1]!, port: Number(m[2])}
}

export function parseForward(s: string): {listen: Endpoint; target: Endpoint} {
  const at = s.indexOf('=')
  if (at < 0) throw new Error(`--forward must be LISTEN=TARGET, not ${s}`)
  return {listen: parseEndpoint(s.slice(0, at)), target: parseEndpoint(s.slice(at + 1))}
}

/** Starts one relay; resolves with its server once it listens. */
export async function startForward(listen: Endpoint, target: Endpoint): Promise<net.Server> {
  // Half-open allowed on both legs: a side that finished sending may still receive (each end passes on
  // to the other through pipe()), so a relay changes nothing for the protocol it carries.
  const server = net.createServer({allowHalfOpen: true}, (client) => {
    const upstream =
      'path' in target
        ? net.connect({path: target.path, allowHalfOpen: true})
        : net.connect({port: target.port, host: target.host, allowHalfOpen: true})
    // Either side failing ends both: the peer sees a closed connection, as with no relay at all.
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end)
    upstream.on('error', end)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  if ('path' in listen) rmSync(listen.path, {force: true})
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    if ('path' in listen) server.listen(listen.path, () => resolve())
    else server.listen(listen.port, listen.host, () => resolve())
  })
  if ('path' in listen) chmodSync(listen.path, 0o600)
  return server
}

if (isEntryPoint(import.meta.url)) {
  const {values} = parseArgs({strict: true, options: {forward: {type: 'string', multiple: true}}})
  const forwards = (values.forward ?? []).map(parseForward)
  Promise.all(forwards.map((f) => startForward(f.listen, f.target))).then(
    (servers) => {
      process.stdout.write('ready\n')
      const stop = () => {
        for (const s of servers) s.close()
        process.exit(0)
      }
      process.on('SIGTERM', stop)
      process.on('SIGINT', stop)
    },
    (e: unknown) => {
      process.stderr.write(`cnidbg lab forwarder: ${(e as Error).message}\n`)
      process.exit(1)
    },
  )
}
