/**
 * What the tests of the lab API server and of its clients share: a serving certificate for it on
 * 127.0.0.1, one raw request to it as any local program could send it (no client library, so the
 * server's own answers are seen: 401s, Status bodies, health text), and kubectl against it.
 */
import fs from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import path from 'node:path'

import {run, type RunResult} from '../../src/process/exec.js'

/** A self-signed P-256 certificate for 127.0.0.1, valid a day, and its key (files under `dir`). */
export async function selfSignedApiCert(dir: string): Promise<{cert: Buffer; key: Buffer}> {
  const [cert, key] = [path.join(dir, 'api.crt'), path.join(dir, 'api.key')]
  const r = await run(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'].concat([
      '-subj',
      '/CN=test',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ]),
    {timeoutMs: 60_000},
  )
  if (r.exitCode !== 0) throw new Error(`openssl: ${r.stderr}`)
  return {cert: fs.readFileSync(cert), key: fs.readFileSync(key)}
}

export interface ApiReply {
  status: number
  /** The JSON body, or its text (health endpoints). */
  body: any
}

/**
 * A caller of the API server at `url` with `token` (none: anonymous): `(method, path, body?,
 * contentType?)`. Over HTTPS it trusts `ca` only.
 */
export function apiCaller(url: string, token?: string, opts: {ca?: string | Buffer} = {}) {
  return (method: string, p: string, body?: unknown, contentType = 'application/json'): Promise<ApiReply> => {
    const target = new URL(p, url)
    const headers: Record<string, string> = {}
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = contentType
    return new Promise((resolve, reject) => {
      const onResponse = (res: http.IncomingMessage) => {
        let text = ''
        res.on('data', (c: Buffer) => (text += c.toString()))
        res.on('end', () => {
          let parsed: unknown = text
          try {
            parsed = JSON.parse(text)
          } catch {
            // Plain text (health endpoints).
          }
          resolve({status: res.statusCode ?? 0, body: parsed})
        })
      }
      const req =
        target.protocol === 'https:'
          ? https.request(target, {method, headers, ca: opts.ca}, onResponse)
          : http.request(target, {method, headers}, onResponse)
      req.on('error', reject)
      req.end(body === undefined ? undefined : JSON.stringify(body))
    })
  }
}

/** kubectl with this kubeconfig, its discovery cache under `cacheDir`. */
export function kubectl(kubeconfig: string, cacheDir: string, args: string[], input?: string): Promise<RunResult> {
  return run('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, ...args], {input, timeoutMs: 120_000})
}
