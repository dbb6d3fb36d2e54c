/**
 * What the tests of the lab API server and of its clients share: a serving certificate for it on
 * 127.0.0.1, one raw request to it as any local program could send it (no client library, so the
 * server's own answers are seen: 401s, Status bodies, health text), and kubectl against it.
 */
import {randomBytes, X509Certificate} from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import path from 'node:path'

import {CoreV1Api, KubeConfig, type KubernetesObject} from '../../src/kube/client.js'
import {startApiServer, type ApiServer} from '../../src/lab/apiserver/server.js'
import {writeServingCert} from '../../src/lab/credentials.js'
import {applyManifests, readManifests} from '../../src/lab/manifests.js'
import {run, type RunResult} from '../../src/process/exec.js'
import {nodeObject} from '../lab/apiserver/helpers/fixtures.js'
import {ROOT} from './capture.js'

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

/** The lab API server with the lab's PKI (its CA and a serving certificate it signed), as CSR tests use it. */
export interface PkiApiServer {
  api: ApiServer
  /** The CA's files, and its certificate. */
  caFiles: {certFile: string; keyFile: string}
  ca: X509Certificate
  /** An admin kubeconfig file (system:masters), and its token. */
  admin: string
  adminToken: string
  /** A client kubeconfig with `token`, trusting the CA. */
  kubeconfig(token: string): KubeConfig
  /** A token of ServiceAccount cnidbg/`sa`, bound to Node `node` when given (as a pod's on it). */
  saToken(sa: string, node?: string): Promise<string>
}

/**
 * Starts it in `dir` with deploy/'s manifests (and `more`) applied and the Nodes given (name → IP);
 * `signing`: the server approves and signs agents' CSRs itself, as the lab does.
 */
export async function startPkiApiServer(
  dir: string,
  opts: {signing: boolean; nodes: Record<string, string>; more?: KubernetesObject[]},
): Promise<PkiApiServer> {
  const ADMIN = `admin-${randomBytes(8).toString('hex')}`
  const pki = {
    dir,
    tlsCert: path.join(dir, 'apiserver.crt'),
    tlsKey: path.join(dir, 'apiserver.key'),
    caCert: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
  }
  await writeServingCert(pki)
  const caFiles = {certFile: pki.caCert, keyFile: pki.caKey}
  const api = await startApiServer({
    port: 0,
    tokens: [{token: ADMIN, user: {name: 'lab-admin', uid: '1', groups: ['system:masters']}}],
    tls: {cert: fs.readFileSync(pki.tlsCert), key: fs.readFileSync(pki.tlsKey)},
    ...(opts.signing ? {clusterSigning: caFiles} : {}),
  })
  const caData = fs.readFileSync(pki.caCert).toString('base64')
  const admin = path.join(dir, 'admin.kubeconfig')
  api.writeKubeconfig(admin, {token: ADMIN, certificateAuthorityData: caData})
  await applyManifests(admin, [...readManifests(path.join(ROOT, 'deploy')), ...(opts.more ?? [])])
  for (const [n, ip] of Object.entries(opts.nodes)) api.store.create('nodes', undefined, nodeObject(n, ip) as never)
  const kubeconfig = (token: string): KubeConfig => {
    const kc = new KubeConfig()
    kc.loadFromString(api.kubeconfigYaml({token, certificateAuthorityData: caData}))
    return kc
  }
  return {
    api,
    caFiles,
    ca: new X509Certificate(fs.readFileSync(pki.caCert)),
    admin,
    adminToken: ADMIN,
    kubeconfig,
    async saToken(sa, node) {
      const r = await kubeconfig(ADMIN)
        .makeApiClient(CoreV1Api)
        .createNamespacedServiceAccountToken({
          name: sa,
          namespace: 'cnidbg',
          body: {
            spec: {audiences: [], ...(node ? {boundObjectRef: {apiVersion: 'v1', kind: 'Node', name: node}} : {})},
          },
        })
      return r.status!.token
    },
  }
}
