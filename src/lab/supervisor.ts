/**
 * The lab's kubelet stand-ins in one background process. For every node: a kubelet stand-in for the
 * pods of the cluster (kubelet.ts), which runs in the root namespace and acts on its node's namespace
 * from outside (plugins run through `ip netns exec`), and the pods of deploy/'s hostNetwork DaemonSets
 * (the cnidbg daemon, the agent), each a process of its own inside the node's namespace, serving on
 * the node's IP (node-pods.ts). Each node's plugin server (plugin-server.ts) is a child process inside
 * the node's namespace too.
 *
 * The forwarder (forwarder-main.ts), a process in the underlay namespace, carries the API server to
 * the nodes (the control plane's underlay address) and carries the supervisor's health checks to the
 * node processes (a unix socket per node process), so the root namespace gets no link.
 *
 * Each node's daemon can be stopped and started on its own (fault daemon-stopped) through the control
 * socket (control.ts).
 */
import {CoreV1Api, KubeConfig, KubernetesObjectApi, type V1DaemonSet, type V1Node} from '../kube/client.js'
import {readFileSync, rmSync} from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import type {TLSSocket} from 'node:tls'
import {basename, dirname, join} from 'node:path'

import {birdConfig, DEFAULT_BGP_AS} from '../daemon/bird.js'
import {BirdSpeaker} from '../daemon/speaker.js'
import {WatchedCollection} from '../kube/informers.js'
import {inNetnsArgv} from '../netns/enter.js'
import {spawnDetached} from '../process/exec.js'
import {type ControlServer, startControlServer} from './control.js'
import {Kubelet, type KubeletStatus} from './kubelet.js'
import {PluginServer} from './plugin-server.js'
import {kubeletKubeconfig, trustedCa} from './credentials.js'
import {CONTROL_PLANE_IP, CONTROL_PLANE_PORT, VPC_API_PORT, VPC_ROUTE_QUOTA} from './names.js'
import {apiReviewer} from '../kube/node-proxy-gate.js'
import {startVpcApi} from './vpc-api.js'
import {NodePodProcess, type NodePodPlan, planNodePod} from './node-pods.js'
import {
  type LabNodeState,
  type LabState,
  procRef,
  type ProcRef,
  readLabState,
  stopProc,
  writeFileAtomic,
} from './state.js'
import {type ServiceProxies, startServiceProxies} from './service-proxies.js'
import {buildTopology, type LabTopology, writeLabTopology} from './topology.js'

export interface DaemonStatus {
  running: boolean
  /** The daemon's process (a pod of the cnidbg-node DaemonSet). */
  pid?: number
  /** /healthz and /diag on the node's IP, e.g. http://198.18.0.2:10266 (reachable inside the lab's namespaces) */
  url?: string
  healthy: boolean
  /** Why the last reconcile stopped early (no podCIDR yet…). */
  waiting?: string
  errors: string[]
  lastSuccessAt?: string
  reconciles: number
}

export interface AgentStatus {
  running: boolean
  /** The agent's process (a pod of the cnidbg-agent DaemonSet). */
  pid?: number
  /** https://<node IP>:10265 */
  url?: string
  /**
   * The SHA-256 fingerprint of the certificate it serves (the one the lab's CA issued for its CSR,
   * else self-signed), as seen by the health check through the forwarder's root-only socket: what
   * `trace --agent-fingerprint` pins, if it is given.
   */
  fingerprint?: string
  healthy: boolean
  restarts: number
}

export interface SupervisorNodeStatus {
  name: string
  daemon: DaemonStatus
  agent?: AgentStatus
  kubelet: KubeletStatus
}

/** Which of deploy/'s pods a node process is: the daemon (`cnidbg ref daemon`) or the agent (`cnidbg agent`). */
export function podRole(plan: Pick<NodePodPlan, 'command'>): 'daemon' | 'agent' | undefined {
  const [cmd, a, b] = plan.command
  if (cmd !== 'cnidbg') return undefined
  if (a === 'ref' && b === 'daemon') return 'daemon'
  if (a === 'agent') return 'agent'
  return undefined
}

/** The unix socket in the node's directory that the forwarder relays to a node process's port. */
export function nodeProcessSocket(node: Pick<LabNodeState, 'dir'>, role: 'daemon' | 'agent'): string {
  return join(node.dir, `${role}.sock`)
}

interface Health {
  ok: boolean
  fingerprint?: string
  body?: {lastReconcile?: {waiting?: string; errors?: string[]}; lastSuccessAt?: string; reconciles?: number}
}

/**
 * GET /healthz through a unix socket (the forwarder's), bounded by 2 s. With `token`, the daemon's
 * gate lets the supervisor in and the answer is the whole report (src/daemon/http.ts), which `lab
 * status` shows; without, it says only whether the process is ok.
 */
function healthz(socketPath: string, tls: boolean, token?: string): Promise<Health> {
  return new Promise((resolve) => {
    const get = tls ? https.get : http.get
    const headers = token ? {authorization: `Bearer ${token}`} : {}
    // A health check only asks whether it answers, whichever certificate it serves.
    const req = get({socketPath, path: '/healthz', headers, timeout: 2000, rejectUnauthorized: false}, (res) => {
      const fingerprint = tls ? (res.socket as TLSSocket).getPeerCertificate?.()?.fingerprint256 : undefined
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        if (body.length < 65_536) body += c
      })
      res.on('end', () => {
        let parsed: Health['body']
        try {
          parsed = JSON.parse(body) as Health['body']
        } catch {
          // Not JSON: the status says enough.
        }
        resolve({ok: res.statusCode === 200, fingerprint, body: parsed})
      })
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve({ok: false}))
  })
}

export interface SupervisorStatus {
  pid: number
  startedAt: string
  nodes: SupervisorNodeStatus[]
}

export type Log = (line: string) => void

export class Supervisor {
  readonly state: LabState
  private readonly kc: KubeConfig
  /** The supervisor's bearer token, which the daemons' gates accept for their whole /healthz report. */
  private readonly token: string | undefined
  /** Per node, its DaemonSet pods by role. */
  private readonly pods = new Map<string, {daemon?: NodePodProcess; agent?: NodePodProcess; other: NodePodProcess[]}>()
  private readonly health = new Map<string, Health>()
  private readonly stoppedDaemons = new Set<string>()
  private forwarder: ProcRef | undefined
  private healthTimer: NodeJS.Timeout | undefined
  private closing = false
  private readonly kubelets = new Map<string, Kubelet>()
  private readonly pluginServers = new Map<string, PluginServer>()
  private readonly nodes: WatchedCollection<V1Node>
  private control: ControlServer | undefined
  private vpcApi: http.Server | undefined
  private serviceProxies: ServiceProxies | undefined
  private topoTimer: NodeJS.Timeout | undefined
  /** bgp on a routed underlay: the router's own bird, a BGP peer of every node. */
  private router: BirdSpeaker | undefined
  private routerTimer: NodeJS.Timeout | undefined
  private readonly startedAt = new Date().toISOString()

  constructor(
    readonly dir: string,
    private readonly log: Log,
  ) {
    const state = readLabState(basename(dir), dirname(dir))
    if (!state) throw new Error(`no lab state in ${dir}`)
    this.state = state
    this.kc = this.kubeConfig(state.auth?.supervisorKubeconfig)
    this.token = this.kc.getCurrentUser()?.token
    const core = this.kc.makeApiClient(CoreV1Api)
    this.nodes = new WatchedCollection<V1Node>(this.kc, '/api/v1/nodes', () => core.listNode(), {
      onChange: () => this.scheduleTopology(),
      log: (m) => this.log(`nodes informer: ${m}`),
      backoffInitialMs: 500,
      backoffMaxMs: 5000,
    })
  }

  /**
   * Each component talks to the API server as itself (credentials.ts): the supervisor with a read-only
   * identity, each kubelet and daemon with its node's. A lab made before credentials existed has
   * only the admin's kubeconfig.
   */
  private kubeConfig(file: string | undefined): KubeConfig {
    const kc = new KubeConfig()
    kc.loadFromFile(file ?? this.state.kubeconfig)
    return kc
  }

  private node(name: string): LabNodeState {
    const n = this.state.nodes.find((x) => x.name === name)
    if (!n) throw new Error(`no node ${name} in lab ${this.state.name}`)
    return n
  }

  async start(): Promise<void> {
    this.nodes.start()
    // Faults recorded as "daemon stopped" stay so across a supervisor restart.
    for (const f of this.state.faults) if (f.stopsDaemon && f.node) this.stoppedDaemons.add(f.node)
    // All nodes' plugin servers at once, before any kubelet, so that pods are added through them
    // (docs/reference-plugin.md).
    for (const n of this.state.nodes) {
      this.pluginServers.set(n.name, new PluginServer(n, (m) => this.log(`[${n.name}] ${m}`)))
    }
    // The route-table API first: a vpc daemon asks it at start. The node processes need no plugin
    // server: they start meanwhile.
    await this.startVpcApi()
    await Promise.all([...[...this.pluginServers.values()].map((p) => p.start()), this.startNodePods()])
    if (this.state.underlayRouter && this.state.mode === 'bgp') {
      this.router = new BirdSpeaker(join(this.dir, 'router', 'bird'), this.state.underlayRouter.netns, (m) =>
        this.log(`[router] ${m}`),
      )
      await this.ensureRouter()
      // Kept running like the nodes' speakers: restarted within seconds when it dies.
      this.routerTimer = setInterval(() => void this.ensureRouter(), 3000)
    }
    for (const n of this.state.nodes) {
      const k = new Kubelet({
        lab: this.state.name,
        node: n,
        kubeConfig: this.kubeConfig(this.state.auth && kubeletKubeconfig(this.state.auth, n.name)),
        log: (m) => this.log(`[${n.name} kubelet] ${m}`),
        onChange: () => this.scheduleTopology(),
      })
      this.kubelets.set(n.name, k)
      k.start()
    }
    this.serviceProxies = await startServiceProxies(this.state, this.kc, this.log)
    this.control = await startControlServer(
      this.state.supervisor?.socket ?? join(this.dir, 'supervisor.sock'),
      (method, path) => this.handle(method, path),
      {log: (m) => this.log(`control: ${m}`)},
    )
    this.scheduleTopology()
    this.pollHealth()
    this.log(`supervisor up: ${this.state.nodes.length} nodes, mode ${this.state.mode}`)
  }

  /** `--mode vpc`: the route-table API of the VPC router (vpc-api.ts), before the daemons that call it. */
  private async startVpcApi(): Promise<void> {
    const r = this.state.router
    if (!r) return
    rmSync(r.apiSocket, {force: true})
    const admin = this.kubeConfig(this.state.kubeconfig)
    this.vpcApi = await startVpcApi(r.apiSocket, {
      netns: r.netns,
      iface: r.iface,
      clusterCIDR: this.state.clusterCIDR,
      nodes: this.state.nodes.map((n) => ({name: n.name, nodeIP: n.nodeIP})),
      quota: VPC_ROUTE_QUOTA,
      // The route controller's identity: deploy/'s node daemons (ServiceAccount cnidbg/cnidbg-daemon).
      reviewer: apiReviewer(admin),
      allowedUsers: ['system:serviceaccount:cnidbg:cnidbg-daemon'],
      log: (m) => this.log(`vpc api: ${m}`),
    })
  }

  /**
   * The pods of the hostNetwork DaemonSets the API server stores, one per node, and the forwarder
   * that carries the API server to them and their health checks back.
   */
  private async startNodePods(): Promise<void> {
    const programs = this.state.programs
    if (!programs) {
      this.log('no node programs recorded (a lab made before deploy/ was applied): no node processes')
      return
    }
    // As the admin: the kubelet mints its pods' ServiceAccount tokens (TokenRequest) with its own
    // credential, which the lab's node identities are not granted.
    const admin = this.kubeConfig(this.state.kubeconfig)
    const list = await KubernetesObjectApi.makeApiClient(admin).list<V1DaemonSet>('apps/v1', 'DaemonSet')
    const core = admin.makeApiClient(CoreV1Api)
    const caCert = this.state.auth ? readFileSync(trustedCa(this.state.auth)) : undefined
    const mint = async (plan: NodePodPlan) => {
      const r = await core.createNamespacedServiceAccountToken({
        name: plan.serviceAccount,
        namespace: plan.namespace,
        // A year: the lab does not rotate tokens as a kubelet does; each (re)start gets a new one.
        // Bound to the pod's Node, as a kubelet's pod tokens name their node: the API server then
        // knows which node an agent asks a serving certificate for (apiserver/csr.ts).
        body: {
          spec: {
            audiences: [],
            expirationSeconds: 365 * 24 * 3600,
            boundObjectRef: {apiVersion: 'v1', kind: 'Node', name: plan.node},
          },
        },
      })
      return {token: r.status?.token ?? '', caCert}
    }
    const forwards = [`${CONTROL_PLANE_IP}:${CONTROL_PLANE_PORT}=unix:${join(this.dir, 'apiserver.sock')}`]
    if (this.state.router) forwards.push(`${CONTROL_PLANE_IP}:${VPC_API_PORT}=unix:${this.state.router.apiSocket}`)
    for (const n of this.state.nodes) {
      const mine: {daemon?: NodePodProcess; agent?: NodePodProcess; other: NodePodProcess[]} = {other: []}
      for (const ds of list.items) {
        const plan = planNodePod(ds, n, {cnidbg: programs.cnidbg, basePath: process.env.PATH ?? '/usr/bin:/bin'})
        if (!plan) continue
        const proc = new NodePodProcess(plan, n.netns, mint, (m) => this.log(`[${n.name}] ${m}`))
        const role = podRole(plan)
        if (role && !mine[role]) {
          mine[role] = proc
          if (plan.listen) forwards.push(`unix:${nodeProcessSocket(n, role)}=${plan.listen}`)
        } else mine.other.push(proc)
      }
      this.pods.set(n.name, mine)
    }
    this.startForwarder(forwards, programs.forwarder)
    await Promise.all(
      this.state.nodes.flatMap((n) => {
        const p = this.pods.get(n.name)!
        return [
          ...(p.daemon && !this.stoppedDaemons.has(n.name) ? [p.daemon] : []),
          ...(p.agent ? [p.agent] : []),
          ...p.other,
        ].map((x) => x.start())
      }),
    )
  }

  /** The forwarder in the underlay namespace; started again if it exits. */
  private startForwarder(forwards: string[], script: string): void {
    const argv = inNetnsArgv({name: this.state.underlay.netns}, [
      process.execPath,
      script,
      ...forwards.flatMap((f) => ['--forward', f]),
    ])
    const pid = spawnDetached(argv[0]!, argv.slice(1), {
      env: {PATH: process.env.PATH ?? '/usr/bin:/bin'},
      extendEnv: false,
      logFile: join(this.dir, 'logs', 'forwarder.log'),
      onExit: (code, signal) => {
        if (this.closing) return
        this.log(`forwarder exited (${code ?? signal}); starting it again`)
        setTimeout(() => {
          if (!this.closing) this.startForwarder(forwards, script)
        }, 1000)
      },
    })
    this.forwarder = procRef(pid)
    // Recorded so that `lab down` stops it after a supervisor crash.
    const f = join(this.dir, 'forwarder.pid')
    writeFileAtomic(f, `${pid} ${this.forwarder.start ?? ''}\n`)
  }

  /** Health of every node process, often until all answer once, then every 2 s. */
  private pollHealth(): void {
    if (this.closing) return
    const checks: Array<Promise<void>> = []
    for (const n of this.state.nodes) {
      const p = this.pods.get(n.name)
      for (const role of ['daemon', 'agent'] as const) {
        const proc = p?.[role]
        const key = `${n.name}/${role}`
        if (!proc?.pid) {
          this.health.delete(key)
          continue
        }
        checks.push(
          healthz(nodeProcessSocket(n, role), role === 'agent', role === 'daemon' ? this.token : undefined).then(
            (h) => {
              this.health.set(key, h)
            },
          ),
        )
      }
    }
    void Promise.all(checks).then(() => {
      const allOk = checks.length > 0 && [...this.health.values()].every((h) => h.ok)
      this.healthTimer = setTimeout(() => this.pollHealth(), allOk ? 2000 : 200)
    })
  }

  /** The router learns every node's pod CIDR (it peers with all of them) and announces nothing. */
  private async ensureRouter(): Promise<void> {
    const r = this.state.underlayRouter!
    try {
      const config = birdConfig({
        routerId: r.addresses[0]!,
        asn: DEFAULT_BGP_AS,
        reflector: false,
        peers: this.state.nodes.map((n) => ({ip: n.nodeIP, role: 'external' as const, node: n.name})),
      })
      for (const c of await this.router!.ensure(config)) this.log(`[router] ${c}`)
    } catch (error) {
      this.log(`[router] ${(error as Error).message}`)
    }
  }

  async stop(): Promise<void> {
    this.closing = true
    if (this.topoTimer) clearTimeout(this.topoTimer)
    if (this.healthTimer) clearTimeout(this.healthTimer)
    if (this.routerTimer) clearInterval(this.routerTimer)
    await this.control?.close()
    await new Promise<void>((resolve) => (this.vpcApi ? this.vpcApi.close(() => resolve()) : resolve()))
    await this.serviceProxies?.stop()
    await Promise.all([...this.kubelets.values()].map((k) => k.stop()))
    await Promise.all([...this.pluginServers.values()].map((p) => p.stop()))
    // Node processes stop without teardown: `lab down` deletes the namespaces, and pods keep their
    // network across a daemon restart (as with flannel).
    await Promise.all([...this.pods.values()].flatMap((p) => [p.daemon, p.agent, ...p.other]).map((x) => x?.stop()))
    await stopProc(this.forwarder)
    await this.nodes.stop()
    this.log('supervisor stopped')
  }

  async startDaemon(name: string): Promise<DaemonStatus> {
    this.node(name)
    this.stoppedDaemons.delete(name)
    const d = this.pods.get(name)?.daemon
    if (d && !d.pid) {
      await d.start()
      this.log(`[${name} daemon] started`)
      this.scheduleTopology()
    }
    return this.daemonStatus(name)
  }

  async stopDaemon(name: string): Promise<DaemonStatus> {
    this.node(name)
    this.stoppedDaemons.add(name)
    const d = this.pods.get(name)?.daemon
    if (d) {
      await d.stop()
      this.health.delete(`${name}/daemon`)
      this.log(`[${name} daemon] stopped`)
      this.scheduleTopology()
    }
    return this.daemonStatus(name)
  }

  private url(name: string, role: 'daemon' | 'agent'): string | undefined {
    const listen = this.pods.get(name)?.[role]?.plan.listen
    return listen ? `${role === 'agent' ? 'https' : 'http'}://${listen}` : undefined
  }

  daemonStatus(name: string): DaemonStatus {
    const d = this.pods.get(name)?.daemon
    const pid = d?.pid
    if (!pid) return {running: false, healthy: false, errors: [], reconciles: 0}
    const h = this.health.get(`${name}/daemon`)
    return {
      running: true,
      pid,
      url: this.url(name, 'daemon'),
      healthy: Boolean(h?.ok),
      waiting: h ? h.body?.lastReconcile?.waiting : 'no answer yet',
      errors: h?.body?.lastReconcile?.errors ?? [],
      lastSuccessAt: h?.body?.lastSuccessAt,
      reconciles: h?.body?.reconciles ?? 0,
    }
  }

  agentStatus(name: string): AgentStatus | undefined {
    const a = this.pods.get(name)?.agent
    if (!a) return undefined
    const pid = a.pid
    return {
      running: Boolean(pid),
      pid,
      url: this.url(name, 'agent'),
      fingerprint: pid ? this.health.get(`${name}/agent`)?.fingerprint : undefined,
      healthy: Boolean(pid && this.health.get(`${name}/agent`)?.ok),
      restarts: a.status().restarts,
    }
  }

  status(): SupervisorStatus {
    return {
      pid: process.pid,
      startedAt: this.startedAt,
      nodes: this.state.nodes.map((n) => ({
        name: n.name,
        daemon: this.daemonStatus(n.name),
        agent: this.agentStatus(n.name),
        kubelet: this.kubelets.get(n.name)!.status(),
      })),
    }
  }

  topology(): LabTopology {
    const endpoints = [...this.kubelets.values()].flatMap((k) =>
      k.endpoints().map((a) => ({
        name: a.name,
        namespace: a.namespace,
        ip: a.ip as string,
        node: k.node.name,
        netnsPath: a.netnsPath,
      })),
    )
    const diagUrls = Object.fromEntries(this.state.nodes.map((n) => [n.name, this.url(n.name, 'daemon')]))
    return buildTopology(this.state, {nodes: this.nodes.list(), endpoints, diagUrls})
  }

  private scheduleTopology(): void {
    if (this.topoTimer) return
    this.topoTimer = setTimeout(() => {
      this.topoTimer = undefined
      try {
        writeLabTopology(this.dir, this.topology())
      } catch (error) {
        this.log(`writing lab.json: ${(error as Error).message}`)
      }
    }, 100)
  }

  private async handle(method: string, path: string): Promise<{status: number; body: unknown}> {
    if (method === 'GET' && path === '/status') return {status: 200, body: this.status()}
    if (method === 'POST' && path === '/topology') {
      const topo = this.topology()
      writeLabTopology(this.dir, topo)
      return {status: 200, body: topo}
    }
    const m = /^\/daemons\/([a-z0-9.-]+)\/(start|stop)$/.exec(path)
    if (method === 'POST' && m) {
      if (!this.state.nodes.some((n) => n.name === m[1])) return {status: 404, body: {error: `no node ${m[1]}`}}
      const body = m[2] === 'start' ? await this.startDaemon(m[1]!) : await this.stopDaemon(m[1]!)
      return {status: 200, body}
    }
    return {status: 404, body: {error: `no route ${method} ${path}`}}
  }
}
