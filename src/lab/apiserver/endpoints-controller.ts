/**
 * The endpoints controller of the lab (kube-controller-manager's EndpointSlice controller, run inside
 * the apiserver on its Store): for every Service with a selector, EndpointSlices listing the pods the
 * selector matches, so that the service proxy on each node reads what it would read in a cluster.
 *
 * - Each slice carries the label `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by:
 *   endpointslice-controller.k8s.io`, an owner reference to its Service, and `addressType: IPv4`.
 * - Every pod of the Service's namespace that matches the selector, has an IPv4 pod IP and has not
 *   ended (phase Succeeded or Failed) is an endpoint, with `conditions.ready` and `serving` from its
 *   Ready condition and `terminating` from its deletionTimestamp, as the real controller writes them;
 *   a reader uses the ready ones.
 * - Ports: a Service port's targetPort is a number, or the name of a container port of the pod (with
 *   the same protocol), resolved pod by pod. Pods that resolve the ports differently land in
 *   different slices, one per set of ports; a pod without the named port lacks that port only.
 * - A Service whose selector matches nothing keeps one empty slice (the real controller's
 *   placeholder). A Service without a selector has slices only as users write them.
 *
 * Level-triggered: any change to Services, Pods or managed slices marks the Services of that
 * namespace, and one pass per tick recomputes them from the store. A write that changes nothing is no
 * event (store.ts), so the controller's own writes settle.
 */
import {createHash} from 'node:crypto'

import type {K8sObject} from './resources.js'
import type {Store, StoreEvent} from './store.js'

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name'
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by'
export const MANAGED_BY = 'endpointslice-controller.k8s.io'

type Rec = Record<string, unknown>
const rec = (v: unknown): Rec => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : {})
const list = (v: unknown): Rec[] => (Array.isArray(v) ? v.map(rec) : [])

export interface SlicePort {
  name: string
  port: number
  protocol: string
}

export interface SliceEndpoint {
  addresses: string[]
  conditions: {ready: boolean; serving: boolean; terminating: boolean}
  nodeName?: string
  targetRef: {kind: 'Pod'; namespace: string; name: string; uid: string}
}

/** One slice's content: the ports and the endpoints that share them. */
export interface DesiredSlice {
  ports: SlicePort[]
  endpoints: SliceEndpoint[]
}

function selects(selector: Rec, labels: Rec): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v)
}

function podReady(pod: K8sObject): boolean {
  return list(rec(pod.status).conditions).some((c) => c.type === 'Ready' && c.status === 'True')
}

/** podutil.FindPort: a number as is; a name from the pod's container ports of the same protocol. */
export function resolveTargetPort(pod: K8sObject, targetPort: unknown, protocol: string): number | undefined {
  if (typeof targetPort === 'number') return targetPort
  if (typeof targetPort !== 'string') return undefined
  for (const c of list(rec(pod.spec).containers)) {
    for (const p of list(c.ports)) {
      if (p.name === targetPort && (p.protocol ?? 'TCP') === protocol && typeof p.containerPort === 'number')
        return p.containerPort
    }
  }
  return undefined
}

const portsKey = (ports: readonly SlicePort[]): string =>
  JSON.stringify([...ports].sort((a, b) => a.name.localeCompare(b.name) || a.protocol.localeCompare(b.protocol)))

/**
 * The slices a Service should have, given the pods of its namespace; undefined when the Service has
 * no selector (its slices are not the controller's). Pure: the order of the result and of its
 * endpoints is stable (by pod name), so an unchanged world gives identical objects.
 */
export function desiredSlices(service: K8sObject, pods: readonly K8sObject[]): DesiredSlice[] | undefined {
  const spec = rec(service.spec)
  const selector = spec.selector
  if (selector === undefined || selector === null || Object.keys(rec(selector)).length === 0) return undefined
  const groups = new Map<string, DesiredSlice>()
  const sorted = [...pods].sort((a, b) => String(a.metadata.name).localeCompare(String(b.metadata.name)))
  for (const pod of sorted) {
    if (pod.metadata.namespace !== service.metadata.namespace) continue
    if (!selects(rec(selector), rec(pod.metadata.labels))) continue
    const status = rec(pod.status)
    const phase = status.phase
    if (phase === 'Succeeded' || phase === 'Failed') continue
    const ip = status.podIP
    if (typeof ip !== 'string' || !/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) continue
    const ports: SlicePort[] = []
    for (const sp of list(spec.ports)) {
      const protocol = typeof sp.protocol === 'string' ? sp.protocol : 'TCP'
      const port = resolveTargetPort(pod, sp.targetPort ?? sp.port, protocol)
      if (port === undefined) continue
      ports.push({name: typeof sp.name === 'string' ? sp.name : '', port, protocol})
    }
    const ready = podReady(pod) && !pod.metadata.deletionTimestamp
    const ep: SliceEndpoint = {
      addresses: [ip],
      conditions: {ready, serving: podReady(pod), terminating: Boolean(pod.metadata.deletionTimestamp)},
      ...(typeof rec(pod.spec).nodeName === 'string' ? {nodeName: rec(pod.spec).nodeName as string} : {}),
      targetRef: {
        kind: 'Pod',
        namespace: pod.metadata.namespace as string,
        name: pod.metadata.name as string,
        uid: pod.metadata.uid as string,
      },
    }
    const key = portsKey(ports)
    const g = groups.get(key) ?? {ports, endpoints: []}
    g.endpoints.push(ep)
    groups.set(key, g)
  }
  if (groups.size === 0) return [{ports: [], endpoints: []}]
  return [...groups.values()]
}

/** A slice's name: the Service's name and a hash of its ports, so that a slice keeps its name. */
function sliceName(service: K8sObject, ports: readonly SlicePort[]): string {
  const h = createHash('sha256').update(portsKey(ports)).digest('hex').slice(0, 5)
  return `${String(service.metadata.name).slice(0, 56)}-${h}`
}

function sliceObject(service: K8sObject, d: DesiredSlice): K8sObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: sliceName(service, d.ports),
      namespace: service.metadata.namespace,
      labels: {
        ...rec(service.metadata.labels),
        [SERVICE_NAME_LABEL]: service.metadata.name as string,
        [MANAGED_BY_LABEL]: MANAGED_BY,
      } as Record<string, string>,
      ownerReferences: [
        {
          apiVersion: 'v1',
          kind: 'Service',
          name: service.metadata.name,
          uid: service.metadata.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    addressType: 'IPv4',
    endpoints: d.endpoints,
    ports: d.ports,
  }
}

function isManaged(o: K8sObject): boolean {
  return o.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY
}

export class EndpointsController {
  private readonly dirty = new Set<string>()
  private scheduled = false
  private stopped = false
  private readonly onEvent = (ev: StoreEvent) => this.observe(ev)

  constructor(
    private readonly store: Store,
    private readonly log?: (line: string) => void,
  ) {}

  /** Reconciles every namespace now, then follows the store's events. */
  start(): void {
    this.store.on('event', this.onEvent)
    for (const ns of this.store.values('namespaces')) this.dirty.add(ns.metadata.name as string)
    this.sync()
  }

  stop(): void {
    this.stopped = true
    this.store.off('event', this.onEvent)
  }

  private observe(ev: StoreEvent): void {
    if (ev.resource === 'endpointslices' && !isManaged(ev.object) && !(ev.prev && isManaged(ev.prev))) return
    if (ev.resource !== 'services' && ev.resource !== 'pods' && ev.resource !== 'endpointslices') return
    const ns = ev.object.metadata.namespace
    if (ns === undefined) return
    this.dirty.add(ns)
    if (this.scheduled) return
    this.scheduled = true
    // After the write that caused it has returned: the controller never writes inside another write.
    setImmediate(() => {
      this.scheduled = false
      if (!this.stopped) this.sync()
    })
  }

  /** Recomputes the slices of every Service in the marked namespaces. */
  sync(): void {
    const namespaces = [...this.dirty]
    this.dirty.clear()
    for (const ns of namespaces) {
      try {
        this.syncNamespace(ns)
      } catch (e) {
        this.log?.(`endpoints controller: namespace ${ns}: ${(e as Error).message}`)
      }
    }
  }

  private syncNamespace(ns: string): void {
    const store = this.store
    const services = store.list('services', {namespace: ns}).items
    const pods = store.list('pods', {namespace: ns}).items
    const slices = store.list('endpointslices', {namespace: ns}).items.filter(isManaged)
    const byService = new Map<string, K8sObject[]>()
    for (const s of slices) {
      const svc = s.metadata.labels?.[SERVICE_NAME_LABEL] ?? ''
      byService.set(svc, [...(byService.get(svc) ?? []), s])
    }
    const seen = new Set<string>()
    for (const svc of services) {
      const name = svc.metadata.name as string
      seen.add(name)
      const want = desiredSlices(svc, pods)
      const have = byService.get(name) ?? []
      const keep = new Set<string>()
      for (const d of want ?? []) {
        const obj = sliceObject(svc, d)
        const slice = obj.metadata.name as string
        keep.add(slice)
        const cur = have.find((h) => h.metadata.name === slice)
        if (!cur) store.create('endpointslices', ns, obj)
        else store.update('endpointslices', ns, slice, {...obj, metadata: {...cur.metadata, ...obj.metadata}})
      }
      for (const h of have) if (!keep.has(h.metadata.name as string)) this.remove(ns, h)
    }
    // Slices of a deleted Service go with it (the garbage collector follows the owner reference).
    for (const [svc, hs] of byService) if (!seen.has(svc)) for (const h of hs) this.remove(ns, h)
  }

  private remove(ns: string, slice: K8sObject): void {
    if (this.store.get('endpointslices', ns, slice.metadata.name as string))
      this.store.delete('endpointslices', ns, slice.metadata.name as string)
  }
}
