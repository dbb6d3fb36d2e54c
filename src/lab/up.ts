/**
 * `cnidbg lab up`: builds a cluster in network namespaces and leaves it running in the background.
 * The state file is written before anything exists and after each thing that must be undone, so a
 * failure, a Ctrl-C or a crash at any point leaves something `lab down` (or the next `lab up`) can
 * remove completely.
 */
import {existsSync} from 'node:fs'
import {join} from 'node:path'

import {FailureError, UsageError} from '../core/errors.js'
import {onCleanup} from '../process/cleanup.js'
import {requireEnvironment} from '../netns/preflight.js'
import {StepTracker} from '../core/step-tracker.js'
import {controlRequest} from './control.js'
import {newLabTokens, planLabAuth, writeLabKubeconfigs, writeServingCert, writeTokenFile} from './credentials.js'
import {checkPluginDir, installNodePlugins, SYSTEM_CNI_DIR} from './install.js'
import {apiErrorText, createPod, labApi, listPods, registerNode} from './k8s.js'
import {labHealth, reapCrashedLabs, type ReapedLab, teardownLab} from './lifecycle.js'
import {applyManifests, labOverlay, readManifests} from './manifests.js'
import {
  CLUSTER_CIDR,
  CONFLIST_FILE,
  defaultPodName,
  labDir,
  LAB_MODES,
  LAB_TOPOLOGIES,
  type LabMode,
  type LabTopologyKind,
  MAX_NODES,
  nodeIP,
  nodeName,
  nodeNetns,
  podCidr,
  ROUTED_UNDERLAY,
  routedNodeIP,
  routedSubnet,
  routerIP,
  routerNetns,
  subnetBridge,
  UNDERLAY_BRIDGE,
  UNDERLAY_CIDR,
  underlayNetns,
  underlayPort,
  validateLabName,
  CONTROL_PLANE_IP,
  VPC_API_PORT,
  VPC_ROUTER_IFACE,
  VPC_ROUTER_IP,
  vpcRouterNetns,
} from './names.js'
import {createNode, createRouter, createUnderlay, createVpcRouter} from './network.js'
import {type Libexec, logTail, resolveLibexec, startApiServerProcess, startSupervisorProcess} from './processes.js'
import {type LabNodeState, type LabState, procAlive, procRef, procStart, readLabState, writeLabState} from './state.js'
import type {SupervisorStatus} from './supervisor.js'
import {loadLabTopology} from './topology.js'

export interface LabUpOptions {
  name: string
  nodes: number
  podsPerNode: number
  mode: LabMode
  /** flat (default): one L2 underlay; routed: two subnets joined by a router namespace (names.ts). */
  topology?: LabTopologyKind
  /** How long to wait for the node agents and for every pod's IP. */
  timeoutSeconds?: number
  /** Where the lab's programs are (default: next to cnidbg; see resolveLibexec). */
  libexec?: Partial<Libexec>
  /**
   * A running process the lab lives no longer than (LabState.heldBy): once it has exited, the lab counts
   * as crashed and the next lab up or lab down removes it. Tests pass their own pid.
   */
  heldBy?: number
}

export interface LabUpNode {
  name: string
  nodeIP: string
  podCIDR: string
  netns: string
}

export interface LabUpPod {
  name: string
  namespace: string
  node: string
  ip: string
  netnsPath: string
}

export interface LabUpResult {
  name: string
  mode: LabMode
  dir: string
  kubeconfig: string
  apiserver: string
  topology: string
  nodes: LabUpNode[]
  pods: LabUpPod[]
  /** Crashed labs this run cleaned up first. */
  reaped: ReapedLab[]
  durationMs: number
}

export const LAB_UP_STEPS = [
  {id: 'preflight', title: 'Check the machine'},
  {id: 'underlay', title: 'Create the underlay network'},
  {id: 'nodes', title: 'Create the node namespaces'},
  {id: 'plugins', title: 'Install the CNI plugins'},
  {id: 'apiserver', title: 'Start the API server'},
  {id: 'register', title: 'Register the nodes'},
  {id: 'deploy', title: 'Apply deploy/ (RBAC, DaemonSets)'},
  {id: 'agents', title: 'Start the node daemons, agents and kubelets'},
  {id: 'pods', title: 'Create the pods and wait for their IPs'},
] as const

function validate(opts: LabUpOptions): void {
  validateLabName(opts.name)
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > MAX_NODES)
    throw new UsageError(`--nodes must be 1 to ${MAX_NODES}, not ${opts.nodes}.`, {code: 'BAD_NODE_COUNT'})
  if (!Number.isInteger(opts.podsPerNode) || opts.podsPerNode < 0 || opts.podsPerNode > 50)
    throw new UsageError(`--pods-per-node must be 0 to 50, not ${opts.podsPerNode}.`, {code: 'BAD_POD_COUNT'})
  if (!LAB_MODES.includes(opts.mode))
    throw new UsageError(`Unknown mode ${JSON.stringify(opts.mode)}.`, {
      code: 'BAD_MODE',
      suggestions: [`Use one of: ${LAB_MODES.join(', ')}`],
    })
  if (opts.topology !== undefined && !LAB_TOPOLOGIES.includes(opts.topology))
    throw new UsageError(`Unknown topology ${JSON.stringify(opts.topology)}.`, {
      code: 'BAD_TOPOLOGY',
      suggestions: [`Use one of: ${LAB_TOPOLOGIES.join(', ')}`],
    })
  // A process that is not running would make the lab count as crashed from its first moment.
  if (
    opts.heldBy !== undefined &&
    (!Number.isInteger(opts.heldBy) || opts.heldBy < 1 || procStart(opts.heldBy) === null)
  )
    throw new UsageError(`--held-by ${opts.heldBy}: no process with that PID is running.`, {
      code: 'BAD_HELD_BY',
      suggestions: ['Give the PID of a running process, e.g. $$ for the calling shell.'],
    })
}

/** The whole plan, before anything exists: names, addresses and paths of everything. */
export function planLab(
  opts: Pick<LabUpOptions, 'name' | 'nodes' | 'podsPerNode' | 'mode' | 'topology' | 'heldBy'>,
  dir: string,
): LabState {
  const nodes: LabNodeState[] = []
  const routed = opts.topology === 'routed'
  for (let i = 1; i <= opts.nodes; i++) {
    const name = nodeName(i)
    const nd = join(dir, 'nodes', name)
    const binDir = join(nd, 'bin')
    nodes.push({
      name,
      index: i,
      nodeIP: routed ? routedNodeIP(i) : nodeIP(i),
      ...(routed ? {bridge: subnetBridge(routedSubnet(i)), gateway: routerIP(routedSubnet(i))} : {}),
      podCIDR: podCidr(i),
      netns: nodeNetns(opts.name, name),
      dir: nd,
      subnetFile: join(nd, 'subnet.env'),
      binDir,
      confDir: join(nd, 'net.d'),
      confFile: join(nd, 'net.d', CONFLIST_FILE),
      varLibCni: join(nd, 'var-lib-cni'),
      runCni: join(nd, 'run-cni'),
      cniPath: [binDir, SYSTEM_CNI_DIR],
      underlayPort: underlayPort(name),
    })
  }
  return {
    schemaVersion: 1,
    name: opts.name,
    mode: opts.mode,
    dir,
    createdAt: new Date().toISOString(),
    phase: 'starting',
    owner: procRef(process.pid),
    ...(opts.heldBy === undefined ? {} : {heldBy: procRef(opts.heldBy)}),
    kubeconfig: join(dir, 'kubeconfig'),
    auth: planLabAuth(dir),
    clusterCIDR: CLUSTER_CIDR,
    underlay: {
      netns: underlayNetns(opts.name),
      bridge: UNDERLAY_BRIDGE,
      cidr: routed ? ROUTED_UNDERLAY : UNDERLAY_CIDR,
    },
    topology: routed ? 'routed' : 'flat',
    ...(routed ? {underlayRouter: {netns: routerNetns(opts.name), addresses: [routerIP(0), routerIP(1)]}} : {}),
    ...(opts.mode === 'vpc'
      ? {
          router: {
            netns: vpcRouterNetns(opts.name),
            ip: VPC_ROUTER_IP,
            iface: VPC_ROUTER_IFACE,
            apiUrl: `http://${CONTROL_PLANE_IP}:${VPC_API_PORT}`,
            apiSocket: join(dir, 'vpc-api.sock'),
          },
        }
      : {}),
    apiserver: {
      pid: 0,
      start: null,
      log: join(dir, 'logs', 'apiserver.log'),
      stateFile: join(dir, 'apiserver-state.json'),
    },
    supervisor: {pid: 0, start: null, log: join(dir, 'logs', 'supervisor.log'), socket: join(dir, 'supervisor.sock')},
    nodes,
    podsPerNode: opts.podsPerNode,
    faults: [],
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Polls the supervisor until every node's daemon is healthy and has written its subnet file. */
async function waitForAgents(state: LabState, deadline: number, steps: StepTracker): Promise<void> {
  let last = ''
  for (;;) {
    if (!procAlive(state.supervisor)) {
      throw new FailureError(`The lab supervisor exited while starting:\n${logTail(state.supervisor!.log)}`, {
        code: 'SUPERVISOR_FAILED',
        suggestions: [`See ${state.supervisor!.log}`],
      })
    }
    let status: SupervisorStatus | undefined
    try {
      status = await controlRequest<SupervisorStatus>(state.supervisor!.socket, 'GET', '/status', 10_000)
    } catch {
      // Not listening yet.
    }
    if (status) {
      const ready = status.nodes.filter(
        (n) =>
          n.daemon.healthy &&
          (!n.agent || n.agent.healthy) &&
          existsSync(state.nodes.find((x) => x.name === n.name)!.subnetFile),
      )
      const detail = `${ready.length}/${state.nodes.length} nodes ready`
      if (detail !== last) steps.update('agents', (last = detail))
      if (ready.length === state.nodes.length) return
      if (Date.now() > deadline) {
        const why = status.nodes
          .filter((n) => !ready.includes(n))
          .map(
            (n) =>
              `${n.name}: ${
                n.daemon.healthy
                  ? `agent ${n.agent?.running ? 'not answering' : 'not running'}`
                  : (n.daemon.waiting ?? (n.daemon.errors.join('; ') || 'not healthy'))
              }`,
          )
        throw new FailureError(`Node processes not ready in time: ${why.join('; ')}`, {
          code: 'AGENTS_TIMEOUT',
          suggestions: [`See ${state.supervisor!.log}`],
        })
      }
    } else if (Date.now() > deadline) {
      throw new FailureError('The lab supervisor did not answer in time.', {
        code: 'AGENTS_TIMEOUT',
        suggestions: [`See ${state.supervisor!.log}`],
      })
    }
    // A local socket answers in a millisecond: a short poll costs little and the lab is up sooner.
    await sleep(50)
  }
}

/** Polls the API server until every listed pod has an IP; the kubelets' errors explain a timeout. */
export async function waitForPodIPs(
  state: LabState,
  names: Array<{name: string; namespace: string}>,
  deadline: number,
  onProgress?: (ready: number) => void,
): Promise<void> {
  const api = labApi(state)
  let last = -1
  for (;;) {
    const pods = await listPods(api)
    const ready = names.filter((w) =>
      pods.some((p) => p.metadata?.name === w.name && p.metadata?.namespace === w.namespace && p.status?.podIP),
    ).length
    if (ready !== last) onProgress?.((last = ready))
    if (ready === names.length) return
    if (Date.now() > deadline) {
      let why: string[] = []
      try {
        const s = await controlRequest<SupervisorStatus>(state.supervisor!.socket, 'GET', '/status', 10_000)
        why = s.nodes.flatMap((n) =>
          n.kubelet.pods.filter((p) => p.error).map((p) => `${p.namespace}/${p.name} on ${n.name}: ${p.error}`),
        )
      } catch (error) {
        why = [(error as Error).message]
      }
      throw new FailureError(
        `Pods without an IP after the timeout (${ready}/${names.length} ready)${why.length ? `: ${why.join('; ')}` : ''}.`,
        {
          code: 'PODS_TIMEOUT',
          suggestions: [`See ${state.supervisor!.log}`, 'Raise --timeout on a slow machine'],
        },
      )
    }
    if (!procAlive(state.supervisor))
      throw new FailureError(`The lab supervisor died:\n${logTail(state.supervisor!.log)}`, {code: 'SUPERVISOR_FAILED'})
    await sleep(100)
  }
}

/**
 * Builds the lab, step by step (progress on `steps`), and returns once every pod has an IP. The lab
 * keeps running in the background. On any failure, or SIGINT/SIGTERM, everything made is removed.
 */
export async function labUp(
  opts: LabUpOptions,
  steps: StepTracker = new StepTracker(LAB_UP_STEPS),
): Promise<LabUpResult> {
  const started = Date.now()
  validate(opts)
  requireEnvironment(['ip', 'nsenter', 'unshare', 'mount', 'sysctl', 'bridge', 'openssl'])
  const libexec = resolveLibexec(opts.libexec)
  checkPluginDir(libexec.pluginDir)
  const timeoutMs = (opts.timeoutSeconds ?? 180) * 1000
  const dir = labDir(opts.name)

  const reaped = await steps.run('preflight', async () => {
    const r = await reapCrashedLabs()
    const existing = readLabState(opts.name)
    if (existing) {
      const health = labHealth(existing)
      throw new UsageError(
        `A lab named ${JSON.stringify(opts.name)} is already ${health === 'running' ? 'running' : health}.`,
        {
          code: 'LAB_EXISTS',
          suggestions: [
            `Remove it first: cnidbg lab down --name ${opts.name}`,
            'Or start another one: cnidbg lab up --name lab2',
          ],
        },
      )
    }
    return r
  })
  if (reaped.length > 0)
    steps.update(
      'preflight',
      `reaped crashed lab${reaped.length > 1 ? 's' : ''} ${reaped.map((r) => r.name).join(', ')}`,
    )

  const state = planLab(opts, dir)
  // Recorded before anything exists: from here on, a crash leaves a lab the next run can reap.
  writeLabState(state)
  let aborted = false
  const unregister = onCleanup(`lab ${opts.name}`, async () => {
    aborted = true
    await teardownLab(opts.name)
  })
  const check = () => {
    if (aborted) throw new FailureError('Interrupted.', {code: 'INTERRUPTED'})
  }
  try {
    await steps.run('underlay', async () => {
      await createUnderlay(state)
      await createVpcRouter(state)
      if (state.underlayRouter) {
        await createRouter(state)
        return `${state.underlay.netns}, bridges br0 br1, router ${state.underlayRouter.netns} (${state.underlayRouter.addresses.join(' ')})`
      }
      const ul = `${state.underlay.netns}, bridge ${state.underlay.bridge}, ${state.underlay.cidr}`
      return state.router ? `${ul}, VPC router ${state.router.netns} ${state.router.ip} (nodes /32 behind it)` : ul
    })
    check()
    await steps.run('nodes', async () => {
      // The nodes don't depend on each other: made side by side. Every one is finished (made or
      // failed) before an error goes on to the teardown, which removes the lab's namespaces by name,
      // so none can appear after it looked.
      let made = 0
      const results = await Promise.allSettled(
        state.nodes.map(async (n) => {
          await createNode(state, n)
          steps.update('nodes', `${++made}/${state.nodes.length} (${n.name} ${n.nodeIP})`)
        }),
      )
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
      if (failed) throw failed.reason
      return `${state.nodes.length} node${state.nodes.length > 1 ? 's' : ''}, ${state.nodes.map((n) => n.nodeIP).join(' ')}`
    })
    check()
    await steps.run('plugins', async () => {
      for (const n of state.nodes) installNodePlugins(n, libexec.pluginDir)
      return `cnidbg-ref + cnidbg-ipam (+ portmap) on ${state.nodes.length} node${state.nodes.length > 1 ? 's' : ''}`
    })
    check()
    const url = await steps.run('apiserver', async () => {
      // Tokens stay in memory and in root-only files: the API server reads its token file, every
      // component its own kubeconfig (credentials.ts).
      const tokens = newLabTokens(state)
      writeTokenFile(state.auth!, tokens)
      await writeServingCert(state.auth!)
      const u = await startApiServerProcess(state, libexec, (ref) => {
        state.apiserver = {...state.apiserver!, ...ref}
        writeLabState(state)
      })
      writeLabKubeconfigs(state, state.auth!, tokens, u)
      state.apiserver = {...state.apiserver!, url: u}
      writeLabState(state)
      return u
    })
    check()
    const api = labApi(state)
    await steps.run('register', async () => {
      for (const n of state.nodes) await registerNode(api, opts.name, n)
      return state.nodes.map((n) => `${n.name} ${n.podCIDR}`).join(', ')
    })
    check()
    await steps.run('deploy', async () => {
      // The manifests a cluster gets, with the lab's mode (manifests.ts); the supervisor runs the
      // DaemonSets' pods on every node from what the API server now stores.
      const objects = labOverlay(readManifests(libexec.deployDir), opts.mode, {
        vpcApi: state.router?.apiUrl,
        topology: state.topology,
      })
      const applied = await applyManifests(state.kubeconfig, objects).catch((error: unknown) => {
        throw new FailureError(`Applying ${libexec.deployDir}: ${apiErrorText(error)}`, {code: 'DEPLOY_FAILED'})
      })
      state.programs = {cnidbg: [process.execPath, libexec.cnidbg], forwarder: libexec.forwarder}
      writeLabState(state)
      return `${applied.length} objects (${applied.filter((a) => a.startsWith('DaemonSet/')).join(', ')})`
    })
    check()
    await steps.run('agents', async () => {
      state.supervisor = {...state.supervisor!, ...startSupervisorProcess(state, libexec)}
      writeLabState(state)
      await waitForAgents(state, Date.now() + timeoutMs, steps)
      return `${opts.mode} daemons and agents healthy on ${state.nodes.length} node${state.nodes.length > 1 ? 's' : ''}`
    })
    check()
    const wanted: Array<{name: string; namespace: string}> = []
    await steps.run('pods', async () => {
      let k = 0
      for (const n of state.nodes) {
        for (let j = 0; j < opts.podsPerNode; j++) {
          const name = defaultPodName(k++)
          try {
            await createPod(api, opts.name, name, n.name)
          } catch (error) {
            throw new FailureError(`Creating pod ${name}: ${apiErrorText(error)}`, {code: 'POD_CREATE_FAILED'})
          }
          wanted.push({name, namespace: 'default'})
        }
      }
      await waitForPodIPs(state, wanted, Date.now() + timeoutMs, (ready) =>
        steps.update('pods', `${ready}/${wanted.length} pods have an IP`),
      )
      return `${wanted.length} pod${wanted.length === 1 ? '' : 's'} with an IP`
    })
    check()
    // lab.json as of now (the supervisor keeps it current from here on).
    await controlRequest(state.supervisor!.socket, 'POST', '/topology')
    state.phase = 'running'
    state.owner = null
    writeLabState(state)
    const topo = loadLabTopology(opts.name)
    return {
      name: opts.name,
      mode: opts.mode,
      dir,
      kubeconfig: state.kubeconfig,
      apiserver: url,
      topology: join(dir, 'lab.json'),
      nodes: state.nodes.map((n) => ({name: n.name, nodeIP: n.nodeIP, podCIDR: n.podCIDR, netns: n.netns})),
      pods: topo.endpoints.map((e) => ({
        name: e.name,
        namespace: e.namespace,
        node: e.node,
        ip: e.ip,
        netnsPath: e.netnsPath,
      })),
      reaped,
      durationMs: Date.now() - started,
    }
  } catch (error) {
    // Interrupted: the cleanup handler is removing everything; what failed meanwhile is its doing.
    if (aborted) throw new FailureError('Interrupted; the lab is being removed.', {code: 'INTERRUPTED'})
    await teardownLab(opts.name)
    throw error
  } finally {
    unregister()
  }
}
