// Raw TCP (or unix socket) requests for the servers' crash tests: bytes no HTTP client would send,
// written as they are, and the status line the server answers with (if any) once it closes.
import {spawn, type ChildProcess} from 'node:child_process'
import net from 'node:net'
import tls from 'node:tls'

import {cachedBundle} from './bundle-cache.js'
import {bundleTo, type Tap} from './lab.js'

/** A TCP port (`tls`: a TLS server, whose certificate is not checked), or a unix socket. */
export type Target = {port: number; tls?: boolean} | {path: string}

export interface RawAnswer {
  /** The status code of the first response, 0 when none came. */
  status: number
  text: string
  /** The connection ended with an error (a reset) rather than a close. */
  error?: string
}

/**
 * Sends `data` on a fresh connection, then half-closes it unless `end` is false (a client that
 * stalls), and resolves with what came back once the server closes the connection.
 */
export function raw(target: Target, data: string | Buffer, opts: {end?: boolean} = {}): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket =
      'port' in target
        ? target.tls
          ? tls.connect({port: target.port, host: '127.0.0.1', rejectUnauthorized: false})
          : net.connect(target.port, '127.0.0.1')
        : net.connect(target.path)
    let text = ''
    let error: string | undefined
    socket.setEncoding('latin1')
    socket.on('port' in target && target.tls ? 'secureConnect' : 'connect', () => {
      socket.write(data)
      if (opts.end !== false) socket.end()
    })
    socket.on('data', (d: string) => (text += d))
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message))
    socket.on('close', () => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text)
      resolve({status: m ? Number(m[1]) : 0, text, error})
    })
  })
}

/** One well-formed request on a fresh connection (Connection: close), answered in full. */
export function good(target: Target, path: string, extra = ''): Promise<RawAnswer> {
  return raw(target, `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${extra}\r\n`)
}

export interface HostileCase {
  name: string
  data: string
  /** Statuses a correct server may answer with. */
  expect: number[]
}

/**
 * The malformed requests every server must turn away with a 4xx and survive. `post` is a path that
 * takes a JSON body (or, on a server that takes none, any path); `headers` go into every request
 * (credentials, so that what is tested is the framing, not the authentication).
 */
export function hostileCases(get: string, post: string, headers = ''): HostileCase[] {
  const h = `Host: localhost\r\n${headers}`
  return [
    {name: 'a request line that is not HTTP', data: 'GARBAGE\r\n\r\n', expect: [400]},
    {name: 'a request line with a NUL', data: `GET /\0 HTTP/1.1\r\n${h}\r\n`, expect: [400]},
    {name: 'an absolute URL new URL() rejects', data: `GET http://[bad${get} HTTP/1.1\r\n${h}\r\n`, expect: [400]},
    {name: 'an over-long request line', data: `GET /${'a'.repeat(40_000)} HTTP/1.1\r\n${h}\r\n`, expect: [431]},
    {
      name: 'huge headers',
      data: `GET ${get} HTTP/1.1\r\n${h}${Array.from({length: 400}, (_, i) => `X-Pad-${i}: ${'b'.repeat(100)}\r\n`).join('')}\r\n`,
      expect: [431],
    },
    {
      name: 'an invalid Content-Length',
      data: `POST ${post} HTTP/1.1\r\n${h}Content-Length: 12x\r\n\r\n`,
      expect: [400],
    },
    {
      name: 'a declared body over the limit',
      data: `POST ${post} HTTP/1.1\r\n${h}Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{"a":`,
      expect: [413],
    },
    {
      name: 'a chunked body over the limit',
      data: `POST ${post} HTTP/1.1\r\n${h}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${'4000\r\n' + ' '.repeat(0x4000) + '\r\n'}`,
      expect: [413],
    },
    {
      name: 'a truncated body',
      data: `POST ${post} HTTP/1.1\r\n${h}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"kind":`,
      // 413 from a server that takes no body at all.
      expect: [400, 413],
    },
    {
      name: 'invalid JSON',
      data: `POST ${post} HTTP/1.1\r\n${h}Content-Type: application/json\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{"kind":[`,
      expect: [400, 413],
    },
  ]
}

/**
 * A client that sends part of a request and then nothing: resolves with the server's answer once
 * the server gives up on it (its headersTimeout or requestTimeout).
 */
export function stall(target: Target, partial: string): Promise<RawAnswer> {
  return raw(target, partial, {end: false})
}

/** The stalls to try: in the headers, and in the body. */
export function stallCases(get: string, post: string, headers = ''): Array<{name: string; data: string}> {
  return [
    {name: 'headers that never end', data: `GET ${get} HTTP/1.1\r\nHost: localhost\r\n${headers}X-Slow: 1\r\n`},
    {
      name: 'a body that never comes',
      data: `POST ${post} HTTP/1.1\r\nHost: localhost\r\n${headers}Content-Type: application/json\r\nContent-Length: 50\r\n\r\n{`,
    },
  ]
}

/**
 * Test entry points (TypeScript, with their src/ imports) bundled into one dir so they run as plain node
 * processes: the shared cache's (bundle-cache.ts), made once for the sources as they are, since bundling
 * a server with its imports costs a file 2–3 s of CPU. Read only: run from it, write nothing into it.
 */
export function bundleEntries(entries: Record<string, string>): Promise<string> {
  return cachedBundle({entries}, (dir) => bundleTo(dir, entries))
}

/** A child node process, killed at teardown; `exited` settles when it ends (for whatever reason). */
export function child(
  t: Tap,
  script: string,
  args: string[],
): {proc: ChildProcess; exited: Promise<number | string>; output: () => string} {
  const proc = spawn(process.execPath, [script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {PATH: process.env.PATH},
  })
  let output = ''
  proc.stdout?.on('data', (d) => (output += d))
  proc.stderr?.on('data', (d) => (output += d))
  const exited = new Promise<number | string>((resolve) =>
    proc.on('exit', (code, signal) => resolve(code ?? signal ?? '?')),
  )
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL')
      await exited
    }
  })
  return {proc, exited, output: () => output}
}
