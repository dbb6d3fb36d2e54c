/**
 * NetworkPolicy enforcement for the node daemon: watches NetworkPolicies and Namespaces (the daemon
 * already watches Pods), compiles them for this node's pods (policy-compile.ts) and writes the chains
 * (policy-apply.ts), on every change of the three and on the daemon's drift timer.
 *
 * The switch: with mode `auto` it first lists NetworkPolicies once. An API server that answers 404
 * does not serve the resource (the lab's, before it had them): enforcement stays off, any chains of
 * ours are removed, and the list is tried again every NOT_SERVED_RETRY_MS. Namespaces are watched
 * only where they are served; without them a namespaceSelector sees only kubernetes.io/metadata.name.
 * Mode `off` never lists and never touches the filter table.
 */
import {
  CoreV1Api,
  type KubeConfig,
  NetworkingV1Api,
  type V1Namespace,
  type V1NetworkPolicy,
  type V1Pod,
} from '../kube/client.js'
import {type InformerStatus, WatchedCollection} from '../kube/informers.js'
import {redact} from '../kube/redact.js'
import {compilePolicies, type PodSummary, type PolicySummary} from './policy-compile.js'
import {applyPolicies, removePolicies} from './policy-apply.js'

export const POLICY_MODES = ['auto', 'off'] as const
export type PolicyMode = (typeof POLICY_MODES)[number]

export const NOT_SERVED_RETRY_MS = 60_000
/**
 * The drift check's period: reading back a filter table of thousands of rules costs a few hundred ms
 * (bench/netpol.mjs), so the daemon's faster timer only triggers a check this often; changes of
 * policies, namespaces and pods reprogram at once.
 */
export const POLICY_DRIFT_MS = 10_000

export interface PolicyApplyReport {
  at: string
  durationMs: number
  policies: number
  /** Pods of this node some policy selects. */
  pods: number
  changed: string[]
  removed: string[]
  inSync: number
  problems: string[]
  error?: string
}

export interface PolicyStatus {
  mode: PolicyMode
  /**
   * off: switched off; probing: finding out whether the API serves NetworkPolicies; not-served: it
   * answered 404; waiting: watching, not listed yet; enforcing: the last apply succeeded; error: it failed.
   */
  state: 'off' | 'probing' | 'not-served' | 'waiting' | 'enforcing' | 'error'
  detail?: string
  namespacesServed?: boolean
  informers?: {networkPolicies: InformerStatus; namespaces?: InformerStatus}
  lastApply?: PolicyApplyReport
}

export interface PolicyEnforcerOptions {
  kc: KubeConfig
  nodeName: string
  netns: string | undefined
  mode: PolicyMode
  pods: () => readonly V1Pod[]
  podsSynced: () => boolean
  log: (level: 'info' | 'warn' | 'error', msg: string) => void
  informer: {backoffInitialMs: number; backoffMaxMs: number; resyncMs: number}
  /** The drift check's period (tests); POLICY_DRIFT_MS by default. */
  driftMs?: number
}

const statusCode = (err: unknown): number | undefined => {
  const e = err as {code?: unknown; statusCode?: unknown}
  const c = typeof e.code === 'number' ? e.code : e.statusCode
  return typeof c === 'number' ? c : undefined
}

export class PolicyEnforcer {
  private state: PolicyStatus['state']
  private detail: string | undefined
  private policies: WatchedCollection<V1NetworkPolicy> | undefined
  private namespaces: WatchedCollection<V1Namespace> | undefined
  private namespacesServed: boolean | undefined
  private nextProbeAt = 0
  private running: Promise<void> | undefined
  private dirty = false
  private stopped = true
  private last: PolicyApplyReport | undefined
  private compiled: {policies: PolicySummary[]; pods: PodSummary[]} = {policies: [], pods: []}
  private lastLogged = ''
  private lastRunAt = 0

  constructor(private readonly o: PolicyEnforcerOptions) {
    this.state = o.mode === 'off' ? 'off' : 'probing'
  }

  start(): void {
    this.stopped = false
    this.request()
  }

  async stop(opts: {teardown?: boolean} = {}): Promise<void> {
    this.stopped = true
    await this.running
    await Promise.all([this.policies?.stop(), this.namespaces?.stop()])
    if (opts.teardown && this.o.mode !== 'off') await removePolicies(this.o.netns)
  }

  /** Schedules a reconcile; calls during one coalesce into one more. */
  request(): void {
    if (this.stopped || this.o.mode === 'off') return
    this.dirty = true
    if (this.running) return
    this.running = (async () => {
      while (this.dirty && !this.stopped) {
        this.dirty = false
        await this.reconcile()
      }
    })().finally(() => (this.running = undefined))
  }

  /**
   * The drift timer: a reconcile when none ran for POLICY_DRIFT_MS, so a flushed chain or a deleted
   * FORWARD jump comes back. Not while nothing of ours is to be kept: a node whose pods no policy
   * selects (most nodes of most clusters) then reads no filter table between changes.
   */
  tick(): void {
    if (this.holds() && Date.now() - this.lastRunAt >= (this.o.driftMs ?? POLICY_DRIFT_MS)) this.request()
  }

  /**
   * Whether the filter table may hold chains of ours to keep: not once an apply succeeded with no pod
   * of this node selected. Until enforcement works (probing, waiting, a failed compile or apply), the
   * timer keeps trying.
   */
  private holds(): boolean {
    return this.state !== 'enforcing' || this.compiled.pods.length > 0
  }

  /** Waits for the reconciles requested so far. */
  async settled(): Promise<void> {
    while (this.running) await this.running
  }

  status(): PolicyStatus {
    return {
      mode: this.o.mode,
      state: this.state,
      detail: this.detail,
      namespacesServed: this.namespacesServed,
      informers: this.policies
        ? {networkPolicies: this.policies.status(), namespaces: this.namespaces?.status()}
        : undefined,
      lastApply: this.last,
    }
  }

  /**
   * The last compile, for /diag: each policy with its chains and the pods of this node it selects,
   * each selected pod with its chains and the policies selecting it (what a DROP's chain maps back to).
   */
  summary(): {policies: PolicySummary[]; pods: PodSummary[]} {
    return this.compiled
  }

  /** Healthy unless enforcement is on and its last apply failed. */
  get ok(): boolean {
    return this.state !== 'error'
  }

  private async probe(): Promise<boolean> {
    if (Date.now() < this.nextProbeAt) return false
    const net = this.o.kc.makeApiClient(NetworkingV1Api)
    try {
      await net.listNetworkPolicyForAllNamespaces({limit: 1})
    } catch (error) {
      if (statusCode(error) === 404) {
        if (this.state !== 'not-served')
          this.o.log('info', 'the API server does not serve NetworkPolicies: enforcement off')
        this.state = 'not-served'
        this.detail = 'GET /apis/networking.k8s.io/v1/networkpolicies answered 404'
        this.nextProbeAt = Date.now() + NOT_SERVED_RETRY_MS
        // Chains from a run when the resource was served must not keep denying.
        await removePolicies(this.o.netns).catch((e: unknown) => this.fail(e))
      } else {
        this.state = 'probing'
        this.detail = `listing NetworkPolicies: ${redact(String((error as Error).message ?? error)).slice(0, 300)}`
        this.nextProbeAt = Date.now() + this.o.informer.backoffInitialMs
      }
      return false
    }
    const core = this.o.kc.makeApiClient(CoreV1Api)
    try {
      await core.listNamespace({limit: 1})
      this.namespacesServed = true
    } catch (error) {
      if (statusCode(error) !== 404) {
        this.detail = `listing Namespaces: ${redact(String((error as Error).message ?? error)).slice(0, 300)}`
        return false
      }
      this.namespacesServed = false
    }
    const common = {onChange: () => this.request(), log: (m: string) => this.o.log('warn', m), ...this.o.informer}
    this.policies = new WatchedCollection<V1NetworkPolicy>(
      this.o.kc,
      '/apis/networking.k8s.io/v1/networkpolicies',
      () => net.listNetworkPolicyForAllNamespaces(),
      common,
    )
    this.policies.start()
    if (this.namespacesServed) {
      this.namespaces = new WatchedCollection<V1Namespace>(
        this.o.kc,
        '/api/v1/namespaces',
        () => core.listNamespace(),
        common,
      )
      this.namespaces.start()
    }
    this.state = 'waiting'
    this.detail = undefined
    this.o.log(
      'info',
      `enforcing NetworkPolicies${this.namespacesServed ? '' : ' (Namespaces not served: namespaceSelector sees names only)'}`,
    )
    return true
  }

  private fail(error: unknown): void {
    this.state = 'error'
    this.detail = redact(String((error as Error).message ?? error)).slice(0, 1000)
    if (this.detail !== this.lastLogged) this.o.log('error', `NetworkPolicy: ${this.detail}`)
    this.lastLogged = this.detail
  }

  private async reconcile(): Promise<void> {
    this.lastRunAt = Date.now()
    if (!this.policies && !(await this.probe())) return
    if (!this.policies!.synced || !this.o.podsSynced() || (this.namespaces && !this.namespaces.synced)) {
      this.state = 'waiting'
      this.detail = 'NetworkPolicies, Namespaces or Pods not listed yet'
      return
    }
    const started = performance.now()
    let compiled: ReturnType<typeof compilePolicies>
    try {
      compiled = compilePolicies({
        nodeName: this.o.nodeName,
        policies: this.policies!.list(),
        pods: this.o.pods(),
        namespaces: this.namespaces?.list() ?? [],
      })
    } catch (error) {
      // The chains in place stay: a compile that fails must not lift every policy of the node.
      this.fail(error)
      return
    }
    this.compiled = {policies: compiled.policies, pods: compiled.pods}
    const report: PolicyApplyReport = {
      at: new Date().toISOString(),
      durationMs: 0,
      policies: compiled.policies.length,
      pods: compiled.pods.length,
      changed: [],
      removed: [],
      inSync: 0,
      problems: compiled.problems,
    }
    try {
      const plan = await applyPolicies(this.o.netns, compiled)
      report.changed = plan.changed
      report.removed = plan.removed
      report.inSync = plan.inSync
      this.state = 'enforcing'
      this.detail = undefined
      if (plan.text !== undefined) {
        this.o.log(
          'info',
          `NetworkPolicy: ${report.policies} policies, ${report.pods} pods selected here; wrote ${plan.changed.length} chains, removed ${plan.removed.length}`,
        )
      }
      const problems = compiled.problems.join('; ')
      if (problems && problems !== this.lastLogged) this.o.log('warn', `NetworkPolicy: ${problems}`)
      this.lastLogged = problems
    } catch (error) {
      report.error = redact(String((error as Error).message ?? error)).slice(0, 1000)
      this.fail(error)
    }
    report.durationMs = Math.round(performance.now() - started)
    this.last = report
  }
}
