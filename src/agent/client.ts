/**
 * The node agent's client, and the KernelReader trace's engine sees for a node (or a pod) it reads
 * through the agent. The server's certificate is checked before the token leaves: against a CA (which
 * also checks the name: the node IP; with `commonName`, the subject too, as for the cluster CA, which
 * signs other certificates for that IP), or against a pinned SHA-256 fingerprint (a self-signed
 * agent's, as it printed it); the TLS connection is made and checked first, and only then is the
 * request, with its bearer token, written to it. There is no way to skip the check.
 */
import http from 'node:http'
import {isIP} from 'node:net'
import tls from 'node:tls'

import type {NodeAccess} from '../kernel/node-access.js'
import type {PodNetns} from '../kernel/pods.js'
import type {KernelReader, KernelSnapshot, SnapshotRequest} from '../kernel/reader.js'
import {
  PATHS,
  type BgpAnswer,
  type BgpView,
  type ConntrackBody,
  type ConntrackRead,
  type ListenAnswer,
  type ListenBody,
  type ListenResult,
  type ObserveAnswer,
  type ObserveBody,
  type ObserveResult,
  type ProbeAnswer,
  type ProbeBody,
  type NetfilterAnswer,
  type NetfilterBody,
  type NodeInfo,
  type PodsAnswer,
  type SnapshotAnswer,
  type SnapshotBody,
  type SocketsAnswer,
  type SocketsBody,
  type Target,
} from './api.js'
import {parseJson} from '../core/json.js'

export interface AgentClientOptions {
  /** https://HOST:PORT */
  url: string
  /** The caller's bearer token. */
  token?: string
  /** Trust the server through this CA (PEM). */
  ca?: string | Buffer
  /** Or: its certificate's SHA-256 fingerprint, `AB:CD:…` (case and colons ignored). */
  fingerprint?: string
  /** With `ca`: the subject common name the certificate must have (src/kube/agent-csr.ts). */
  commonName?: string
  /** What `ca` is, for the reason a certificate is refused ("the cluster CA of the kubeconfig"). */
  trust?: string
  /** For the whole request. Default 15 s (the agent answers within 10). */
  timeoutMs?: number
  /** For the TLS connection to be made and checked. Default 5 s. */
  connectTimeoutMs?: number
  /** Largest answer accepted. Default 32 MiB. */
  maxResponseBytes?: number
}

/** A failed request: the HTTP status (0 when no answer came) and the agent's message. */
export class AgentError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** No trusted connection was made (refused, timed out, wrong certificate): nothing was sent. */
    readonly unconnected = false,
  ) {
    super(message)
    this.name = 'AgentError'
  }
}

const normalize = (fp: string): string => fp.replace(/:/g, '').toUpperCase()

/** An error of the certificate's check (chain, name, dates), not of the connection. */
const isCertificateError = (e: Error): boolean =>
  /CERT|SIGNATURE|SELF_SIGNED|ISSUER|ALTNAME/.test(String((e as {code?: unknown}).code ?? ''))

export class AgentClient {
  private readonly target: URL

  constructor(readonly opts: AgentClientOptions) {
    this.target = new URL(opts.url)
    if (this.target.protocol !== 'https:') throw new Error(`the agent URL must be https: ${opts.url}`)
    if (!opts.ca && !opts.fingerprint) throw new Error('give the agent certificate’s CA or its fingerprint')
  }

  /** A TLS connection whose peer passed the check. */
  private connect(deadline: number): Promise<tls.TLSSocket> {
    const host = this.target.hostname.replace(/^\[|\]$/g, '')
    const port = Number(this.target.port || 443)
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host,
        port,
        servername: isIP(host) ? undefined : host,
        ca: this.opts.ca,
        // With only a fingerprint, the chain can't be checked (self-signed): the pin below decides.
        rejectUnauthorized: Boolean(this.opts.ca),
        ...(this.opts.commonName ? {checkServerIdentity: (name, cert) => this.checkIdentity(name, cert)} : {}),
        ALPNProtocols: ['http/1.1'],
      })
      const fail = (e: Error) => {
        socket.destroy()
        const why =
          this.opts.trust && isCertificateError(e)
            ? `certificate not trusted by ${this.opts.trust}: ${e.message}`
            : e.message
        reject(e instanceof AgentError ? e : new AgentError(0, `${this.opts.url}: ${why}`, true))
      }
      const connectBy = Math.min(deadline, Date.now() + (this.opts.connectTimeoutMs ?? 5000))
      socket.setTimeout(Math.max(1, connectBy - Date.now()), () => fail(new Error('TLS connection timed out')))
      socket.once('error', fail)
      socket.once('secureConnect', () => {
        const want = this.opts.fingerprint
        if (want) {
          const got = socket.getPeerCertificate().fingerprint256 ?? ''
          if (normalize(got) !== normalize(want)) {
            fail(
              new AgentError(0, `${this.opts.url}: certificate fingerprint ${got} is not the expected ${want}`, true),
            )
            return
          }
        }
        socket.off('error', fail)
        socket.setTimeout(0)
        resolve(socket)
      })
    })
  }

  /** The default name check (the node IP among the SANs), and the subject's common name. */
  private checkIdentity(name: string, cert: tls.PeerCertificate): Error | undefined {
    const wrong = tls.checkServerIdentity(name, cert)
    if (wrong) return wrong
    const cn = cert.subject?.CN
    if (cn !== this.opts.commonName) {
      return Object.assign(new Error(`its subject is CN=${String(cn)}, not CN=${this.opts.commonName}`), {
        code: 'ERR_TLS_CERT_SUBJECT',
      })
    }
    return undefined
  }

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const deadline = Date.now() + (this.opts.timeoutMs ?? 15_000)
    const socket = await this.connect(deadline)
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const max = this.opts.maxResponseBytes ?? 32 * 1024 * 1024
    return new Promise<T>((resolve, reject) => {
      const headers: Record<string, string> = {host: this.target.host, accept: 'application/json'}
      if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`
      if (payload !== undefined) {
        headers['content-type'] = 'application/json'
        headers['content-length'] = String(Buffer.byteLength(payload))
      }
      const req = http.request({method, path, headers, createConnection: () => socket})
      const timer = setTimeout(() => req.destroy(new Error('timed out')), Math.max(1, deadline - Date.now()))
      req.on('error', (e) => {
        clearTimeout(timer)
        reject(e instanceof AgentError ? e : new AgentError(0, `${this.opts.url}${path}: ${e.message}`))
      })
      req.on('response', (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (c: Buffer) => {
          size += c.length
          if (size > max) req.destroy(new AgentError(0, `${this.opts.url}${path}: answer over ${max} bytes`))
          else chunks.push(c)
        })
        res.on('end', () => {
          clearTimeout(timer)
          const text = Buffer.concat(chunks).toString('utf8')
          let parsed: unknown
          try {
            parsed = parseJson(text)
          } catch {
            parsed = undefined
          }
          const status = res.statusCode ?? 0
          if (status === 200 && parsed !== undefined) resolve(parsed as T)
          else {
            const msg = (parsed as {error?: string} | undefined)?.error ?? (text.slice(0, 200) || `HTTP ${status}`)
            reject(new AgentError(status, msg))
          }
        })
      })
      req.end(payload)
    })
  }

  node(): Promise<NodeInfo> {
    return this.request('GET', PATHS.node)
  }

  pods(ips: readonly string[]): Promise<PodsAnswer> {
    const q = new URLSearchParams(ips.map((ip): [string, string] => ['ip', ip]))
    return this.request('GET', `${PATHS.pods}?${q.toString()}`)
  }

  snapshot(body: SnapshotBody): Promise<SnapshotAnswer> {
    return this.request('POST', PATHS.snapshot, body)
  }

  netfilter(body: NetfilterBody): Promise<NetfilterAnswer> {
    return this.request('POST', PATHS.netfilter, body)
  }

  conntrack(body: ConntrackBody): Promise<ConntrackRead> {
    return this.request('POST', PATHS.conntrack, body)
  }

  sockets(body: SocketsBody): Promise<SocketsAnswer> {
    return this.request('POST', PATHS.sockets, body)
  }

  bgp(): Promise<BgpAnswer> {
    return this.request('GET', PATHS.bgp)
  }

  probe(body: ProbeBody): Promise<ProbeAnswer> {
    return this.request('POST', PATHS.probe, body)
  }

  listen(body: ListenBody): Promise<ListenAnswer> {
    return this.request('POST', PATHS.listen, body)
  }

  stopListen(id: string): Promise<ListenResult> {
    return this.request('POST', PATHS.listenStop, {id})
  }

  observe(body: ObserveBody): Promise<ObserveAnswer> {
    return this.request('POST', PATHS.observe, body)
  }

  stopObserve(id: string): Promise<ObserveResult> {
    return this.request('POST', PATHS.observeStop, {id})
  }

  /** Whether the agent answers its health check (no credential needed). */
  async healthy(): Promise<boolean> {
    try {
      const socket = await this.connect(Date.now() + (this.opts.timeoutMs ?? 15_000))
      return await new Promise<boolean>((resolve) => {
        const req = http.request({
          method: 'GET',
          path: PATHS.healthz,
          headers: {host: this.target.host},
          createConnection: () => socket,
        })
        req.on('error', () => resolve(false))
        req.on('response', (res) => {
          res.resume()
          resolve(res.statusCode === 200)
        })
        req.end()
      })
    } catch {
      return false
    }
  }
}

/**
 * A node (or one of its pods, by IP) read through its agent: the same snapshots the local reader
 * makes, made on the node. An agent that can't be reached or refuses gives an empty snapshot whose
 * `missing` says so (`agent: …`), which the engine reports as that node being unreadable, never as a
 * fault.
 */
export class AgentKernelReader implements KernelReader {
  readonly local = false
  readonly describe: string

  constructor(
    readonly client: Pick<AgentClient, 'snapshot'>,
    readonly target: Target = {},
    /** Where it reads, for notes. Default: the client's URL. */
    where = client instanceof AgentClient ? client.opts.url : 'this process',
  ) {
    this.describe = `agent ${where}${target.pod ? ` pod ${target.pod}` : ''}`
  }

  async snapshot(req: SnapshotRequest = {}): Promise<KernelSnapshot> {
    const started = performance.now()
    try {
      const snap = await this.client.snapshot({
        ...(this.target.pod ? {target: this.target} : {}),
        ...(req.parts ? {parts: [...req.parts]} : {}),
        ...(req.routeGets ? {routeGets: [...req.routeGets]} : {}),
      })
      delete snap.pod
      return snap
    } catch (e) {
      return {
        links: [],
        routes: [],
        neigh: [],
        fdb: [],
        sysctls: {},
        routeGets: (req.routeGets ?? []).map(() => ({ok: false, error: 'agent unreachable', unavailable: true})),
        missing: ['all', `agent: ${(e as Error).message}`],
        readMs: performance.now() - started,
      }
    }
  }
}

/** What a node agent does, over HTTPS (AgentClient) or in this process (AgentOps). */
export type AgentApi = Pick<
  AgentClient,
  'snapshot' | 'sockets' | 'probe' | 'listen' | 'stopListen' | 'observe' | 'stopObserve' | 'conntrack' | 'bgp'
>

/**
 * A node as trace's engine uses it (NodeAccess), through its agent: every read and live operation is
 * the agent's. `findPods` is the agent's /v1/pods (by address, host veth or CNI result cache).
 */
export class AgentNode implements NodeAccess {
  readonly describe: string

  /** The first failure to connect: a node whose agent can't be reached costs one wait, not one per call. */
  private down?: AgentError
  readonly api: AgentApi
  readonly pods: (ips: readonly string[]) => Promise<PodsAnswer>

  constructor(
    api: AgentApi,
    pods: (ips: readonly string[]) => Promise<PodsAnswer>,
    /** Where the agent is, for notes. Default: the client's URL. */
    readonly where = api instanceof AgentClient ? api.opts.url : 'this process',
  ) {
    this.describe = `agent ${where}`
    const guard =
      <A extends unknown[], R>(f: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        if (this.down) throw this.down
        try {
          return await f(...args)
        } catch (error) {
          if (error instanceof AgentError && error.unconnected) this.down = error
          throw error
        }
      }
    this.api = {
      snapshot: guard((b) => api.snapshot(b)),
      sockets: guard((b) => api.sockets(b)),
      probe: guard((b) => api.probe(b)),
      listen: guard((b) => api.listen(b)),
      stopListen: guard((id) => api.stopListen(id)),
      observe: guard((b) => api.observe(b)),
      stopObserve: guard((id) => api.stopObserve(id)),
      conntrack: guard((b) => api.conntrack(b)),
      bgp: guard(() => api.bgp()),
    }
    this.pods = guard(pods)
  }

  /** A node read through the agent at `client`. */
  static remote(client: AgentClient): AgentNode {
    return new AgentNode(client, (ips) => client.pods(ips))
  }

  /** A node whose agent can't be used, for `why`: every operation fails with it. */
  static unusable(url: string, why: string): AgentNode {
    const fail = () => Promise.reject(new AgentError(0, `${url}: ${why}`, true))
    return new AgentNode(
      {
        snapshot: fail,
        sockets: fail,
        probe: fail,
        listen: fail,
        stopListen: fail,
        observe: fail,
        stopObserve: fail,
        conntrack: fail,
        bgp: fail,
      },
      fail,
      url,
    )
  }

  reader(pod?: string): KernelReader {
    return new AgentKernelReader(this.api, pod ? {pod} : {}, this.where)
  }

  async findPods(ips: readonly string[]): Promise<{pods: PodNetns[]; missing: string[]}> {
    const a = await this.pods(ips)
    return {pods: a.pods, missing: a.missing}
  }

  sockets(body: SocketsBody): Promise<SocketsAnswer> {
    return this.api.sockets(body)
  }

  probe(body: ProbeBody): Promise<ProbeAnswer> {
    return this.api.probe(body)
  }

  listen(body: ListenBody): Promise<ListenAnswer> {
    return this.api.listen(body)
  }

  stopListen(id: string): Promise<ListenResult> {
    return this.api.stopListen(id)
  }

  observe(body: ObserveBody): Promise<ObserveAnswer> {
    return this.api.observe(body)
  }

  stopObserve(id: string): Promise<ObserveResult> {
    return this.api.stopObserve(id)
  }

  conntrack(body: ConntrackBody): Promise<ConntrackRead> {
    return this.api.conntrack(body)
  }

  async bgp(): Promise<BgpView | {error: string}> {
    try {
      const a = await this.api.bgp()
      return a.bgp ?? {error: `${a.node}'s daemon (${a.daemon}) does not run in bgp mode`}
    } catch (error) {
      return {error: `${this.describe}: ${(error as Error).message}`}
    }
  }
}
