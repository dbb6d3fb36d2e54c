/**
 * The kubelet stand-in's DaemonSet pods: every hostNetwork DaemonSet `lab up` applied from deploy/
 * (the daemon and the agent) gets one pod per node, run as a process of its own inside the node's
 * namespace, as a hostNetwork pod runs in its node's (docs/lab.md, "Node processes").
 *
 * What a container runtime would give the container, the lab gives the process:
 * - its command and args, with `$(VAR)` expanded from its env as the kubelet does; the image's
 *   `cnidbg` is this machine's cnidbg (Node and the CLI), any other program comes from PATH;
 * - its env: values, and the fieldRefs the manifests use (spec.nodeName, status.hostIP, status.podIP
 *   and metadata.*), plus KUBERNETES_SERVICE_HOST/PORT, the control plane's underlay address;
 * - its ServiceAccount's token, minted by TokenRequest, with the API server's CA and the namespace,
 *   bind-mounted at /var/run/secrets/kubernetes.io/serviceaccount, where in-cluster config reads it;
 * - its volumes, in a mount namespace of its own: a hostPath is the node's own directory (a lab node's
 *   "host" is its namespace plus its directory under the lab's), an emptyDir a directory of the pod,
 *   read-only where the manifest says so;
 * - its capabilities: the bounding set is what the container's securityContext adds (setpriv), so a
 *   manifest that asks for too little fails in the lab as on a cluster.
 *
 * The processes are supervised: one that exits is started again (with a fresh token) after a back-off,
 * until it is stopped. Each writes `<pod dir>/pid` ("<pid> <start time>"), so `lab down` stops the
 * ones a crashed supervisor left, and any process left in a lab namespace is reaped by namespace.
 */
import {existsSync, mkdirSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'

import type {V1DaemonSet} from '../kube/client.js'
import {inNetnsArgv} from '../netns/enter.js'
import {spawnDetached} from '../process/exec.js'
import {CONTROL_PLANE_IP, CONTROL_PLANE_PORT} from './names.js'
import {pidFileProc, procAlive, procRef, writeFileAtomic, type LabNodeState, type ProcRef, stopProc} from './state.js'

/** Where in-cluster config (client-node's loadFromCluster, client-go's rest.InClusterConfig) looks. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

/** A bind mount of the pod: `source` on this machine (or `tracefs`, mounted fresh), `target` in the pod. */
export interface PodMount {
  source: string
  target: string
  readOnly: boolean
}

/** One DaemonSet pod on one node, as the lab runs it. */
export interface NodePodPlan {
  /** `<daemonset>-<node>`, the pod's name. */
  name: string
  daemonSet: string
  namespace: string
  serviceAccount: string
  container: string
  node: string
  /** The container's command and args, `$(VAR)` expanded: what the manifest runs. */
  command: string[]
  /** What the lab executes for it (`cnidbg` replaced by this machine's). */
  argv: string[]
  env: Record<string, string>
  mounts: PodMount[]
  /** Capabilities the process keeps (the securityContext's add; all when it drops none). */
  capabilities: string[] | 'all'
  /** The pod's directory: pid, log, serviceaccount/, volumes/. */
  dir: string
  log: string
  /** The value of the command's --listen flag, if it has one (where it serves). */
  listen?: string
  /** Why the lab does not run it (a hostPath it won't give): logged, and its status says so. */
  refused?: string
}

/** Kubernetes' $(VAR) expansion: a defined variable is replaced, `$$` is a literal `$`, anything else stays. */
export function expandVars(s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string | undefined) =>
    name === undefined ? '$' : (env[name] ?? m),
  )
}

/** The pod directory of a DaemonSet's pod on a node. */
export function nodePodDir(node: Pick<LabNodeState, 'dir'>, daemonSet: string): string {
  return join(node.dir, 'pods', daemonSet)
}

/**
 * A hostPath on a lab node: the node's own directories for what the node has apart from other nodes
 * (its /run/cnidbg is the node's directory, holding the subnet file; its CNI dirs), this machine's for
 * what every node shares with it (/run/netns, where the pods' namespaces are; the kernel's tracefs).
 * Undefined for a path with a `..` element, which the API server of a cluster refuses too: under the
 * node's `host` directory it could name any of this machine's files.
 */
export function nodeHostPath(node: LabNodeState, path: string): string | undefined {
  if (path.split('/').includes('..')) return undefined
  const p = path.replace(/\/+$/, '') || '/'
  const table = new Map([
    ['/run/cnidbg', node.dir],
    ['/var/lib/cni', node.varLibCni],
    ['/run/cni', node.runCni],
    ['/opt/cni/bin', node.binDir],
    ['/etc/cni/net.d', node.confDir],
    ['/run/netns', '/run/netns'],
    ['/var/run/netns', '/run/netns'],
    ['/sys/kernel/tracing', 'tracefs'],
  ])
  const shared = table.get(p)
  if (shared) return shared
  const host = join(node.dir, 'host')
  const mapped = join(host, p)
  return mapped === host || mapped.startsWith(`${host}/`) ? mapped : undefined
}

/** The daemon's --state-dir in deploy/20-node.yaml (a hostPath volume of the same path). */
export const DAEMON_STATE_DIR = '/var/lib/cnidbg'

/**
 * Where a lab node's daemon keeps bird's files (`<state-dir>/<node>/bird`: config, control socket,
 * pid file), as this machine sees them: the state dir is a hostPath, so the node's own directory.
 */
export function nodeBirdDir(node: LabNodeState): string {
  return join(nodeHostPath(node, DAEMON_STATE_DIR)!, node.name, 'bird')
}

/** The pod of `ds` on `node`, or undefined when the lab does not run it (not hostNetwork, no container). */
export function planNodePod(
  ds: V1DaemonSet,
  node: LabNodeState,
  opts: {cnidbg: string[]; basePath: string},
): NodePodPlan | undefined {
  const spec = ds.spec?.template?.spec
  const container = spec?.containers?.[0]
  if (!spec?.hostNetwork || !container) return undefined
  const dsName = ds.metadata?.name ?? 'unnamed'
  const namespace = ds.metadata?.namespace ?? 'default'
  const name = `${dsName}-${node.name}`
  const dir = nodePodDir(node, dsName)
  const env: Record<string, string> = {
    PATH: opts.basePath,
    HOSTNAME: node.name,
    // A home of its own, as an image gives: no kubeconfig of this machine's root is found there.
    HOME: join(dir, 'home'),
    KUBERNETES_SERVICE_HOST: CONTROL_PLANE_IP,
    KUBERNETES_SERVICE_PORT: String(CONTROL_PLANE_PORT),
  }
  const fields: Record<string, string> = {
    'spec.nodeName': node.name,
    'status.hostIP': node.nodeIP,
    'status.podIP': node.nodeIP,
    'metadata.name': name,
    'metadata.namespace': namespace,
    'spec.serviceAccountName': spec.serviceAccountName ?? 'default',
  }
  for (const e of container.env ?? []) {
    const field = e.valueFrom?.fieldRef?.fieldPath
    if (e.value !== undefined) env[e.name] = expandVars(e.value, env)
    else if (field && field in fields) env[e.name] = fields[field]!
  }
  const command = [...(container.command ?? []), ...(container.args ?? [])].map((a) => expandVars(a, env))
  if (command.length === 0)
    throw new Error(`DaemonSet ${namespace}/${dsName}: the lab needs a command (no image entrypoint)`)
  const argv = command[0] === 'cnidbg' ? [...opts.cnidbg, ...command.slice(1)] : command
  const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]))
  const mounts: PodMount[] = []
  let refused: string | undefined
  for (const m of container.volumeMounts ?? []) {
    const v = volumes.get(m.name)
    let source: string | undefined
    if (v?.hostPath) {
      source = nodeHostPath(node, v.hostPath.path)
      if (source === undefined) {
        refused ??= `volume ${m.name}: hostPath ${JSON.stringify(v.hostPath.path)} has a '..' element`
        continue
      }
    } else if (v?.emptyDir) source = join(dir, 'volumes', m.name)
    if (!source) throw new Error(`DaemonSet ${namespace}/${dsName}: volume ${m.name} is neither hostPath nor emptyDir`)
    mounts.push({source, target: m.mountPath, readOnly: Boolean(m.readOnly)})
  }
  if (spec.automountServiceAccountToken !== false)
    mounts.push({source: join(dir, 'serviceaccount'), target: SERVICE_ACCOUNT_DIR, readOnly: true})
  // What an image would hold: cnidbg's own package, which the lab runs from this machine's disk. A
  // volume over a parent of it (the emptyDir on /tmp, where a checkout may live) would hide it from
  // the pod, so it is mounted back, read-only, after the volumes.
  if (command[0] === 'cnidbg') {
    const root = dirname(dirname(opts.cnidbg.at(-1)!))
    if (mounts.some((m) => root === m.target || root.startsWith(`${m.target}/`)))
      mounts.push({source: root, target: root, readOnly: true})
  }
  const caps = container.securityContext?.capabilities
  const dropsAll = (caps?.drop ?? []).some((c) => c.toUpperCase() === 'ALL')
  const listenArg = command.find((a) => a.startsWith('--listen='))
  return {
    name,
    daemonSet: dsName,
    namespace,
    serviceAccount: spec.serviceAccountName ?? 'default',
    container: container.name,
    node: node.name,
    command,
    argv,
    env,
    mounts,
    capabilities: dropsAll ? (caps?.add ?? []).map((c) => c.toLowerCase()) : 'all',
    dir,
    log: join(dir, 'log'),
    listen: listenArg?.slice('--listen='.length),
    ...(refused ? {refused} : {}),
  }
}

/**
 * Mounts the pod's volumes, then runs the rest of its argv. It runs inside `ip netns exec`, which
 * made a mount namespace whose mounts are slaves of this machine's, so new pod namespaces under
 * /run/netns appear (HostToContainer) and nothing mounted here leaks out.
 *
 * A mount point the machine lacks (/var/run/secrets, /var/lib/cnidbg) is made in an overlay of its
 * nearest existing parent, never on the machine's own filesystem. An overlay shows its lower
 * directory's files but not the mounts below it, and writes through it land in its upper layer: so
 * every source is bind-mounted aside first (a private tmpfs on /dev/shm), then the overlays are
 * made, then the sources are mounted at their targets, and the aside is detached.
 *
 * Positional parameters: N, then N × (source, target, ro|rw); M, then M overlay directories; then
 * the command.
 */
const MOUNT_SCRIPT = `set -eu
mount -t tmpfs -o mode=0700 cnidbg-pod /dev/shm
n=$1; shift
src=(); tgt=(); ro=()
for ((i = 0; i < n; i++)); do src+=("$1"); tgt+=("$2"); ro+=("$3"); shift 3; done
m=$1; shift
ov=()
for ((i = 0; i < m; i++)); do ov+=("$1"); shift; done
for ((i = 0; i < n; i++)); do
  [ "\${src[i]}" = tracefs ] && continue
  mkdir /dev/shm/$i
  mount --rbind "\${src[i]}" /dev/shm/$i
done
for ((i = 0; i < m; i++)); do
  mkdir -p /dev/shm/ov$i/up /dev/shm/ov$i/work
  mount -t overlay cnidbg-pod -o "lowerdir=\${ov[i]},upperdir=/dev/shm/ov$i/up,workdir=/dev/shm/ov$i/work" "\${ov[i]}"
done
for ((i = 0; i < n; i++)); do
  mkdir -p "\${tgt[i]}"
  if [ "\${src[i]}" = tracefs ]; then
    mount -t tracefs tracefs "\${tgt[i]}"
  else
    mount --rbind /dev/shm/$i "\${tgt[i]}"
  fi
  if [ "\${ro[i]}" = ro ]; then mount -o remount,bind,ro "\${tgt[i]}"; fi
done
# The staged sources go (a read-only volume must not stay writable there); the overlays keep their
# layers. The pod gets an empty /dev/shm of its own, as a container does.
umount -l /dev/shm
mount -t tmpfs -o mode=1777 shm /dev/shm
exec "$@"`

/** The nearest directory of `path` (itself or a parent) that exists on this machine. */
function existingParent(path: string): string {
  let p = path
  while (!existsSync(p)) p = dirname(p)
  return p
}

/** The overlays a pod's mounts need: the nearest existing parent of each mount point that is missing. */
export function overlaysFor(mounts: readonly PodMount[]): string[] {
  const dirs = new Set<string>()
  for (const m of mounts) {
    if (existsSync(m.target)) continue
    const parent = existingParent(m.target)
    if (parent === '/') throw new Error(`cannot make mount point ${m.target}: it would overlay /`)
    dirs.add(parent)
  }
  // A parent inside another's overlay would be hidden by it: keep the outer ones.
  return [...dirs].filter((d) => ![...dirs].some((o) => o !== d && d.startsWith(`${o}/`)))
}

/** The full argv that runs the pod on its node: enter the namespace, mount, drop capabilities, exec. */
export function podLaunchArgv(plan: NodePodPlan, netns: string): string[] {
  const overlays = overlaysFor(plan.mounts)
  const caps =
    plan.capabilities === 'all'
      ? []
      : ['setpriv', `--bounding-set=-all${plan.capabilities.map((c) => `,+${c.replace(/^cap_/, '')}`).join('')}`, '--']
  return inNetnsArgv(
    {name: netns},
    [
      'bash',
      '-c',
      MOUNT_SCRIPT,
      'cnidbg-pod',
      String(plan.mounts.length),
      ...plan.mounts.flatMap((m) => [m.source, m.target, m.readOnly ? 'ro' : 'rw']),
      String(overlays.length),
      ...overlays,
      ...caps,
      // A pod's environment is its manifest's. The supervisor's own preloads (NODE_OPTIONS, which a
      // test runner also adds to every program started under it) must not reach the pod's Node.
      ...('NODE_OPTIONS' in plan.env ? [] : ['env', '-u', 'NODE_OPTIONS', '--']),
      ...plan.argv,
    ],
    {sysfs: true},
  )
}

/** The pod's process as its pid file names it, while it runs. */
export function nodePodProcess(dir: string): ProcRef | undefined {
  return pidFileProc(join(dir, 'pid'))
}

/** Every DaemonSet pod process of a node that still runs (what `lab down` stops). */
export function nodePodProcesses(node: Pick<LabNodeState, 'dir'>): ProcRef[] {
  let names: string[] = []
  try {
    names = readdirSync(join(node.dir, 'pods'))
  } catch {
    return []
  }
  return names.map((n) => nodePodProcess(join(node.dir, 'pods', n))).filter((r): r is ProcRef => Boolean(r))
}

export interface ServiceAccountFiles {
  token: string
  caCert?: Buffer
}

export interface NodePodStatus {
  name: string
  daemonSet: string
  running: boolean
  pid?: number
  restarts: number
  lastExit?: string
}

/** One supervised DaemonSet pod: started, restarted when it exits, stopped on request. */
export class NodePodProcess {
  private ref: ProcRef | undefined
  private stopping = true
  private restarts = 0
  private lastExit: string | undefined
  private timer: NodeJS.Timeout | undefined
  private backoffMs = 1000
  private startedAt = 0

  constructor(
    readonly plan: NodePodPlan,
    private readonly netns: string,
    private readonly mintToken: (plan: NodePodPlan) => Promise<ServiceAccountFiles>,
    private readonly log: (line: string) => void,
  ) {}

  get pid(): number | undefined {
    return this.ref && procAlive(this.ref) ? this.ref.pid : undefined
  }

  status(): NodePodStatus {
    return {
      name: this.plan.name,
      daemonSet: this.plan.daemonSet,
      running: this.pid !== undefined,
      pid: this.pid,
      restarts: this.restarts,
      lastExit: this.lastExit,
    }
  }

  /** Writes the pod's files (a fresh token each start) and starts its process. */
  async start(): Promise<void> {
    this.stopping = false
    if (this.pid !== undefined) return
    const p = this.plan
    if (p.refused) {
      this.lastExit = `not started: ${p.refused}`
      this.log(`${p.name}: ${this.lastExit}`)
      return
    }
    const sa = join(p.dir, 'serviceaccount')
    for (const d of [p.dir, sa, join(p.dir, 'home')]) mkdirSync(d, {recursive: true, mode: 0o700})
    for (const m of p.mounts) if (m.source !== 'tracefs') mkdirSync(m.source, {recursive: true, mode: 0o755})
    const files = await this.mintToken(p)
    writeFileSync(join(sa, 'token'), files.token, {mode: 0o600})
    writeFileSync(join(sa, 'namespace'), p.namespace, {mode: 0o644})
    if (files.caCert) writeFileSync(join(sa, 'ca.crt'), files.caCert, {mode: 0o644})
    if (this.stopping) return
    const argv = podLaunchArgv(p, this.netns)
    const pid = spawnDetached(argv[0]!, argv.slice(1), {
      env: p.env,
      extendEnv: false,
      logFile: p.log,
      onExit: (code, signal) => this.exited(pid, code, signal),
    })
    this.ref = procRef(pid)
    this.startedAt = Date.now()
    writeFileAtomic(join(p.dir, 'pid'), `${pid} ${this.ref.start ?? ''}\n`)
    this.log(`${p.name}: started (pid ${pid}): ${p.command.join(' ')}`)
  }

  private exited(pid: number, code: number | null, signal: string | null): void {
    if (this.ref?.pid !== pid) return
    this.ref = undefined
    this.lastExit = signal ? `signal ${signal}` : `exit ${code}`
    if (this.stopping) return
    // Ran a while: the next failure starts the back-off afresh (kubelet's CrashLoopBackOff resets too).
    if (Date.now() - this.startedAt > 60_000) this.backoffMs = 1000
    this.scheduleRestart()
  }

  private scheduleRestart(): void {
    this.restarts++
    this.log(`${this.plan.name}: ${this.lastExit}; restarting in ${this.backoffMs / 1000}s`)
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (this.stopping) return
      this.start().catch((error: unknown) => {
        this.lastExit = `could not start: ${(error as Error).message}`
        if (!this.stopping) this.scheduleRestart()
      })
    }, this.backoffMs)
    this.backoffMs = Math.min(this.backoffMs * 2, 30_000)
  }

  /** Stops it (SIGTERM, then SIGKILL) and keeps it stopped. */
  async stop(): Promise<void> {
    this.stopping = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    const ref = this.ref ?? nodePodProcess(this.plan.dir)
    this.ref = undefined
    if (ref) await stopProc(ref)
    rmSync(join(this.plan.dir, 'pid'), {force: true})
  }
}
