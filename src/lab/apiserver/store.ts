/**
 * The lab apiserver's state, without HTTP: objects, one global resourceVersion counter (etcd's
 * revision), a bounded history of events for watches that resume from a resourceVersion, and an
 * EventEmitter ('event', StoreEvent) for in-process watchers ('snapshotError' reports a failed background
 * write of the state file). Writes follow the real apiserver's
 * rules closely enough for client-go and @kubernetes/client-node: optimistic concurrency on
 * resourceVersion, status only through the status subresource, no-op writes bump nothing, 410 for
 * a resourceVersion the history no longer covers.
 *
 * Objects handed out by get/list/create/update/patch/delete are copies the caller may change.
 * Objects inside StoreEvents are the stored ones and are frozen: read them, don't keep or edit them.
 */
import {randomInt, randomUUID} from 'node:crypto'
import {EventEmitter} from 'node:events'
import fs from 'node:fs'
import path from 'node:path'

import {applyPatch, deepEqual, type PatchType} from './patch.js'
import {groupVersion, isResourceName, RBAC_GROUP, RESOURCES, type K8sObject, type ResourceName} from './resources.js'
import type {Cidr} from '../../core/ip.js'
import {validateRbac} from './rbac.js'
import {
  allocateClusterIP,
  allocatedIPs,
  DEFAULT_SERVICE_CIDR,
  defaultNetworkPolicy,
  defaultService,
  keepClusterIP,
  serviceCidr,
  validateEndpointSlice,
  validateNetworkPolicy,
  validateService,
} from './services.js'
import {matchFields, matchLabels, parseFieldSelector, parseLabelSelector} from './selectors.js'
import {
  alreadyExists,
  badRequest,
  conflict,
  expired,
  forbidden,
  invalid,
  notFound,
  tooLargeResourceVersion,
  type StatusCause,
} from './status.js'

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED'

/** One committed change. `prev` is the object before a MODIFIED or DELETED. */
export interface StoreEvent {
  type: EventType
  resource: ResourceName
  rv: number
  object: K8sObject
  prev?: K8sObject
}

/** What a watcher receives, after selector filtering (an object leaving the selection is a DELETED). */
export interface WatchEvent {
  type: EventType | 'BOOKMARK' | 'ERROR'
  object: unknown
}

export interface StoreOptions {
  /** Events kept for watches that resume from a resourceVersion. Default 1000. */
  historySize?: number
  /** JSON file to load state from at start and to write (debounced, atomically) after each change. */
  snapshotPath?: string
  /** Debounce of snapshot writes. Default 200 ms. */
  snapshotDelayMs?: number
  /** Clock, for creationTimestamp. Default Date.now. */
  now?: () => number
  /** The range ClusterIPs are allocated from. Default 10.96.0.0/12. */
  serviceCIDR?: string
}

export interface Selection {
  /** Only this namespace (namespaced resources); all namespaces when unset. */
  namespace?: string
  labelSelector?: string
  fieldSelector?: string
}

export interface ListOptions extends Selection {
  limit?: number
  continue?: string
  resourceVersion?: string
  resourceVersionMatch?: string
}

export interface ListResult {
  items: K8sObject[]
  resourceVersion: string
  continue?: string
  remainingItemCount?: number
}

export interface WatchOptions extends Selection {
  resourceVersion?: string
  /** Send the current state as ADDED events first, even with a resourceVersion (watch-list). */
  sendInitialEvents?: boolean
}

/**
 * Called with the stored object (undefined on create) and the one about to be stored (undefined on
 * delete) just before a write commits; it throws to refuse the write (the server's access checks,
 * auth.ts).
 */
export type AdmitFn = (old: K8sObject | undefined, obj: K8sObject | undefined) => void

export interface CreateOptions {
  admit?: AdmitFn
}

export interface WriteOptions {
  /** 'status' to write through the status subresource. */
  subresource?: string
  admit?: AdmitFn
}

export interface DeleteOptions {
  preconditions?: {uid?: string; resourceVersion?: string}
  admit?: AdmitFn
}

interface Snapshot {
  version: 1
  resourceVersion: number
  objects: Partial<Record<ResourceName, K8sObject[]>>
}

const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease']
// pkg/registry/core/namespace: these three can never be deleted.
const UNDELETABLE_NAMESPACES = new Set(['default', 'kube-system', 'kube-public'])
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
// utilrand.String's alphabet: no vowels (no accidental words), no confusable 0/1/3.
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789'

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o)
    for (const v of Object.values(o)) deepFreeze(v)
  }
  return o
}

function copy<T>(o: T): T {
  return structuredClone(o)
}

function keyOf(o: K8sObject): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`
}

function timestamp(ms: number): string {
  // RFC 3339 at second precision, as metav1.Time serialises.
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function parseRv(s: string, what = 'resourceVersion'): number {
  if (!/^\d+$/.test(s)) throw badRequest(`invalid ${what}: ${JSON.stringify(s)}`)
  return Number(s)
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

export class Store extends EventEmitter {
  private readonly objects = new Map<ResourceName, Map<string, K8sObject>>()
  private readonly history: StoreEvent[] = []
  private rvCounter = 0
  /** Every event with rv <= this has left the history. */
  private compactedRv = 0
  private readonly historySize: number
  private readonly snapshotPath?: string
  private readonly snapshotDelayMs: number
  private readonly now: () => number
  private readonly serviceCidr: Cidr
  private snapshotTimer?: NodeJS.Timeout
  private dirty = false

  constructor(opts: StoreOptions = {}) {
    super()
    this.setMaxListeners(0)
    this.historySize = opts.historySize ?? 1000
    this.snapshotPath = opts.snapshotPath
    this.snapshotDelayMs = opts.snapshotDelayMs ?? 200
    this.now = opts.now ?? Date.now
    this.serviceCidr = serviceCidr(opts.serviceCIDR ?? DEFAULT_SERVICE_CIDR)
    for (const r of Object.keys(RESOURCES) as ResourceName[]) this.objects.set(r, new Map())
    if (this.snapshotPath && fs.existsSync(this.snapshotPath)) this.load(this.snapshotPath)
    for (const ns of SYSTEM_NAMESPACES) {
      if (!this.map('namespaces').has(`/${ns}`)) this.create('namespaces', undefined, {metadata: {name: ns}})
    }
  }

  /** The current (latest) resourceVersion. */
  get resourceVersion(): number {
    return this.rvCounter
  }

  /** The oldest resourceVersion a watch can still resume from. */
  get oldestResumableVersion(): number {
    return this.compactedRv
  }

  private map(resource: ResourceName): Map<string, K8sObject> {
    const m = this.objects.get(resource)
    if (!m) throw badRequest(`unknown resource ${resource}`)
    return m
  }

  private key(resource: ResourceName, namespace: string | undefined, name: string): string {
    return RESOURCES[resource].namespaced ? `${namespace ?? ''}/${name}` : `/${name}`
  }

  get(resource: ResourceName, namespace: string | undefined, name: string): K8sObject | undefined {
    const o = this.map(resource).get(this.key(resource, namespace, name))
    return o ? copy(o) : undefined
  }

  /**
   * The stored objects of a resource, frozen and not copied, for readers on every request (RBAC):
   * read them, don't keep them.
   */
  values(resource: ResourceName): Iterable<K8sObject> {
    return this.map(resource).values()
  }

  private mustGet(resource: ResourceName, namespace: string | undefined, name: string): K8sObject {
    const o = this.map(resource).get(this.key(resource, namespace, name))
    if (!o) throw notFound(resource, name)
    return o
  }

  /** A matcher for a selection; throws a 400 ApiError for a malformed selector. */
  matcher(resource: ResourceName, sel: Selection): (o: K8sObject) => boolean {
    const info = RESOURCES[resource]
    const labels = parseLabelSelector(sel.labelSelector ?? '')
    const fields = parseFieldSelector(sel.fieldSelector ?? '', Object.keys(info.fields))
    const ns = info.namespaced ? sel.namespace || undefined : undefined
    return (o) =>
      (ns === undefined || o.metadata.namespace === ns) &&
      matchLabels(labels, o.metadata.labels) &&
      matchFields(fields, (f) => info.fields[f](o))
  }

  /** The resource's objects at resourceVersion `rv`, rebuilt by undoing newer events; 410 if compacted. */
  private stateAt(resource: ResourceName, rv: number): Map<string, K8sObject> {
    const current = this.map(resource)
    if (rv === this.rvCounter) return current
    if (rv > this.rvCounter) throw tooLargeResourceVersion(rv, this.rvCounter)
    if (rv < this.compactedRv) throw expired(`too old resource version: ${rv} (${this.compactedRv})`)
    const m = new Map(current)
    for (let i = this.history.length - 1; i >= 0 && this.history[i].rv > rv; i--) {
      const ev = this.history[i]
      if (ev.resource !== resource) continue
      if (ev.type === 'ADDED') m.delete(keyOf(ev.object))
      else if (ev.prev) m.set(keyOf(ev.prev), ev.prev)
    }
    return m
  }

  /**
   * Lists like the apiserver: sorted by namespace/name (etcd key order), `limit` + `continue` pages
   * that stay consistent (each page is read at the first page's resourceVersion), resourceVersion
   * semantics of `resourceVersionMatch` (unset/NotOlderThan: current state; Exact: that state).
   */
  list(resource: ResourceName, opts: ListOptions = {}): ListResult {
    const match = this.matcher(resource, opts)
    let rv = this.rvCounter
    let start = ''
    if (opts.continue) {
      if (opts.resourceVersion) throw badRequest('specifying resource version is not allowed when using continue')
      const tok = decodeContinue(opts.continue)
      rv = tok.rv
      start = tok.start
      if (rv < this.compactedRv) {
        throw expired(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.',
        )
      }
    } else if (opts.resourceVersion && opts.resourceVersion !== '0') {
      const want = parseRv(opts.resourceVersion)
      if (want > this.rvCounter) throw tooLargeResourceVersion(want, this.rvCounter)
      if (opts.resourceVersionMatch === 'Exact') rv = want
    } else if (opts.resourceVersionMatch === 'Exact') {
      throw badRequest('resourceVersionMatch "Exact" requires a resourceVersion other than "0"')
    }
    const state = this.stateAt(resource, rv)
    const keys = [...state.keys()].filter((k) => k > start).sort()
    const items: K8sObject[] = []
    let i = 0
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity
    for (; i < keys.length && items.length < limit; i++) {
      const o = state.get(keys[i]) as K8sObject
      if (match(o)) items.push(copy(o))
    }
    const result: ListResult = {items, resourceVersion: String(rv)}
    const remaining = keys.slice(i).filter((k) => match(state.get(k) as K8sObject)).length
    if (remaining > 0) {
      result.continue = encodeContinue(rv, keys[i - 1])
      // Like the real apiserver, a count only when no label or field selector is involved.
      if (!opts.labelSelector && !opts.fieldSelector) result.remainingItemCount = remaining
    }
    return result
  }

  /**
   * Starts a watch. Without a resourceVersion (or "0", or with sendInitialEvents) the current
   * matching objects come first as ADDED; with one, the history after it is replayed. Then every
   * matching change is delivered synchronously as it commits. Returns the function that stops it.
   * Throws ApiError 410 (Expired) when the history no longer reaches back to `resourceVersion`, and
   * also when it lies in the future: after a restart without state, a client's resourceVersion
   * belongs to another incarnation of the cluster and only a relist is correct.
   */
  watch(resource: ResourceName, opts: WatchOptions, send: (ev: WatchEvent) => void): () => void {
    const match = this.matcher(resource, opts)
    const deliver = (ev: StoreEvent) => {
      if (ev.resource !== resource) return
      const out = filterEvent(ev, match)
      if (out) send(out)
    }
    const rvParam = opts.resourceVersion ?? ''
    if (rvParam === '' || rvParam === '0' || opts.sendInitialEvents) {
      const m = this.map(resource)
      for (const k of [...m.keys()].sort()) {
        const o = m.get(k) as K8sObject
        if (match(o)) send({type: 'ADDED', object: o})
      }
    } else {
      const rv = parseRv(rvParam)
      if (rv < this.compactedRv) throw expired(`too old resource version: ${rv} (${this.compactedRv})`)
      if (rv > this.rvCounter) {
        throw expired(
          `resource version ${rv} is newer than this server's ${this.rvCounter} (restarted without its state?): relist`,
        )
      }
      for (const ev of this.eventsAfter(rv)) deliver(ev)
    }
    this.on('event', deliver)
    return () => {
      this.off('event', deliver)
    }
  }

  /** Events with rv > `rv`, oldest first (binary search: rvs are strictly increasing). */
  eventsAfter(rv: number): StoreEvent[] {
    let lo = 0
    let hi = this.history.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.history[mid].rv <= rv) lo = mid + 1
      else hi = mid
    }
    return this.history.slice(lo)
  }

  create(resource: ResourceName, namespace: string | undefined, body: unknown, opts: CreateOptions = {}): K8sObject {
    const info = RESOURCES[resource]
    const obj = this.checkBody(resource, body)
    const meta = obj.metadata
    if (info.namespaced) {
      const ns = namespace || meta.namespace || 'default'
      if (namespace && meta.namespace && meta.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request')
      }
      if (!this.map('namespaces').has(`/${ns}`)) throw notFound('namespaces', ns)
      meta.namespace = ns
    } else delete meta.namespace
    if (!meta.name && meta.generateName) {
      // The apiserver retries generated names that collide; with 27^5 names a few tries suffice.
      for (let i = 0; i < 8 && (!meta.name || this.map(resource).has(keyOf(obj))); i++) {
        meta.name =
          meta.generateName.slice(0, 58) + Array.from({length: 5}, () => NAME_ALPHABET[randomInt(27)]).join('')
      }
    }
    if (resource === 'services') defaultService(obj)
    if (resource === 'networkpolicies') defaultNetworkPolicy(obj)
    this.validate(resource, obj)
    if (this.map(resource).has(keyOf(obj))) throw alreadyExists(resource, meta.name as string)
    if (resource === 'services') {
      const causes = allocateClusterIP(obj, this.serviceCidr, allocatedIPs(this.map('services').values()))
      if (causes.length > 0) throw invalid('Service', meta.name as string, causes)
    }
    // Server-owned metadata: whatever the client sent is replaced.
    delete meta.resourceVersion
    delete meta.deletionTimestamp
    meta.uid = randomUUID()
    meta.creationTimestamp = timestamp(this.now())
    meta.generation = 1
    defaultOnCreate(resource, obj)
    opts.admit?.(undefined, copy(obj))
    this.commit(resource, 'ADDED', obj)
    return copy(obj)
  }

  /** PUT. A resourceVersion in the body must match (409 Conflict otherwise); without one the write is unconditional. */
  update(
    resource: ResourceName,
    namespace: string | undefined,
    name: string,
    body: unknown,
    opts: WriteOptions = {},
  ): K8sObject {
    const old = this.mustGet(resource, namespace, name)
    const obj = this.checkBody(resource, body)
    if (obj.metadata.name !== undefined && obj.metadata.name !== name) {
      throw badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`)
    }
    obj.metadata.name = name
    if (RESOURCES[resource].namespaced && obj.metadata.namespace && obj.metadata.namespace !== old.metadata.namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request')
    }
    return this.write(resource, old, obj, opts)
  }

  /** PATCH: applies the patch to the stored object, then writes it like an update. */
  patch(
    resource: ResourceName,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    opts: WriteOptions = {},
  ): K8sObject {
    const old = this.mustGet(resource, namespace, name)
    const patched = applyPatch(type, copy(old), patch, resource)
    const obj = this.checkBody(resource, patched)
    if (obj.metadata.name !== name) throw invalid(RESOURCES[resource].kind, name, [immutable('metadata.name')])
    if (obj.metadata.namespace !== old.metadata.namespace) {
      throw invalid(RESOURCES[resource].kind, name, [immutable('metadata.namespace')])
    }
    return this.write(resource, old, obj, opts)
  }

  private write(resource: ResourceName, old: K8sObject, obj: K8sObject, opts: WriteOptions): K8sObject {
    const name = old.metadata.name as string
    if (opts.subresource && (opts.subresource !== 'status' || !RESOURCES[resource].hasStatus))
      throw notFound(`${resource}/${opts.subresource}`, name)
    const meta = obj.metadata
    if (
      meta.resourceVersion !== undefined &&
      meta.resourceVersion !== '' &&
      meta.resourceVersion !== old.metadata.resourceVersion
    ) {
      throw conflict(
        resource,
        name,
        'the object has been modified; please apply your changes to the latest version and try again',
      )
    }
    if (meta.uid && meta.uid !== old.metadata.uid) {
      throw conflict(
        resource,
        name,
        `Precondition failed: UID in precondition: ${meta.uid}, UID in object meta: ${old.metadata.uid}`,
      )
    }
    meta.namespace = old.metadata.namespace
    if (meta.namespace === undefined) delete meta.namespace
    meta.uid = old.metadata.uid
    meta.creationTimestamp = old.metadata.creationTimestamp
    meta.generation = old.metadata.generation
    if (old.metadata.deletionTimestamp) meta.deletionTimestamp = old.metadata.deletionTimestamp
    else delete meta.deletionTimestamp
    // The main resource cannot change status and the status subresource cannot change spec
    // (the registry strategies' PrepareForUpdate), so that kubelets and users don't fight.
    if (opts.subresource === 'status') {
      if (old.spec === undefined) delete obj.spec
      else obj.spec = copy(old.spec)
    } else {
      if (old.status === undefined) delete obj.status
      else obj.status = copy(old.status)
      if (!deepEqual(obj.spec, old.spec)) meta.generation = (old.metadata.generation ?? 0) + 1
    }
    if (resource === 'services') {
      defaultService(obj)
      const causes = keepClusterIP(old, obj)
      if (causes.length > 0) throw invalid('Service', name, causes)
    }
    if (resource === 'networkpolicies') defaultNetworkPolicy(obj)
    this.validate(resource, obj)
    // A Node's pod CIDR, once assigned, is fixed (the real apiserver's node validation): every daemon
    // routes that range to this node, so whoever may write the Node must not move it.
    // A binding's role is fixed (the real apiserver's RBAC validation): change it by deleting the binding.
    if (resource === 'clusterrolebindings' && !deepEqual(old.roleRef, obj.roleRef)) {
      throw invalid('ClusterRoleBinding', name, [
        {reason: 'FieldValueInvalid', message: 'Invalid value: cannot change roleRef', field: 'roleRef'},
      ])
    }
    if (resource === 'nodes') {
      for (const field of ['podCIDR', 'podCIDRs'] as const) {
        const was = (old.spec as Record<string, unknown> | undefined)?.[field]
        const now = (obj.spec as Record<string, unknown> | undefined)?.[field]
        if (was !== undefined && !deepEqual(was, now)) throw invalid('Node', name, [immutable(`spec.${field}`)])
      }
    }
    meta.resourceVersion = old.metadata.resourceVersion
    opts.admit?.(copy(old), copy(obj))
    // A write that changes nothing is not an event and keeps the resourceVersion, as in the real apiserver.
    if (deepEqual(obj, old)) return copy(old)
    this.commit(resource, 'MODIFIED', obj, old)
    return copy(obj)
  }

  /** Deletes at once (no graceful termination): one DELETED event carrying the deletion's resourceVersion. */
  delete(resource: ResourceName, namespace: string | undefined, name: string, opts: DeleteOptions = {}): K8sObject {
    const old = this.mustGet(resource, namespace, name)
    const pre = opts.preconditions
    if (pre?.uid && pre.uid !== old.metadata.uid) {
      throw conflict(
        resource,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`,
      )
    }
    if (pre?.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(
        resource,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`,
      )
    }
    opts.admit?.(copy(old), undefined)
    if (resource === 'namespaces') {
      if (UNDELETABLE_NAMESPACES.has(name)) throw forbidden(resource, name, 'this namespace may not be deleted')
      // The namespace controller would delete what is in it; we do it right away.
      for (const [r, m] of this.objects) {
        if (!RESOURCES[r].namespaced) continue
        for (const o of [...m.values()])
          if (o.metadata.namespace === name) this.delete(r, name, o.metadata.name as string)
      }
    }
    const gone = copy(old)
    this.commit(resource, 'DELETED', gone, old)
    return copy(gone)
  }

  /** DELETE on a collection: deletes every object the selection matches; returns them. */
  deleteCollection(resource: ResourceName, sel: Selection, opts: Pick<DeleteOptions, 'admit'> = {}): K8sObject[] {
    const match = this.matcher(resource, sel)
    const doomed = [...this.map(resource).values()].filter(match)
    // Every object is checked before any is deleted: a refused one leaves the collection whole.
    if (opts.admit) for (const o of doomed) opts.admit(copy(o), undefined)
    return doomed.map((o) => this.delete(resource, o.metadata.namespace, o.metadata.name as string))
  }

  private commit(resource: ResourceName, type: EventType, obj: K8sObject, prev?: K8sObject): void {
    const rv = ++this.rvCounter
    obj.metadata.resourceVersion = String(rv)
    deepFreeze(obj)
    const m = this.map(resource)
    if (type === 'DELETED') m.delete(keyOf(obj))
    else m.set(keyOf(obj), obj)
    const ev: StoreEvent = {type, resource, rv, object: obj, prev}
    this.history.push(ev)
    while (this.history.length > this.historySize) this.compactedRv = (this.history.shift() as StoreEvent).rv
    this.scheduleSnapshot()
    this.emit('event', ev)
  }

  /** Type, apiVersion and metadata checks shared by create/update/patch; returns a private copy. */
  private checkBody(resource: ResourceName, body: unknown): K8sObject {
    const info = RESOURCES[resource]
    if (!isPlainObject(body)) throw badRequest(`the body of a ${info.kind} must be a JSON object`)
    const obj = copy(body) as K8sObject
    if (obj.kind !== undefined && obj.kind !== info.kind) {
      throw badRequest(
        `the object's kind ${JSON.stringify(obj.kind)} does not match the resource ${resource} (kind ${info.kind})`,
      )
    }
    const apiVersion = groupVersion(info.group)
    if (obj.apiVersion !== undefined && obj.apiVersion !== apiVersion) {
      throw badRequest(
        `the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${apiVersion})`,
      )
    }
    obj.apiVersion = apiVersion
    obj.kind = info.kind
    if (obj.metadata === undefined) obj.metadata = {}
    if (!isPlainObject(obj.metadata)) throw badRequest('metadata must be an object')
    return obj
  }

  private validate(resource: ResourceName, obj: K8sObject): void {
    const info = RESOURCES[resource]
    const meta = obj.metadata
    const causes: StatusCause[] = []
    const name = meta.name
    if (!name) {
      causes.push({
        reason: 'FieldValueRequired',
        message: 'Required value: name or generateName is required',
        field: 'metadata.name',
      })
    } else {
      const label = resource === 'namespaces'
      if (info.group === RBAC_GROUP) {
        // RBAC names are path segments (ValidatePathSegmentName): `system:auth-delegator` is one.
        if (name === '.' || name === '..' || /[/%]/.test(name) || name.length > 253) {
          causes.push({
            reason: 'FieldValueInvalid',
            message: `Invalid value: ${JSON.stringify(name)}: may not be '.' or '..' and may not contain '/' or '%'`,
            field: 'metadata.name',
          })
        }
      } else if (
        !(label ? name.length <= 63 && DNS_LABEL.test(name) : name.length <= 253 && DNS_SUBDOMAIN.test(name))
      ) {
        causes.push({
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 ${label ? 'label' : 'subdomain'} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
          field: 'metadata.name',
        })
      }
    }
    for (const field of ['labels', 'annotations'] as const) {
      const m = meta[field]
      if (m === undefined) continue
      if (!isPlainObject(m) || Object.values(m).some((v) => typeof v !== 'string')) {
        causes.push({
          reason: 'FieldValueInvalid',
          message: 'Invalid value: must be a map of strings',
          field: `metadata.${field}`,
        })
        continue
      }
      if (field === 'labels') {
        try {
          for (const [k, v] of Object.entries(m)) parseLabelSelector(`${k}=${v}`)
        } catch (e) {
          causes.push({
            reason: 'FieldValueInvalid',
            message: `Invalid value: ${(e as Error).message}`,
            field: 'metadata.labels',
          })
        }
      }
    }
    for (const part of ['spec', 'status'] as const) {
      if (obj[part] !== undefined && !isPlainObject(obj[part])) {
        causes.push({reason: 'FieldValueInvalid', message: 'Invalid value: must be an object', field: part})
      }
    }
    const podSpec =
      resource === 'pods'
        ? obj.spec
        : resource === 'daemonsets' && isPlainObject(obj.spec) && isPlainObject(obj.spec.template)
          ? obj.spec.template.spec
          : undefined
    if (isPlainObject(podSpec) && podSpec.containers !== undefined) {
      const cs = podSpec.containers
      if (
        !Array.isArray(cs) ||
        cs.some((c) => !isPlainObject(c) || typeof c.name !== 'string' || !DNS_LABEL.test(c.name))
      ) {
        causes.push({
          reason: 'FieldValueInvalid',
          message: 'Invalid value: each container needs a DNS-label name',
          field: 'spec.containers',
        })
      }
    }
    if (info.group === RBAC_GROUP) causes.push(...validateRbac(resource, obj))
    if (resource === 'services') causes.push(...validateService(obj))
    if (resource === 'endpointslices') causes.push(...validateEndpointSlice(obj))
    if (resource === 'networkpolicies') causes.push(...validateNetworkPolicy(obj))
    if (causes.length > 0) throw invalid(info.kind, name ?? '', causes)
  }

  private scheduleSnapshot(): void {
    if (!this.snapshotPath) return
    this.dirty = true
    if (this.snapshotTimer) return
    this.snapshotTimer = setTimeout(() => {
      // A failed background write must not crash the server: report it, keep the state dirty so the
      // next change retries, and let close()/flush() throw it to a caller who can act.
      try {
        this.flush()
      } catch (e) {
        this.dirty = true
        this.emit('snapshotError', e)
      }
    }, this.snapshotDelayMs)
    // A pending write must not keep a process alive; close() flushes it.
    this.snapshotTimer.unref()
  }

  /** Writes a pending snapshot now (write to a temp file, then rename: a crash never leaves half a file). */
  flush(): void {
    if (this.snapshotTimer) clearTimeout(this.snapshotTimer)
    this.snapshotTimer = undefined
    if (!this.snapshotPath || !this.dirty) return
    this.dirty = false
    const snap: Snapshot = {version: 1, resourceVersion: this.rvCounter, objects: {}}
    for (const [r, m] of this.objects) snap.objects[r] = [...m.values()]
    fs.mkdirSync(path.dirname(this.snapshotPath), {recursive: true})
    const tmp = `${this.snapshotPath}.${process.pid}.tmp`
    fs.writeFileSync(tmp, JSON.stringify(snap), {mode: 0o600})
    fs.renameSync(tmp, this.snapshotPath)
  }

  /** Flushes the snapshot and stops every watcher. The store stays readable. */
  close(): void {
    this.flush()
    this.removeAllListeners('event')
  }

  private load(file: string): void {
    let snap: Snapshot
    try {
      snap = JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot
    } catch (e) {
      throw new Error(`cannot read apiserver state ${file}: ${(e as Error).message}`)
    }
    if (snap?.version !== 1 || typeof snap.resourceVersion !== 'number' || !isPlainObject(snap.objects)) {
      throw new Error(`cannot read apiserver state ${file}: not a version 1 snapshot`)
    }
    for (const [r, items] of Object.entries(snap.objects)) {
      if (!isResourceName(r) || !Array.isArray(items)) continue
      const m = this.map(r)
      for (const o of items) m.set(keyOf(o), deepFreeze(o))
    }
    // Watches may resume from the snapshot's resourceVersion on; anything older gets a 410 and relists.
    this.rvCounter = snap.resourceVersion
    this.compactedRv = snap.resourceVersion
  }
}

function immutable(field: string): StatusCause {
  return {reason: 'FieldValueInvalid', message: 'Invalid value: field is immutable', field}
}

/** Server-side defaults the real registry strategies apply on create (the subset clients look at). */
function defaultOnCreate(resource: ResourceName, obj: K8sObject): void {
  if (resource === 'pods') {
    const spec = (obj.spec ??= {})
    spec.restartPolicy ??= 'Always'
    spec.dnsPolicy ??= 'ClusterFirst'
    spec.schedulerName ??= 'default-scheduler'
    spec.terminationGracePeriodSeconds ??= 30
    // podStrategy.PrepareForCreate: a new pod's status is the server's, not the client's.
    obj.status = {phase: 'Pending'}
  } else if (resource === 'services') {
    obj.status = {loadBalancer: {}}
  } else if (resource === 'daemonsets') {
    // The DaemonSet controller's fields, at zero until something schedules its pods.
    obj.status = {currentNumberScheduled: 0, desiredNumberScheduled: 0, numberMisscheduled: 0, numberReady: 0}
  } else if (resource === 'namespaces') {
    const spec = (obj.spec ??= {})
    spec.finalizers ??= ['kubernetes']
    obj.status = {phase: 'Active'}
    obj.metadata.labels = {...obj.metadata.labels, 'kubernetes.io/metadata.name': obj.metadata.name as string}
  }
}

function filterEvent(ev: StoreEvent, match: (o: K8sObject) => boolean): WatchEvent | undefined {
  if (ev.type !== 'MODIFIED') return match(ev.object) ? {type: ev.type, object: ev.object} : undefined
  const now = match(ev.object)
  const before = ev.prev ? match(ev.prev) : false
  // An object that starts or stops matching the selector is ADDED or DELETED for this watcher,
  // as the apiserver's watch cache does it.
  if (now) return {type: before ? 'MODIFIED' : 'ADDED', object: ev.object}
  return before ? {type: 'DELETED', object: ev.object} : undefined
}

function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({v: 'meta.k8s.io/v1', rv, start})).toString('base64')
}

function decodeContinue(token: string): {rv: number; start: string} {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as {v?: string; rv?: unknown; start?: unknown}
    if (t.v === 'meta.k8s.io/v1' && typeof t.rv === 'number' && typeof t.start === 'string')
      return {rv: t.rv, start: t.start}
  } catch {
    // Falls through to the 400.
  }
  throw badRequest('continue key is not valid: not a token from this server')
}
