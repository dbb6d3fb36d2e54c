/**
 * A mini cluster for the node daemon's integration tests: the lab apiserver (in-process), an
 * underlay namespace with a bridge, N node namespaces (eth0 on the bridge, 198.18.0.N/15,
 * ip_forward=1 inside the node only) and optionally one "pod" namespace per node (veth, a /32 in the
 * node's podCIDR, host route on the node). Daemons run in-process (NodeDaemon), one per node.
 * Everything is named cnidbg-dmn-<id>-…, claimed by a live run marker (so a concurrent reaper leaves
 * it alone), and removed by dispose(), on test teardown and on SIGINT/SIGTERM.
 */
import {KubeConfig} from '../../src/kube/client.js'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {ANN_BACKEND_TYPE, ANN_NODE_IP, ANN_VTEP_MAC} from '../../src/daemon/annotations.js'
import {type DaemonOptions, NodeDaemon} from '../../src/daemon/daemon.js'
import {type ApiServer, startApiServer} from '../../src/lab/apiserver/server.js'
import {Store} from '../../src/lab/apiserver/store.js'
import {
  createNetns,
  deleteNetns,
  ip,
  ipBatch,
  ipJson,
  onCleanup,
  ownMarker,
  removeMarker,
  run,
  runInNetns,
  runOk,
  writeMarker,
} from '../../src/netns/index.js'

export interface LabNode {
  index: number
  name: string
  ns: string
  ip: string
  podCIDR: string
  /** The pod namespace and its address, when pods were asked for. */
  podNs?: string
  podIP?: string
}

export interface DaemonLab {
  id: string
  dir: string
  underlayNs: string
  nodes: LabNode[]
  api: ApiServer
  token: string
  kubeConfig(): KubeConfig
  /** Starts (or restarts) the daemon of node i. */
  startDaemon(i: number, over?: Partial<DaemonOptions>): Promise<NodeDaemon>
  stopDaemon(i: number): Promise<void>
  daemon(i: number): NodeDaemon | undefined
  subnetFile(i: number): string
  /** Restarts the apiserver on the same port and store (after stopApi). */
  stopApi(): Promise<void>
  startApi(): Promise<void>
  logs: string[]
  dispose(): Promise<void>
}

export interface DaemonLabOptions {
  nodes?: number
  pods?: boolean
  /** The node end of each pod's veth (default vp0); cnidbg-ref names it cnidbg<hex>. */
  hostVeth?: string
  /** Apiserver watch history; small values force 410 Gone on resume. */
  historySize?: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function sysctlIn(ns: string, setting: string): Promise<void> {
  await runOk('ip', ['netns', 'exec', ns, 'sysctl', '-qw', setting])
}

export async function startDaemonLab(opts: DaemonLabOptions = {}): Promise<DaemonLab> {
  const t0 = Date.now()
  const id = randomBytes(3).toString('hex')
  const prefix = `cnidbg-dmn-${id}`
  const count = opts.nodes ?? 2
  const marker = ownMarker(`dmn-${id}`, 'daemon-test')
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`))
  marker.dirs.push(dir)
  writeMarker(marker)
  const created: string[] = []
  const daemons = new Map<number, NodeDaemon>()
  const logs: string[] = []
  const token = randomBytes(16).toString('hex')
  let api: ApiServer | undefined
  let port = 0
  // Our own store, so that stopping the apiserver (an outage) keeps the cluster state for the restart.
  const store = new Store({historySize: opts.historySize})

  const mkns = async (name: string) => {
    marker.netns.push(name)
    writeMarker(marker)
    await createNetns(name)
    created.push(name)
  }

  let disposed = false
  const dispose = async () => {
    if (disposed) return
    disposed = true
    unregister()
    for (const d of daemons.values()) await d.stop().catch(() => {})
    daemons.clear()
    await api?.close().catch(() => {})
    store.close()
    for (const n of created.reverse()) await deleteNetns(n).catch(() => {})
    rmSync(dir, {recursive: true, force: true})
    removeMarker(marker.id)
  }
  const unregister = onCleanup(`daemon lab ${id}`, dispose)

  try {
    const underlayNs = `${prefix}-ul`
    await mkns(underlayNs)
    await ipBatch(['link add br0 type bridge', 'link set br0 up'], underlayNs)
    const nodes: LabNode[] = []
    for (let i = 0; i < count; i++) {
      const ns = `${prefix}-n${i}`
      await mkns(ns)
      const node: LabNode = {index: i, name: `node-${i}`, ns, ip: `198.18.0.${i + 1}`, podCIDR: `10.244.${i}.0/24`}
      await ip(['link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns], underlayNs)
      await ipBatch([`link set p${i} master br0`, `link set p${i} up`], underlayNs)
      await ipBatch([`addr add ${node.ip}/15 dev eth0`, 'link set eth0 up'], ns)
      // Forwarding between the pod and the VTEP/underlay, inside the node's namespace only.
      await sysctlIn(ns, 'net.ipv4.ip_forward=1')
      if (opts.pods) {
        const podNs = `${prefix}-p${i}`
        await mkns(podNs)
        const gw = `10.244.${i}.1`
        const podIP = `10.244.${i}.2`
        const vp = opts.hostVeth ?? 'vp0'
        await ip(['link', 'add', vp, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', podNs], ns)
        await ipBatch([`addr add ${gw}/32 dev ${vp}`, `link set ${vp} up`, `route add ${podIP}/32 dev ${vp}`], ns)
        await ipBatch(
          [
            `addr add ${podIP}/32 dev eth0`,
            'link set eth0 up',
            `route add ${gw}/32 dev eth0`,
            `route add default via ${gw}`,
          ],
          podNs,
        )
        node.podNs = podNs
        node.podIP = podIP
      }
      nodes.push(node)
    }

    const startApi = async () => {
      api = await startApiServer({port, store, token})
      port = api.port
    }
    await startApi()
    for (const n of nodes) {
      api!.store.create('nodes', undefined, {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {name: n.name},
        spec: {podCIDR: n.podCIDR},
      })
    }

    const lab: DaemonLab = {
      id,
      dir,
      underlayNs,
      nodes,
      get api() {
        return api!
      },
      token,
      logs,
      kubeConfig() {
        const kc = new KubeConfig()
        kc.loadFromString(api!.kubeconfigYaml())
        return kc
      },
      subnetFile: (i) => join(dir, nodes[i]!.name, 'subnet.env'),
      async startDaemon(i, over = {}) {
        const n = nodes[i]!
        const d = new NodeDaemon({
          nodeName: n.name,
          mode: 'vxlan',
          kubeConfig: lab.kubeConfig(),
          netns: n.ns,
          iface: 'eth0',
          subnetFile: lab.subnetFile(i),
          stateDir: join(dir, 'state'),
          listen: '127.0.0.1:0',
          reconcileIntervalMs: 1000,
          resyncSeconds: 0,
          backoffInitialMs: 200,
          backoffMaxMs: 1000,
          log: (level, msg) => logs.push(`${((Date.now() - t0) / 1000).toFixed(1)} ${n.name} ${level} ${msg}`),
          ...over,
        })
        await d.start()
        daemons.set(i, d)
        return d
      },
      async stopDaemon(i) {
        await daemons.get(i)?.stop()
        daemons.delete(i)
      },
      daemon: (i) => daemons.get(i),
      async stopApi() {
        await api!.close()
      },
      startApi,
      dispose,
    }
    return lab
  } catch (error) {
    await dispose()
    throw error
  }
}

/** Polls `check` until it returns a value (not undefined/false) or throws no more; fails after the deadline. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined && v !== false) return v as T
      last = 'not yet'
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: not reached within ${timeoutMs} ms (last: ${last instanceof Error ? last.message : String(last)})`,
      )
    }
    // Not faster: every poll reads the kernel too, competing with the daemons on a busy machine.
    await sleep(400)
  }
}

// Raw kernel reads, independent of the daemon's own parsers.

export interface RawRoute {
  dst: string
  gateway?: string
  dev?: string
  protocol?: string
  flags?: string[]
  metric?: number
}

export async function routes(ns: string): Promise<RawRoute[]> {
  return ipJson<RawRoute[]>(['-N', 'route', 'show', 'table', 'main'], ns)
}

export async function neighs(
  ns: string,
  dev: string,
): Promise<Array<{dst: string; lladdr?: string; state?: string[]}>> {
  const r = await run('ip', ['-n', ns, '-4', '-j', 'neigh', 'show', 'dev', dev])
  return r.exitCode === 0 && r.stdout.trim() ? JSON.parse(r.stdout) : []
}

export async function fdbs(ns: string, dev: string): Promise<Array<{mac: string; dst?: string; state?: string}>> {
  const r = await run('bridge', ['-n', ns, '-j', 'fdb', 'show', 'dev', dev])
  return r.exitCode === 0 && r.stdout.trim()
    ? (JSON.parse(r.stdout) as Array<{mac: string; dst?: string}>).filter((f) => f.dst)
    : []
}

export interface RawLink {
  ifname: string
  address: string
  mtu: number
  flags: string[]
  linkinfo?: {info_kind?: string; info_data?: Record<string, unknown>}
  addr_info?: Array<{family: string; local: string; prefixlen: number}>
}

export async function link(ns: string, dev: string): Promise<RawLink | undefined> {
  const r = await run('ip', ['-n', ns, '-j', '-d', 'addr', 'show', 'dev', dev])
  if (r.exitCode !== 0) return undefined
  return (JSON.parse(r.stdout) as RawLink[])[0]
}

export async function ping(fromNs: string, to: string, count = 2): Promise<boolean> {
  const r = await runInNetns(`/run/netns/${fromNs}`, 'ping', ['-c', String(count), '-i', '0.2', '-W', '2', to], {
    timeoutMs: 15_000,
  })
  return r.exitCode === 0
}

/**
 * GET on a daemon's listen address; returns status and parsed JSON. `token` is sent as a bearer token
 * (/diag's gate asks for one, and /healthz gives its whole report only with one).
 */
export async function httpGet(
  address: string,
  path: string,
  token?: string,
): Promise<{status: number; text: string; body: any; headers: Headers}> {
  const res = await fetch(`http://${address}${path}`, {
    signal: AbortSignal.timeout(30_000),
    headers: token ? {authorization: `Bearer ${token}`} : {},
  })
  const text = await res.text()
  return {status: res.status, text, body: JSON.parse(text), headers: res.headers}
}

// Convergence checks for vxlan mode, shared by the daemon test files.

export const VTEP = 'cnidbg.1'

export function annotations(lab: DaemonLab, i: number): Record<string, string> {
  const n = lab.api.store.get('nodes', undefined, lab.nodes[i]!.name)
  return (n?.metadata.annotations as Record<string, string> | undefined) ?? {}
}

/** Throws with what is wrong on node i, for peers `peers`; returns true when all is right. */
export async function vxlanConverged(lab: DaemonLab, i: number, peers: number[]): Promise<true> {
  const n = lab.nodes[i]!
  const l = await link(n.ns, VTEP)
  if (!l) throw new Error(`${n.name}: no ${VTEP}`)
  const data = l.linkinfo?.info_data ?? {}
  const problems: string[] = []
  if (l.linkinfo?.info_kind !== 'vxlan') problems.push('not vxlan')
  if (data.id !== 1 || data.port !== 8472 || data.learning !== false || data.local !== n.ip || data.link !== 'eth0') {
    problems.push(`vxlan params ${JSON.stringify(data)}`)
  }
  if (l.mtu !== 1450) problems.push(`mtu ${l.mtu}`)
  if (!l.flags.includes('UP')) problems.push('down')
  const v4 = (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`)
  if (v4.join() !== `10.244.${i}.0/32`) problems.push(`addresses ${v4.join()}`)
  const ann = annotations(lab, i)
  if (ann[ANN_VTEP_MAC] !== l.address) problems.push(`annotation mac ${ann[ANN_VTEP_MAC]} ≠ device ${l.address}`)
  if (ann[ANN_NODE_IP] !== n.ip || ann[ANN_BACKEND_TYPE] !== 'vxlan')
    problems.push(`annotations ${JSON.stringify(ann)}`)

  const ns = await neighs(n.ns, VTEP)
  const fs = await fdbs(n.ns, VTEP)
  const rs = (await routes(n.ns)).filter((r) => r.protocol === '205')
  for (const j of peers) {
    const mac = annotations(lab, j)[ANN_VTEP_MAC]
    const gw = `10.244.${j}.0`
    const nm = ns.filter((x) => x.dst === gw)
    if (nm.length !== 1 || nm[0]!.lladdr !== mac || !nm[0]!.state?.includes('PERMANENT')) {
      problems.push(`neigh ${gw}: ${JSON.stringify(nm)} want ${mac}`)
    }
    const fm = fs.filter((x) => x.mac === mac)
    if (fm.length !== 1 || fm[0]!.dst !== lab.nodes[j]!.ip || fm[0]!.state !== 'permanent') {
      problems.push(`fdb ${mac}: ${JSON.stringify(fm)}`)
    }
    const rm = rs.filter((x) => x.dst === `10.244.${j}.0/24`)
    if (rm.length !== 1 || rm[0]!.gateway !== gw || rm[0]!.dev !== VTEP || !rm[0]!.flags?.includes('onlink')) {
      problems.push(`route 10.244.${j}.0/24: ${JSON.stringify(rm)}`)
    }
  }
  // Nothing else of ours: no duplicates, no leftovers.
  if (ns.length !== peers.length) problems.push(`${ns.length} neighbours on ${VTEP}, want ${peers.length}`)
  if (fs.length !== peers.length) problems.push(`${fs.length} FDB entries, want ${peers.length}`)
  if (rs.length !== peers.length) problems.push(`${rs.length} proto-205 routes, want ${peers.length}`)
  if (problems.length > 0) throw new Error(`${n.name}: ${problems.join('; ')}`)
  return true
}

export async function allConverged(lab: DaemonLab, nodes: number[]): Promise<true> {
  for (const i of nodes)
    await vxlanConverged(
      lab,
      i,
      nodes.filter((j) => j !== i),
    )
  return true
}
