/**
 * `cnidbg agent`: the node agent. A process of its own, apart from the routing daemon, so it answers
 * while the daemon is stopped or broken: it serves over HTTPS what trace reads of a node (kernel
 * state, pod namespaces, netfilter verdicts, conntrack), to callers the Kubernetes API says may
 * `get` (read) or `create` (act) `nodes/proxy` on this node.
 *
 * What it reads as the node: with `netns` a lab node's namespace, entered from outside as the daemon
 * does; with `hostNetwork` the namespace it runs in (a hostNetwork DaemonSet pod). One of the two
 * must be said. It starts, prints where it listens, and serves until SIGINT or SIGTERM.
 */
import {createPrivateKey, randomBytes, X509Certificate} from 'node:crypto'
import {accessSync, constants} from 'node:fs'
import {isIP} from 'node:net'
import {networkInterfaces} from 'node:os'

import {UsageError} from '../core/errors.js'
import {surviveUnhandledRejections} from '../core/http.js'
import {onCleanup} from '../process/cleanup.js'
import {netnsPath} from '../netns/netns.js'
import {
  agentCommonName,
  createAgentCsr,
  inClusterEndpoint,
  kubeconfigEndpoint,
  readAgentCsr,
  type ApiEndpoint,
  type CsrState,
} from '../kube/agent-csr.js'
import type {KubeConfig} from '../kube/client.js'
import {apiReviewer, Gate, type Reviewer} from '../kube/node-proxy-gate.js'
import {AgentOps} from './ops.js'
import {DEFAULT_MAX_IN_FLIGHT, startAgentServer, type AgentServer} from './server.js'
import {fingerprintOf, newKeyAndCsr, readServingCert, selfSignedCert, type ServingCert} from './tls.js'

export const DEFAULT_AGENT_PORT = 10265
export const DEFAULT_AGENT_LISTEN = `0.0.0.0:${DEFAULT_AGENT_PORT}`

export interface RunAgentOptions {
  node: string
  /** HOST:PORT; port 0 picks a free one. */
  listen: string
  kubeconfigPath?: string
  /** A lab node's namespace (name under /run/netns or a path). */
  netns?: string
  /** Read the namespace the agent runs in. */
  hostNetwork?: boolean
  tlsCertFile?: string
  tlsKeyFile?: string
  /**
   * Ask the cluster for the serving certificate (a CertificateSigningRequest for the listen address,
   * src/kube/agent-csr.ts) when no files are given and it listens on one non-loopback IP. Default true.
   */
  csr?: boolean
  /** Seconds between two looks at a CSR the cluster has not signed yet. Default 10. */
  csrPollSeconds?: number
  cniCacheDir?: string
  /** The node daemon's base URL, asked for its BGP state (GET /v1/bgp). */
  daemonUrl?: string
  /** Audiences a caller's token must be good for (default: the API server's). */
  audiences?: string[]
  maxInFlight?: number
  /** Seconds a review answer is reused. */
  authCacheSeconds?: number
  log?: (line: string) => void
  /** Instead of the API (tests). */
  reviewer?: Reviewer
}

export interface RunAgentResult {
  node: string
  url: string
  /** The certificate's SHA-256 fingerprint, to pin it. */
  fingerprint: string
  /** The certificate was made at start (else read from files or issued by the cluster). */
  selfSigned: boolean
  /** Where the certificate served now comes from. */
  certificate: 'files' | 'cluster' | 'self-signed'
  /** The CertificateSigningRequest the agent made, if it made one. */
  csr?: string
  /** What the agent reads as the node. */
  reads: string
  audiences: string[]
  pid: number
}

export interface RunningAgent {
  result: RunAgentResult
  server: AgentServer
  stop(): Promise<void>
}

export function parseListen(listen: string): {host: string; port: number} {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen)
  const port = Number(m?.[3])
  if (!m || port > 65535) throw new UsageError(`--listen must be HOST:PORT, not ${listen}`, {code: 'AGENT_LISTEN'})
  return {host: m[1] ?? (m[2] || '0.0.0.0'), port}
}

function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text)
    return (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password && !u.search
  } catch {
    return false
  }
}

/** The addresses of this namespace, for the self-signed certificate's names. */
function localAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && a.family === 'IPv4')
    .map((a) => a!.address)
}

/** How long the agent waits at start for the API server to take its CSR. */
const CSR_TIMEOUT_MS = 15_000

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the API server in ${ms / 1000} s`)), ms)
  })
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}

const isLoopbackOrAny = (ip: string): boolean =>
  ip === '0.0.0.0' || ip === '::' || ip === '::1' || ip.startsWith('127.')

/** The certificate a CSR was issued, if it is one for this key. */
function issuedCert(state: CsrState, key: Buffer): ServingCert | undefined {
  try {
    const x = new X509Certificate(state.certificate!)
    if (!x.checkPrivateKey(createPrivateKey(key))) return undefined
    return {cert: Buffer.from(state.certificate!), key, fingerprint: fingerprintOf(state.certificate!)}
  } catch {
    return undefined
  }
}

/** Starts the agent; resolves once it listens. */
export async function startAgent(opts: RunAgentOptions): Promise<RunningAgent> {
  if (!opts.netns === !opts.hostNetwork) {
    throw new UsageError('say which namespace is the node: --netns (a lab node) or --host-network (this one)', {
      code: 'AGENT_NODE_NAMESPACE',
    })
  }
  if (Boolean(opts.tlsCertFile) !== Boolean(opts.tlsKeyFile))
    throw new UsageError('--tls-cert-file and --tls-private-key-file go together', {code: 'AGENT_TLS'})
  const {host, port} = parseListen(opts.listen)
  if (opts.daemonUrl !== undefined && !isHttpUrl(opts.daemonUrl))
    throw new UsageError(`--daemon-url must be an http(s) URL, not ${opts.daemonUrl}`, {code: 'AGENT_DAEMON_URL'})
  const nodeNetns = opts.netns
    ? opts.netns.includes('/')
      ? opts.netns
      : netnsPath(opts.netns)
    : `/proc/${process.pid}/ns/net`
  const path = opts.kubeconfigPath
  // A wrong path fails at start; the client and the file's contents load with the first question
  // (apiReviewer says why).
  if (path) accessSync(path, constants.R_OK)
  const loadKubeConfig = async (): Promise<KubeConfig> => {
    const {KubeConfig} = await import('../kube/client.js')
    const kc = new KubeConfig()
    if (path) kc.loadFromFile(path)
    else kc.loadFromDefault()
    return kc
  }
  const reviewer = opts.reviewer ?? apiReviewer(loadKubeConfig)
  const log = (line: string) => opts.log?.(line)
  let cert: ServingCert | undefined
  let source: RunAgentResult['certificate'] = 'self-signed'
  let pending: {api: ApiEndpoint; name: string; key: Buffer} | undefined
  let csrName: string | undefined
  if (opts.tlsCertFile && opts.tlsKeyFile) {
    cert = readServingCert(opts.tlsCertFile, opts.tlsKeyFile)
    source = 'files'
  } else if (opts.csr !== false && (path || !opts.reviewer) && isIP(host) && !isLoopbackOrAny(host)) {
    try {
      const api = (!path && inClusterEndpoint()) || (await kubeconfigEndpoint(await loadKubeConfig()))
      const {key, csr} = await newKeyAndCsr(agentCommonName(opts.node), [host])
      csrName = `cnidbg-agent-${opts.node}-${randomBytes(4).toString('hex')}`.slice(0, 253)
      // Bounded: an API server that accepts and never answers must not keep the node without its agent.
      const state = await withTimeout(createAgentCsr(api, {name: csrName, request: csr}), CSR_TIMEOUT_MS)
      const issued = state.certificate ? issuedCert(state, key) : undefined
      if (issued) {
        cert = issued
        source = 'cluster'
        log(`serving the certificate the cluster issued for CSR ${csrName}`)
      } else if (state.refused) log(`CSR ${csrName} ${state.refused}: serving a self-signed certificate`)
      else {
        pending = {api, name: csrName, key}
        log(
          `CSR ${csrName} waits for approval (kubectl certificate approve ${csrName}): serving a self-signed certificate until then`,
        )
      }
    } catch (error) {
      log(`no certificate from the cluster (${(error as Error).message}): serving a self-signed certificate`)
    }
  }
  cert ??= await selfSignedCert(opts.node, host === '0.0.0.0' ? localAddresses() : [host])
  const ttl = (opts.authCacheSeconds ?? 10) * 1000
  const gate = new Gate(reviewer, {
    node: opts.node,
    audiences: opts.audiences,
    ttlMs: ttl,
    negativeTtlMs: Math.min(ttl, 5000),
  })
  const ops = new AgentOps({node: opts.node, nodeNetns, cniCacheDir: opts.cniCacheDir, daemonUrl: opts.daemonUrl})
  const server = await startAgentServer({
    node: opts.node,
    ops,
    gate,
    host,
    port,
    tls: cert,
    maxInFlight: opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
    log: opts.log,
  })
  const result: RunAgentResult = {
    node: opts.node,
    url: server.url,
    fingerprint: cert.fingerprint,
    selfSigned: source === 'self-signed',
    certificate: source,
    ...(csrName ? {csr: csrName} : {}),
    reads: ops.nodeReader.describe,
    audiences: opts.audiences ?? [],
    pid: process.pid,
  }
  // A CSR not signed at once (an approval by hand, a signer controller): looked at again until it is
  // signed or refused, and its certificate then served to new connections.
  let timer: NodeJS.Timeout | undefined
  // A look in flight when the agent stops must neither serve its answer nor look again.
  let stopped = false
  if (pending) {
    const p = pending
    const look = () => {
      withTimeout(readAgentCsr(p.api, p.name), CSR_TIMEOUT_MS).then(
        (state) => {
          if (stopped) return
          const issued = state.certificate ? issuedCert(state, p.key) : undefined
          if (issued) {
            server.setCertificate(issued)
            Object.assign(result, {fingerprint: issued.fingerprint, selfSigned: false, certificate: 'cluster'})
            log(`serving the certificate the cluster issued for CSR ${p.name}`)
          } else if (state.refused) log(`CSR ${p.name} ${state.refused}: keeping the self-signed certificate`)
          else timer = setTimeout(look, (opts.csrPollSeconds ?? 10) * 1000).unref()
        },
        (error: unknown) => {
          if (stopped) return
          log(`CSR ${p.name}: ${(error as Error).message}`)
          timer = setTimeout(look, (opts.csrPollSeconds ?? 10) * 1000).unref()
        },
      )
    }
    timer = setTimeout(look, (opts.csrPollSeconds ?? 10) * 1000).unref()
  }
  const unregister = onCleanup(`node agent ${opts.node}`, () => {
    stopped = true
    clearTimeout(timer)
    return server.close()
  })
  return {
    result,
    server,
    stop: async () => {
      stopped = true
      clearTimeout(timer)
      unregister()
      await server.close()
    },
  }
}

/**
 * Runs the agent for the process's lifetime: resolves with where it listens once it does, and keeps
 * serving until SIGINT/SIGTERM, when the process cleanup closes it.
 */
export async function runAgent(opts: RunAgentOptions): Promise<RunAgentResult> {
  const running = await startAgent(opts)
  // Runs for the node's lifetime: a stray rejection is logged, not the end of the agent.
  surviveUnhandledRejections((line) => opts.log?.(line))
  return running.result
}
