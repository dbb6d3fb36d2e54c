/**
 * The kubelet stand-in of one lab node: the part of a kubelet and container runtime that matters to
 * CNI. It watches the Pods bound to its node; for a new pod it creates the pod's network namespace and
 * runs CNI ADD through the runtime core, then reports the pod's IP in its status; when the pod is
 * deleted it runs DEL and removes the namespace.
 *
 * Level-triggered like the daemon: each pass compares the pods the API server has for this node with
 * the attachments the node has (its libcni result cache), so a missed event or a failed call is
 * fixed by the next pass. Plugins run "on the node": inside the node's namespace, with the node's own
 * /var/lib/cni and /run/cni (runInHostView), exactly as a runtime on that node would run them.
 */
import {CoreV1Api, type KubeConfig, PatchStrategy, setHeaderOptions, type V1Pod} from '../kube/client.js'

import {type InformerStatus, WatchedCollection} from '../kube/informers.js'
import {createNetns, deleteNetns, netnsExists, netnsPath} from '../netns/netns.js'
import {runInHostView} from '../netns/sandbox.js'
import {listCacheEntries, removeCacheEntry} from '../runtime/cache.js'
import {loadConfFile} from '../runtime/conf.js'
import {addNetworkList, delNetworkList, type RuntimeContext} from '../runtime/ops.js'
import type {JsonObject, NetConfList, RuntimeConf} from '../runtime/types.js'
import {NETWORK_NAME, POD_IFACE, podNetns} from './names.js'
import type {LabNodeState} from './state.js'

export interface KubeletOptions {
  lab: string
  node: LabNodeState
  kubeConfig: KubeConfig
  log: (msg: string) => void
  /** Called after an attachment was added or removed (the supervisor rewrites lab.json). */
  onChange?: () => void
  /** Per plugin call. */
  pluginTimeoutMs?: number
  resyncIntervalMs?: number
}

/** One pod's network on this node, as the kubelet knows it. */
export interface PodAttachment {
  uid: string
  namespace: string
  name: string
  containerId: string
  netns: string
  netnsPath: string
  ip?: string
  args: Array<[string, string]>
  capabilityArgs: JsonObject
}

export interface KubeletPodStatus {
  namespace: string
  name: string
  uid: string
  node: string
  /** pending: no network yet (or ADD failing); running: ADD done; terminating: DEL pending. */
  state: 'pending' | 'running' | 'terminating'
  ip?: string
  netns: string
  netnsPath: string
  /** The last ADD/DEL failure, while it keeps failing. */
  error?: string
  attempts: number
}

export interface KubeletStatus {
  node: string
  synced: boolean
  informer: InformerStatus
  pods: KubeletPodStatus[]
}

interface Retry {
  attempts: number
  nextAt: number
  error: string
  /** The error last written to the pod's status, so it is written once. */
  reported?: string
}

const podKey = (p: V1Pod): string => p.metadata?.uid ?? ''

function capabilityArgsOf(pod: V1Pod): JsonObject {
  // What kubelet's dockershim/CRI did: hostPort mappings become the portMappings capability (CONVENTIONS.md).
  const mappings = (pod.spec?.containers ?? []).flatMap((c) =>
    (c.ports ?? [])
      .filter((p) => p.hostPort)
      .map((p) => ({
        hostPort: p.hostPort!,
        containerPort: p.containerPort,
        protocol: (p.protocol ?? 'TCP').toLowerCase(),
        ...(p.hostIP ? {hostIP: p.hostIP} : {}),
      })),
  )
  return mappings.length > 0 ? {portMappings: mappings} : {}
}

export class Kubelet {
  readonly node: LabNodeState
  private readonly core: CoreV1Api
  private readonly pods: WatchedCollection<V1Pod>
  private readonly attachments = new Map<string, PodAttachment>()
  private readonly retries = new Map<string, Retry>()
  private list: NetConfList | undefined
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private dirty = false
  private stopping = false

  constructor(private readonly opts: KubeletOptions) {
    this.node = opts.node
    this.core = opts.kubeConfig.makeApiClient(CoreV1Api)
    const selector = `spec.nodeName=${this.node.name}`
    this.pods = new WatchedCollection<V1Pod>(
      opts.kubeConfig,
      `/api/v1/pods?fieldSelector=${encodeURIComponent(selector)}`,
      () => this.core.listPodForAllNamespaces({fieldSelector: selector}),
      {onChange: () => this.kick(), log: (m) => opts.log(m), backoffInitialMs: 500, backoffMaxMs: 5000},
    )
  }

  private get ctx(): RuntimeContext {
    const view = {netns: this.node.netns, varLibCni: this.node.varLibCni, runCni: this.node.runCni}
    return {
      // libcni's cache is /var/lib/cni/results on a node: here, the node's own stand-in for it.
      cacheDir: this.node.varLibCni,
      cniPath: this.node.cniPath,
      executor: (file, args, o) => runInHostView(view, file, args, o),
      timeoutMs: this.opts.pluginTimeoutMs ?? 60_000,
    }
  }

  /** Loads the conflist and the attachments the node already has, then starts watching. */
  start(): void {
    this.stopping = false
    this.list = loadConfFile(this.node.confFile)
    for (const c of listCacheEntries(this.node.varLibCni, NETWORK_NAME)) {
      const e = c.entry
      const arg = (k: string) => e.cniArgs?.find(([key]) => key === k)?.[1]
      const uid = arg('K8S_POD_UID')
      if (!uid || !e.netns) continue
      const result = e.result as {ips?: Array<{address?: string}>} | undefined
      this.attachments.set(uid, {
        uid,
        namespace: arg('K8S_POD_NAMESPACE') ?? '',
        name: arg('K8S_POD_NAME') ?? '',
        containerId: e.containerId,
        netns: e.netns.split('/').pop() ?? '',
        netnsPath: e.netns,
        ip: result?.ips?.[0]?.address?.split('/')[0],
        args: e.cniArgs ?? [],
        capabilityArgs: e.capabilityArgs ?? {},
      })
    }
    this.pods.start()
    this.timer = setInterval(() => this.kick(), this.opts.resyncIntervalMs ?? 2000)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    this.stopping = true
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    await this.running
    await this.pods.stop()
  }

  /** Schedules a pass (coalesced with one in flight). */
  kick(): void {
    if (this.stopping) return
    this.dirty = true
    if (this.running) return
    this.running = (async () => {
      while (this.dirty && !this.stopping) {
        this.dirty = false
        try {
          await this.reconcile()
        } catch (error) {
          this.opts.log(`reconcile: ${(error as Error).message}`)
        }
      }
    })().finally(() => (this.running = undefined))
  }

  status(): KubeletStatus {
    const pods: KubeletPodStatus[] = []
    const seen = new Set<string>()
    for (const p of this.wanted()) {
      const uid = podKey(p)
      seen.add(uid)
      const a = this.attachments.get(uid)
      const ns = p.metadata?.namespace ?? ''
      const name = p.metadata?.name ?? ''
      const netns = a?.netns ?? podNetns(this.opts.lab, this.node.name, ns, name)
      const r = this.retries.get(uid)
      pods.push({
        namespace: ns,
        name,
        uid,
        node: this.node.name,
        state: a ? 'running' : 'pending',
        ip: a?.ip,
        netns,
        netnsPath: netnsPath(netns),
        error: r?.error,
        attempts: r?.attempts ?? 0,
      })
    }
    for (const a of this.attachments.values()) {
      if (seen.has(a.uid)) continue
      const r = this.retries.get(a.uid)
      pods.push({
        namespace: a.namespace,
        name: a.name,
        uid: a.uid,
        node: this.node.name,
        state: 'terminating',
        ip: a.ip,
        netns: a.netns,
        netnsPath: a.netnsPath,
        error: r?.error,
        attempts: r?.attempts ?? 0,
      })
    }
    return {
      node: this.node.name,
      synced: this.pods.synced,
      informer: this.pods.status(),
      pods: pods.sort((x, y) => x.name.localeCompare(y.name)),
    }
  }

  /** The attachments that have an address (for lab.json). */
  endpoints(): PodAttachment[] {
    return [...this.attachments.values()].filter((a) => a.ip)
  }

  private wanted(): V1Pod[] {
    return this.pods
      .list()
      .filter(
        (p) =>
          p.spec?.nodeName === this.node.name &&
          !p.spec?.hostNetwork &&
          !p.metadata?.deletionTimestamp &&
          p.status?.phase !== 'Succeeded' &&
          p.status?.phase !== 'Failed' &&
          Boolean(p.metadata?.uid),
      )
  }

  private async reconcile(): Promise<void> {
    if (!this.pods.synced) return
    const wanted = this.wanted()
    const uids = new Set(wanted.map(podKey))
    // Teardown first: a pod re-created under the same name needs its old namespace gone.
    for (const a of [...this.attachments.values()]) {
      if (!uids.has(a.uid) && this.due(a.uid)) await this.tearDown(a)
    }
    for (const p of wanted) {
      if (this.stopping) return
      const uid = podKey(p)
      const a = this.attachments.get(uid)
      if (!a) {
        // One pod that can't be set up (whatever the reason) is retried with back-off and shown in
        // its status; the node's other pods go on.
        if (this.due(uid))
          await this.setUp(p).catch((error: unknown) =>
            this.setUpFailed(p, 'setting up', error instanceof Error ? error.message : String(error)),
          )
      } else if (a.ip && (p.status?.podIP !== a.ip || p.status?.phase !== 'Running')) {
        await this.reportRunning(p, a)
      }
    }
    for (const uid of this.retries.keys()) if (!uids.has(uid) && !this.attachments.has(uid)) this.retries.delete(uid)
  }

  private due(uid: string): boolean {
    const r = this.retries.get(uid)
    return !r || Date.now() >= r.nextAt
  }

  private failed(uid: string, error: string): Retry {
    const prev = this.retries.get(uid)
    const attempts = (prev?.attempts ?? 0) + 1
    const r: Retry = {
      attempts,
      nextAt: Date.now() + Math.min(30_000, 500 * 2 ** attempts),
      error,
      reported: prev?.reported,
    }
    this.retries.set(uid, r)
    return r
  }

  private async setUp(p: V1Pod): Promise<void> {
    const uid = podKey(p)
    const namespace = p.metadata?.namespace ?? 'default'
    const name = p.metadata?.name ?? ''
    const netns = podNetns(this.opts.lab, this.node.name, namespace, name)
    // A leftover namespace of the same name (a crash between ADD and bookkeeping) is not this pod's.
    if (netnsExists(netns)) await deleteNetns(netns)
    // Kubelet-style CNI_ARGS (libcni's K8S_* args; IgnoreUnknown lets plugins that know none of them pass).
    const containerId = uid
    const args: Array<[string, string]> = [
      ['IgnoreUnknown', '1'],
      ['K8S_POD_NAMESPACE', namespace],
      ['K8S_POD_NAME', name],
      ['K8S_POD_INFRA_CONTAINER_ID', containerId],
      ['K8S_POD_UID', uid],
    ]
    const rt: RuntimeConf = {
      args,
      capabilityArgs: capabilityArgsOf(p),
      containerId,
      ifname: POD_IFACE,
      netns: netnsPath(netns),
    }
    try {
      await createNetns(netns)
    } catch (error) {
      await this.setUpFailed(p, `creating namespace ${netns}`, (error as Error).message)
      return
    }
    const out = await addNetworkList(this.list!, rt, this.ctx)
    if (!out.ok) {
      // SPEC §3 lifecycle: a failed ADD is cleaned up with DEL before the next try (CRI does the same).
      await delNetworkList(this.list!, rt, this.ctx).catch(() => undefined)
      await deleteNetns(netns).catch(() => undefined)
      await this.setUpFailed(p, 'CNI ADD', out.failure ?? 'ADD failed')
      return
    }
    const ips = ((out.result?.ips ?? []) as Array<{address?: string}>)
      .map((i) => i.address?.split('/')[0])
      .filter((i): i is string => Boolean(i))
    const a: PodAttachment = {
      uid,
      namespace,
      name,
      containerId,
      netns,
      netnsPath: rt.netns,
      ip: ips[0],
      args,
      capabilityArgs: rt.capabilityArgs,
    }
    this.attachments.set(uid, a)
    this.retries.delete(uid)
    this.opts.log(`${namespace}/${name}: CNI ADD ok, ${ips.join(', ') || 'no address'} in ${netns}`)
    this.opts.onChange?.()
    await this.reportRunning(p, a)
  }

  /** A pod whose network could not be set up: retried with back-off, the error in its status once. */
  private async setUpFailed(p: V1Pod, what: string, why: string): Promise<void> {
    const r = this.failed(podKey(p), why)
    this.opts.log(`${p.metadata?.namespace}/${p.metadata?.name}: ${what} failed (attempt ${r.attempts}): ${why}`)
    if (r.reported === why) return
    r.reported = why
    await this.patchStatus(p, {
      phase: 'Pending',
      conditions: [
        {type: 'PodScheduled', status: 'True'},
        {type: 'Ready', status: 'False', reason: 'NetworkSetupFailed', message: why},
      ],
    })
  }

  private async reportRunning(p: V1Pod, a: PodAttachment): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
    const ok = await this.patchStatus(p, {
      phase: 'Running',
      podIP: a.ip ?? null,
      podIPs: a.ip ? [{ip: a.ip}] : [],
      hostIP: this.node.nodeIP,
      hostIPs: [{ip: this.node.nodeIP}],
      startTime: p.status?.startTime ?? now,
      conditions: [
        {type: 'PodScheduled', status: 'True'},
        {type: 'Initialized', status: 'True'},
        {type: 'ContainersReady', status: 'True'},
        {type: 'Ready', status: 'True', lastTransitionTime: now},
      ],
      // The "containers" are the pod's network namespace: running once it has its network.
      containerStatuses: (p.spec?.containers ?? []).map((c) => ({
        name: c.name,
        image: c.image ?? '',
        imageID: '',
        ready: true,
        started: true,
        restartCount: 0,
        state: {running: {startedAt: p.status?.startTime ?? now}},
      })),
    })
    if (!ok) this.dirty = true
  }

  private async patchStatus(p: V1Pod, status: Record<string, unknown>): Promise<boolean> {
    try {
      await this.core.patchNamespacedPodStatus(
        {name: p.metadata?.name ?? '', namespace: p.metadata?.namespace ?? 'default', body: {status}},
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      return true
    } catch (error) {
      const e = error as {code?: number; message?: string}
      // Deleted meanwhile: the next pass tears it down.
      if (e.code !== 404)
        this.opts.log(
          `${p.metadata?.namespace}/${p.metadata?.name}: status patch failed: ${e.message ?? String(error)}`,
        )
      return false
    }
  }

  private async tearDown(a: PodAttachment): Promise<void> {
    const rt: RuntimeConf = {
      args: a.args,
      capabilityArgs: a.capabilityArgs,
      containerId: a.containerId,
      ifname: POD_IFACE,
      netns: a.netnsPath,
    }
    const out = await delNetworkList(this.list!, rt, this.ctx)
    if (!out.ok) {
      const r = this.failed(a.uid, out.failure ?? 'DEL failed')
      this.opts.log(`${a.namespace}/${a.name}: CNI DEL failed (attempt ${r.attempts}): ${r.error}`)
      // Kubelet keeps retrying DEL; after a few tries the namespace goes anyway (DEL must cope: SPEC §2).
      if (r.attempts < 3) return
    }
    // Forget the attachment before the namespace goes: `lab pod rm` polls for the namespace and then
    // asks for lab.json, which must no longer list the pod.
    this.attachments.delete(a.uid)
    this.retries.delete(a.uid)
    await deleteNetns(a.netns).catch(() => undefined)
    if (!out.ok) removeCacheEntry(this.node.varLibCni, NETWORK_NAME, a.containerId, POD_IFACE)
    this.opts.log(
      `${a.namespace}/${a.name}: CNI DEL ${out.ok ? 'ok' : 'failed; namespace removed anyway'}, ${a.netns} removed`,
    )
    this.opts.onChange?.()
  }
}
