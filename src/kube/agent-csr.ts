/**
 * The node agents' serving certificates, issued through the Kubernetes API (docs/deploy.md,
 * "Trusting the agents"): an agent sends a certificates.k8s.io/v1 CertificateSigningRequest for its
 * node IP(s) to a signer of its own, `cnidbg.dev/agent-serving`, and serves the certificate the
 * cluster issues; trace then checks an agent with the CA of its kubeconfig, the node IP as the name
 * and the subject below, so no fingerprint or CA has to be handed around.
 *
 * The names here are shared by the agent (which asks), the lab's API server (which approves and
 * signs, as a cluster's approver and signer would) and trace (which checks). The two requests are
 * plain HTTPS: a pod's agent asks without loading the Kubernetes client.
 */
import {existsSync, readFileSync} from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import {join} from 'node:path'

import type {KubeConfig} from './client.js'
import {parseJson} from '../core/json.js'

/** The signer the agents' CSRs name: no built-in signer of kube-controller-manager signs for it. */
export const AGENT_SIGNER = 'cnidbg.dev/agent-serving'

/** The identity the agents run as (deploy/10-rbac.yaml). */
export const AGENT_SERVICE_ACCOUNT = 'system:serviceaccount:cnidbg:cnidbg-agent'

/** The key usages an agent asks for: a TLS server's, nothing else. */
export const AGENT_USAGES = ['digital signature', 'server auth'] as const

/**
 * The subject common name of a node's agent certificate. trace requires it, so a certificate the
 * same CA issued for anything else on that IP (a kubelet's serving certificate) is not an agent's.
 */
export const agentCommonName = (node: string): string => `cnidbg-agent:${node}`

/** What a CSR came to, as `kubectl get csr` shows it. */
export interface CsrState {
  name: string
  /** The issued certificate (PEM), once signed. */
  certificate?: string
  /** `Denied` or `Failed`, with the condition's message. */
  refused?: string
}

type CsrObject = {
  metadata?: {name?: string}
  status?: {certificate?: string; conditions?: Array<{type?: string; status?: string; message?: string}>}
}

function stateOf(name: string, o: CsrObject): CsrState {
  const refused = o.status?.conditions?.find(
    (c) => (c.type === 'Denied' || c.type === 'Failed') && c.status !== 'False',
  )
  return {
    name,
    ...(o.status?.certificate ? {certificate: Buffer.from(o.status.certificate, 'base64').toString('utf8')} : {}),
    ...(refused ? {refused: `${refused.type}: ${refused.message ?? ''}`.trim()} : {}),
  }
}

/**
 * Where the API server is and how to authenticate to it, as https request options. In a pod (the
 * DaemonSet), the in-cluster files are read directly, so an idle agent does not load the Kubernetes
 * client only to ask once; a kubeconfig is applied by the client.
 */
export interface ApiEndpoint {
  server: string
  options: https.RequestOptions
  /** A bearer token file read for each request (the kubelet rotates a pod's token). */
  tokenFile?: string
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

/** The in-cluster endpoint (KUBERNETES_SERVICE_HOST, the pod's token and CA), when in a pod. */
export function inClusterEndpoint(env = process.env, dir = SA_DIR): ApiEndpoint | undefined {
  const host = env.KUBERNETES_SERVICE_HOST
  const port = env.KUBERNETES_SERVICE_PORT
  if (!host || !port || !existsSync(join(dir, 'token'))) return undefined
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    options: {ca: readFileSync(join(dir, 'ca.crt'))},
    tokenFile: join(dir, 'token'),
  }
}

/** The endpoint of a kubeconfig's current context. */
export async function kubeconfigEndpoint(kc: KubeConfig): Promise<ApiEndpoint> {
  const server = kc.getCurrentCluster()?.server
  if (!server) throw new Error('the kubeconfig names no server')
  const options: https.RequestOptions = {}
  await kc.applyToHTTPSOptions(options)
  return {server, options}
}

const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests'

function call(api: ApiEndpoint, method: string, path: string, body?: unknown): Promise<CsrObject> {
  const url = new URL(path, api.server)
  const payload = body === undefined ? undefined : JSON.stringify(body)
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(
      url,
      {
        ...api.options,
        method,
        headers: {
          ...(api.options.headers as Record<string, string> | undefined),
          ...(api.tokenFile ? {authorization: `Bearer ${readFileSync(api.tokenFile, 'utf8').trim()}`} : {}),
          accept: 'application/json',
          ...(payload ? {'content-type': 'application/json'} : {}),
        },
        timeout: 15_000,
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          if (text.length < 1024 * 1024) text += c
        })
        res.on('end', () => {
          let parsed: unknown
          try {
            parsed = parseJson(text)
          } catch {
            parsed = undefined
          }
          if (res.statusCode && res.statusCode < 300 && parsed) resolve(parsed as CsrObject)
          else
            reject(
              new Error(
                `${method} ${path}: HTTP ${res.statusCode}${(parsed as {message?: string})?.message ? `: ${(parsed as {message: string}).message}` : ''}`,
              ),
            )
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)))
    req.on('error', reject)
    req.end(payload)
  })
}

/** Creates the CSR (PEM `request`); a signer that answers at once leaves the certificate in it. */
export async function createAgentCsr(
  api: ApiEndpoint,
  opts: {name: string; request: string; expirationSeconds?: number},
): Promise<CsrState> {
  const created = await call(api, 'POST', CSR_PATH, {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: {name: opts.name},
    spec: {
      request: Buffer.from(opts.request).toString('base64'),
      signerName: AGENT_SIGNER,
      usages: [...AGENT_USAGES],
      ...(opts.expirationSeconds ? {expirationSeconds: opts.expirationSeconds} : {}),
    },
  })
  return stateOf(opts.name, created)
}

/** Reads the CSR again: for a signer that answers later (an approval by hand, a controller). */
export async function readAgentCsr(api: ApiEndpoint, name: string): Promise<CsrState> {
  return stateOf(name, await call(api, 'GET', `${CSR_PATH}/${encodeURIComponent(name)}`))
}
