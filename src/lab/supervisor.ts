/**
 * The lab's node agents in one background process: for every node, the reference daemon
 * (src/daemon, in-process) and a kubelet stand-in (kubelet.ts). Both run in the root namespace and
 * act on their node's namespace from outside (`ip -n`, plugins run through `ip netns exec`), so they
 * reach the API server on 127.0.0.1 with no link into the root namespace. Each node's plugin server
 * (plugin-server.ts) is a child process inside the node's namespace, as on a real node.
 *
 * One process instead of 2N keeps start-up and memory small (each would load the Kubernetes client),
 * while each daemon can still be stopped and started on its own (fault daemon-stopped), through the
 * control socket (control.ts).
 */
import {CoreV1Api, KubeConfig, type V1Node} from '../kube/client.js'
import {basename, dirname, join} from 'node:path'

import {birdConfig, DEFAULT_BGP_AS} from '../daemon/bird.js'
import {NodeDaemon} from '../daemon/daemon.js'
import {BirdSpeaker} from '../daemon/speaker.js'
import {WatchedCollection} from '../kube/informers.js'
import {type ControlServer, startControlServer} from './control.js'
import {Kubelet, type KubeletStatus} from './kubelet.js'
import {PluginServer} from './plugin-server.js'
import {daemonKubeconfig, kubeletKubeconfig} from './credentials.js'
import {CLUSTER_CIDR, NODE_IFACE} from './names.js'
import {type LabNodeState, type LabState, readLabState} from './state.js'
import {buildTopology, type LabTopology, writeLabTopology} from './topology.js'

export interface DaemonStatus {
  running: boolean
  /** /healthz and /diag, e.g. http://127.0.0.1:41234 */
  url?: string
  healthy: boolean
  /** Why the last reconcile stopped early (no podCIDR yet…). */
  waiting?: string
  errors: string[]
  lastSuccessAt?: string
  reconciles: number
}

export interface SupervisorNodeStatus {
  name: string
  daemon: DaemonStatus
  kubelet: KubeletStatus
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
  private readonly daemons = new Map<string, NodeDaemon>()
  private readonly kubelets = new Map<string, Kubelet>()
  private readonly pluginServers = new Map<string, PluginServer>()
  private readonly nodes: WatchedCollection<V1Node>
  private control: ControlServer | undefined
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
    const keepStopped = new Set(this.state.faults.filter((f) => f.stopsDaemon && f.node).map((f) => f.node as string))
    // All nodes' plugin servers at once, before any kubelet, so that pods are added through them
    // (docs/reference-plugin.md).
    for (const n of this.state.nodes) {
      this.pluginServers.set(n.name, new PluginServer(n, (m) => this.log(`[${n.name}] ${m}`)))
    }
    await Promise.all([...this.pluginServers.values()].map((p) => p.start()))
    if (this.state.router && this.state.mode === 'bgp') {
      this.router = new BirdSpeaker(join(this.dir, 'router', 'bird'), this.state.router.netns, (m) =>
        this.log(`[router] ${m}`),
      )
      await this.ensureRouter()
      // Kept running like the nodes' speakers: restarted within seconds when it dies.
      this.routerTimer = setInterval(() => void this.ensureRouter(), 3000)
    }
    for (const n of this.state.nodes) {
      if (!keepStopped.has(n.name)) await this.startDaemon(n.name)
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
    this.control = await startControlServer(
      this.state.supervisor?.socket ?? join(this.dir, 'supervisor.sock'),
      (method, path) => this.handle(method, path),
      {log: (m) => this.log(`control: ${m}`)},
    )
    this.scheduleTopology()
    this.log(`supervisor up: ${this.state.nodes.length} nodes, mode ${this.state.mode}`)
  }

  /** The router learns every node's pod CIDR (it peers with all of them) and announces nothing. */
  private async ensureRouter(): Promise<void> {
    const r = this.state.router!
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
    if (this.topoTimer) clearTimeout(this.topoTimer)
    if (this.routerTimer) clearInterval(this.routerTimer)
    await this.control?.close()
    await Promise.all([...this.kubelets.values()].map((k) => k.stop()))
    await Promise.all([...this.pluginServers.values()].map((p) => p.stop()))
    // Daemons stop without teardown: `lab down` deletes the namespaces, and pods keep their network
    // across a daemon restart (as with flannel).
    await Promise.all([...this.daemons.values()].map((d) => d.stop()))
    await this.nodes.stop()
    this.log('supervisor stopped')
  }

  async startDaemon(name: string): Promise<DaemonStatus> {
    const n = this.node(name)
    if (!this.daemons.has(name)) {
      const d = new NodeDaemon({
        nodeName: n.name,
        mode: this.state.mode,
        kubeConfig: this.kubeConfig(this.state.auth && daemonKubeconfig(this.state.auth, n.name)),
        netns: n.netns,
        iface: NODE_IFACE,
        clusterCidr: this.state.clusterCIDR ?? CLUSTER_CIDR,
        subnetFile: n.subnetFile,
        // nodeBirdDir (names.ts) is <this dir>/daemon/<node>/bird.
        stateDir: join(this.dir, 'daemon'),
        listen: '127.0.0.1:0',
        // Routed underlay: the router must learn the pod CIDRs, so every node peers with it too.
        bgpPeers: this.state.mode === 'bgp' && n.gateway ? [n.gateway] : [],
        log: (level, msg) => this.log(`[${n.name} daemon] ${level}: ${msg}`),
      })
      this.daemons.set(name, d)
      await d.start()
      this.log(`[${n.name} daemon] started`)
      this.scheduleTopology()
    }
    return this.daemonStatus(name)
  }

  async stopDaemon(name: string): Promise<DaemonStatus> {
    this.node(name)
    const d = this.daemons.get(name)
    if (d) {
      this.daemons.delete(name)
      await d.stop()
      this.log(`[${name} daemon] stopped`)
      this.scheduleTopology()
    }
    return this.daemonStatus(name)
  }

  daemonStatus(name: string): DaemonStatus {
    const d = this.daemons.get(name)
    if (!d) return {running: false, healthy: false, errors: [], reconciles: 0}
    const h = d.health()
    return {
      running: true,
      url: d.address ? `http://${d.address}` : undefined,
      healthy: h.ok,
      waiting: h.lastReconcile?.waiting,
      errors: h.lastReconcile?.errors ?? [],
      lastSuccessAt: h.lastSuccessAt,
      reconciles: h.reconciles,
    }
  }

  status(): SupervisorStatus {
    return {
      pid: process.pid,
      startedAt: this.startedAt,
      nodes: this.state.nodes.map((n) => ({
        name: n.name,
        daemon: this.daemonStatus(n.name),
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
    const diagUrls = Object.fromEntries(this.state.nodes.map((n) => [n.name, this.daemonStatus(n.name).url]))
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
