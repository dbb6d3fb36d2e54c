import {EventEmitter} from 'node:events'
import {rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import type {ConformanceReport, ConformanceSummary} from '../checks/types.js'
import {RunState} from '../conformance/run-state.js'
import {type RunEmitter, runConformance} from '../conformance/runner.js'
import {labBreak, labHeal} from '../lab/break.js'
import {labDown} from '../lab/down.js'
import {CoreV1Api, DiscoveryV1Api, KubeConfig} from '../kube/client.js'
import {readLabState} from '../lab/state.js'
import type {LabMode} from '../lab/names.js'
import {labUp, LAB_UP_STEPS, type LabUpPod, type LabUpResult} from '../lab/up.js'
import {onCleanup} from '../process/cleanup.js'
import {makeTempDir} from '../process/temp-dir.js'
import {requireEnvironment} from '../netns/preflight.js'
import {defaultPluginsDir} from '../reference-plugin/install.js'
import {trace} from './trace.js'
import type {FaultReason, TraceResult} from '../trace/types.js'
import {StepTracker} from '../core/step-tracker.js'

export interface DemoOptions {
  name: string
  mode: LabMode
  nodes: number
  /** Shows the run as it goes (ui/text/demo.ts); the service itself prints nothing. */
  view: DemoView
}

/** What the demo tells its view, step by step: plain data, no formatting. */
export interface DemoView {
  section(title: string, note?: string): void
  /** A live view of the lab's start-up steps; stopped when the lab is up. */
  labSteps(steps: StepTracker): {stop(): unknown}
  labUp(lab: LabUpResult): void
  /** A live view of the conformance run; `mode` says whether it listed every check itself. */
  conformance(state: RunState): {stop(): Promise<void>; readonly mode: string}
  conformanceDone(report: ConformanceReport, listed: boolean): void
  faultApplied(fault: string, summary: string): void
  traced(result: TraceResult, check: DemoTrace): void
}

export interface DemoTrace {
  title: string
  fault?: string
  expected: 'reachable' | FaultReason
  verdict: TraceResult['verdict']
  reason?: FaultReason
  node?: string
  direction?: string
  /** policy-denied: the NetworkPolicy trace named. */
  policy?: string
  ok: boolean
  durationMs: number
}

export interface DemoResult {
  lab: string
  mode: LabMode
  conformance: {summary: ConformanceSummary; versions: string[]; durationMs: number}
  traces: DemoTrace[]
  ok: boolean
  durationMs: number
}

interface Scenario {
  fault: string
  title: string
  expected: FaultReason
  node: (pods: Pods) => string
  peer?: (pods: Pods) => string
  pod?: (pods: Pods) => string
  /** Traced to this Service (svc/NAME) instead of pod B: made before the fault, deleted after. */
  service?: {name: string; selector: (pods: Pods) => Record<string, string>}
}

interface Pods {
  a: LabUpPod
  b: LabUpPod
}

// A few faults from the lab catalog, chosen so each shows a different layer: overlay state, the
// firewall, a sysctl, the underlay and a NetworkPolicy (named back from the node daemon's rules).
// trace diagnoses them from kernel state and live packets only.
const SCENARIOS: Scenario[] = [
  {
    expected: 'stale-fdb',
    fault: 'fdb-stale',
    node: (p) => p.a.node,
    peer: (p) => p.b.node,
    title: "node A's FDB entry for node B points at the wrong node IP",
  },
  {
    expected: 'filtered',
    fault: 'iptables-drop-forward',
    node: (p) => p.b.node,
    title: 'an iptables DROP in FORWARD on node B',
  },
  {
    expected: 'forwarding-disabled',
    fault: 'ip-forward-off',
    node: (p) => p.b.node,
    title: 'ip_forward switched off on node B',
  },
  {
    expected: 'mtu',
    fault: 'underlay-mtu',
    node: (p) => p.a.node,
    title: 'the underlay MTU shrunk below what the overlay needs',
  },
  {
    expected: 'policy-denied',
    fault: 'policy-deny-ingress',
    node: (p) => p.b.node,
    pod: (p) => p.b.name,
    title: 'a NetworkPolicy denies all ingress to pod B',
  },
  {
    expected: 'no-endpoints',
    fault: 'pod-labels-removed',
    node: (p) => p.b.node,
    pod: (p) => p.b.name,
    service: {name: 'demo-web', selector: (p) => ({app: p.b.name})},
    title: 'the only pod behind Service demo-web lost its labels: a Service with no endpoints',
  },
]

/**
 * A ClusterIP Service in the lab for a demo step: `settled` waits (at most 30 s) until the endpoints
 * controller has left it no ready endpoint, which the fault of its step causes.
 */
async function demoService(lab: string, namespace: string, name: string, selector: Record<string, string>) {
  const state = readLabState(lab)
  if (!state) throw new Error(`lab ${lab} has no state`)
  const kc = new KubeConfig()
  kc.loadFromFile(state.kubeconfig)
  const core = kc.makeApiClient(CoreV1Api)
  await core.createNamespacedService({
    namespace,
    body: {apiVersion: 'v1', kind: 'Service', metadata: {name, namespace}, spec: {selector, ports: [{port: 80}]}},
  })
  return {
    name,
    async settled() {
      const discovery = kc.makeApiClient(DiscoveryV1Api)
      const until = Date.now() + 30_000
      while (Date.now() < until) {
        const slices = await discovery.listNamespacedEndpointSlice({
          namespace,
          labelSelector: `kubernetes.io/service-name=${name}`,
        })
        if (!slices.items.some((x) => (x.endpoints ?? []).some((e) => e.conditions?.ready !== false))) return
        await new Promise((r) => setTimeout(r, 200))
      }
    },
    remove: () => core.deleteNamespacedService({name, namespace}).then(() => undefined),
  }
}

/** What the lab (lab/up.ts), the conformance runner and trace each require, together. */
const DEMO_BINARIES = ['ip', 'nsenter', 'unshare', 'mount', 'sysctl', 'bridge', 'iptables-save', 'nft', 'tc'] as const

/**
 * The main job, end to end on the embedded lab: a 3-node cluster, the reference plugin's conformance,
 * a healthy cross-node trace, then faults injected one by one and diagnosed, then everything removed.
 * Ctrl-C at any point takes the lab down (onCleanup).
 */
export async function demo(opts: DemoOptions): Promise<DemoResult> {
  // Every step's preflight at once, before the first heading: a machine that can't run the demo
  // gets only the error (exit 3), not a start that stops at step 1.
  requireEnvironment([...DEMO_BINARIES])
  const t0 = performance.now()
  const {view} = opts
  // Before the lab's cleanup is registered: a TMPDIR that can't be used stops the demo with nothing made.
  const work = makeTempDir('cnidbg-demo-')
  // Only a lab this run made is taken down: a lab of that name that was already there (labUp refuses
  // it, LAB_EXISTS) is the user's. While labUp runs, it removes what it made itself on an error or
  // Ctrl-C.
  let made = false
  const takeDown = async () => {
    if (made) await labDown({name: opts.name}).catch(() => {})
  }
  const unregister = onCleanup(`demo lab ${opts.name}`, async () => {
    await takeDown()
    rmSync(work, {force: true, recursive: true})
  })
  const traces: DemoTrace[] = []
  try {
    view.section(
      `1. A ${opts.nodes}-node Kubernetes lab in network namespaces (${opts.mode})`,
      'An underlay bridge, one namespace per node, an API server on loopback, and per node the reference\ndaemon and a kubelet stand-in that runs CNI ADD for every pod. Nothing touches the root namespace.',
    )
    const steps = new StepTracker(LAB_UP_STEPS)
    const stepsView = view.labSteps(steps)
    const lab = await labUp({mode: opts.mode, name: opts.name, nodes: opts.nodes, podsPerNode: 2}, steps).finally(() =>
      stepsView.stop(),
    )
    made = true
    view.labUp(lab)

    view.section(
      '2. Conformance of the reference plugin (cnidbg-ref + cnidbg-ipam) against the CNI spec',
      'Every check runs in its own sandbox; the kernel state is held against what the plugin reported.',
    )
    const conf = join(work, 'cnidbg-ref.conflist')
    writeFileSync(
      conf,
      JSON.stringify({
        cniVersion: '1.1.0',
        name: 'demo-ref',
        plugins: [{ipam: {ranges: [[{subnet: '10.250.0.0/24'}]], type: 'cnidbg-ipam'}, mtu: 1450, type: 'cnidbg-ref'}],
      }),
    )
    const events = new EventEmitter() as RunEmitter
    const state = new RunState()
    const detach = state.attach(events)
    const progress = view.conformance(state)
    const report = await runConformance(
      {
        cniPath: [defaultPluginsDir(), '/usr/lib/cni'],
        conf,
        host: false,
        parallel: 4,
        profile: 'default',
        strict: true,
        timeoutSeconds: 30,
        versions: ['1.1.0'],
      },
      events,
    ).finally(async () => {
      await progress.stop()
      detach()
    })
    view.conformanceDone(report, progress.mode === 'ink')

    const a = lab.pods.find((p) => p.node === lab.nodes[0]!.name)!
    const b = lab.pods.find((p) => p.node === lab.nodes[1]!.name)!
    const pods: Pods = {a, b}
    const run = async (title: string, expected: DemoTrace['expected'], fault?: string, to = b.name) => {
      const start = performance.now()
      const r = await trace({lab: opts.name, namespace: a.namespace, podA: a.name, podB: to, staticOnly: false})
      const got = r.verdict === 'reachable' ? 'reachable' : r.fault?.reason
      const check: DemoTrace = {
        direction: r.fault?.direction,
        durationMs: Math.round(performance.now() - start),
        expected,
        fault,
        node: r.fault?.node,
        ok: got === expected,
        reason: r.fault?.reason,
        ...(r.fault?.policy ? {policy: r.fault.policy} : {}),
        title,
        verdict: r.verdict,
      }
      traces.push(check)
      view.traced(r, check)
    }

    view.section(`3. trace ${a.name} (${a.node}) → ${b.name} (${b.node}): a healthy path`)
    await run('healthy cross-node pair', 'reachable')

    for (const [i, s] of SCENARIOS.entries()) {
      view.section(`${4 + i}. Break it: ${s.title}`)
      const svc = s.service && (await demoService(opts.name, a.namespace, s.service.name, s.service.selector(pods)))
      const applied = await labBreak({
        fault: s.fault,
        name: opts.name,
        node: s.node(pods),
        peer: s.peer?.(pods),
        pod: s.pod?.(pods),
      })
      view.faultApplied(s.fault, applied.summary)
      try {
        await svc?.settled()
        await run(s.title, s.expected, s.fault, svc ? `svc/${svc.name}` : undefined)
      } finally {
        await labHeal({name: opts.name})
        await svc?.remove()
      }
    }
    view.section(`${4 + SCENARIOS.length}. Heal, check once more, and take the lab down`)
    await run('after lab heal', 'reachable')
    return {
      conformance: {durationMs: report.durationMs, summary: report.summary, versions: report.versions},
      durationMs: Math.round(performance.now() - t0),
      lab: opts.name,
      mode: opts.mode,
      ok: traces.every((t) => t.ok) && report.summary.failed === 0,
      traces,
    }
  } finally {
    await takeDown()
    unregister()
    rmSync(work, {force: true, recursive: true})
  }
}
