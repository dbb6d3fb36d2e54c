/**
 * The three PATCH formats of the Kubernetes API:
 * - JSON merge patch (RFC 7386), `application/merge-patch+json`;
 * - strategic merge patch, `application/strategic-merge-patch+json`: a merge patch that merges
 *   lists of keyed items (containers by name, conditions by type…) instead of replacing them, and
 *   honours the `$patch`, `$setElementOrder`, `$deleteFromPrimitiveList` and `$retainKeys`
 *   directives that kubectl and the kubelet send (k8s.io/apimachinery/pkg/util/strategicpatch);
 * - JSON patch (RFC 6902), `application/json-patch+json`.
 * All are pure functions on JSON values; they never mutate their inputs.
 */
import {ApiError, badRequest} from './status.js'

type Json = null | boolean | number | string | Json[] | {[k: string]: Json}
type JsonObject = {[k: string]: Json}

function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T)
}

/** RFC 7386: objects merge recursively, `null` removes a key, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch)
  const out: JsonObject = isObject(target) ? clone(target) : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]
    else out[k] = mergePatch(out[k], v) as Json
  }
  return out
}

/**
 * Merge keys of the list fields of core/v1 Pods and Nodes that have `patchStrategy: merge`
 * (from the `+patchMergeKey` tags in k8s.io/api/core/v1/types.go). Lists not named here are atomic
 * and get replaced, as in a plain merge patch. '' marks a merged list of scalars (finalizers).
 */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  env: 'name',
  ports: 'containerPort',
  imagePullSecrets: 'name',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  resourceClaims: 'name',
  conditions: 'type',
  addresses: 'type',
  podIPs: 'ip',
  hostIPs: 'ip',
  ownerReferences: 'uid',
  finalizers: '',
}

/** The keyed lists of metadata, which every kind shares. */
const META_KEYS: Record<string, string> = {ownerReferences: 'uid', finalizers: ''}

/**
 * Merge keys per kind where they differ from a Pod's or Node's: a Service's ports merge by `port`
 * (ServiceSpec.Ports, `+patchMergeKey=port`); the lists of EndpointSlices and NetworkPolicies are
 * atomic (`+listType=atomic`, or no patch strategy), and EndpointSlice `addresses` are strings, so
 * only their metadata lists merge.
 */
export const KIND_MERGE_KEYS: Record<string, Record<string, string>> = {
  services: {...META_KEYS, ports: 'port', conditions: 'type'},
  endpointslices: META_KEYS,
  networkpolicies: META_KEYS,
}

const ORDER_PREFIX = '$setElementOrder/'
const DELETE_PRIMITIVE_PREFIX = '$deleteFromPrimitiveList/'

/** Strategic merge patch of one object. Directive keys never reach the result. */
export function strategicMergePatch(
  target: unknown,
  patch: unknown,
  keys: Record<string, string> = MERGE_KEYS,
): unknown {
  if (!isObject(patch)) return clone(patch)
  const directive = patch.$patch
  if (directive === 'delete') return undefined
  const rest: JsonObject = {}
  for (const [k, v] of Object.entries(patch)) if (k !== '$patch') rest[k] = v
  if (directive === 'replace') return stripDirectives(rest)
  if (directive !== undefined && directive !== 'merge') throw badRequest(`unknown patch type: ${String(directive)}`)

  const out: JsonObject = isObject(target) ? clone(target) : {}
  const orders: Record<string, Json[]> = {}
  for (const [k, v] of Object.entries(rest)) {
    if (k === '$retainKeys') continue
    if (k.startsWith(ORDER_PREFIX)) {
      if (!Array.isArray(v)) throw badRequest(`${k} must be a list`)
      orders[k.slice(ORDER_PREFIX.length)] = v
      continue
    }
    if (k.startsWith(DELETE_PRIMITIVE_PREFIX)) {
      const field = k.slice(DELETE_PRIMITIVE_PREFIX.length)
      if (!Array.isArray(v)) throw badRequest(`${k} must be a list`)
      const cur = out[field]
      if (Array.isArray(cur)) out[field] = cur.filter((x) => !v.some((d) => deepEqual(d, x)))
      continue
    }
    if (v === null) {
      delete out[k]
      continue
    }
    if (Array.isArray(v) && Object.hasOwn(keys, k)) {
      const merged = mergeList(out[k], v, keys[k], keys)
      out[k] = merged
      continue
    }
    const merged = strategicMergePatch(out[k], v, keys)
    if (merged === undefined) delete out[k]
    else out[k] = merged as Json
  }
  for (const [field, order] of Object.entries(orders)) {
    if (Array.isArray(out[field])) out[field] = applyOrder(out[field] as Json[], order, keys[field] ?? '')
  }
  if (Array.isArray(rest.$retainKeys)) {
    const keep = new Set(rest.$retainKeys.map(String))
    for (const k of Object.keys(out)) if (!keep.has(k)) delete out[k]
  }
  return out
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives)
  if (!isObject(v)) return v
  const out: JsonObject = {}
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(x)
  return out
}

function mergeList(current: Json | undefined, patch: Json[], key: string, keys: Record<string, string>): Json[] {
  const cur = Array.isArray(current) ? clone(current) : []
  // A `{$patch: replace}` item replaces the whole list with the other items of the patch.
  if (patch.some((p) => isObject(p) && p.$patch === 'replace')) {
    return patch.filter((p) => !(isObject(p) && p.$patch === 'replace')).map(stripDirectives)
  }
  if (key === '') {
    const out = [...cur]
    for (const p of patch) if (!out.some((x) => deepEqual(x, p))) out.push(p)
    return out
  }
  for (const p of patch) {
    if (!isObject(p) || !Object.hasOwn(p, key)) {
      throw badRequest(`map: ${JSON.stringify(p)} does not contain declared merge key: ${key}`)
    }
    const at = cur.findIndex((x) => isObject(x) && deepEqual(x[key], p[key]))
    if (p.$patch === 'delete') {
      if (at >= 0) cur.splice(at, 1)
      continue
    }
    if (at >= 0) cur[at] = strategicMergePatch(cur[at], p, keys) as Json
    else cur.push(strategicMergePatch(undefined, p, keys) as Json)
  }
  return cur
}

/** `$setElementOrder`: listed items first, in the given order; items it does not name keep their place after. */
function applyOrder(list: Json[], order: Json[], key: string): Json[] {
  const id = (x: Json) => (key === '' ? x : isObject(x) ? x[key] : x)
  const wanted = order.map((o) => (key !== '' && isObject(o) ? o[key] : o))
  const rank = (x: Json) => {
    const i = wanted.findIndex((w) => deepEqual(w, id(x)))
    return i < 0 ? wanted.length : i
  }
  return list
    .map((x, i) => ({x, i}))
    .sort((a, b) => rank(a.x) - rank(b.x) || a.i - b.i)
    .map((e) => e.x)
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const bb = b as unknown[]
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]))
  }
  const ao = a as Record<string, unknown>
  const bo = b as Record<string, unknown>
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined)
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined)
  return ak.length === bk.length && ak.every((k) => Object.hasOwn(bo, k) && deepEqual(ao[k], bo[k]))
}

export interface JsonPatchOp {
  op: string
  path: string
  value?: unknown
  from?: string
}

// A failed apply is a 422 on the real apiserver (patchResource: NewGenericServerResponse(422, …)).
function unprocessable(message: string): ApiError {
  return new ApiError(422, 'Invalid', message)
}

function parsePointer(p: string): string[] {
  if (p === '') return []
  if (!p.startsWith('/')) throw unprocessable(`JSON pointer ${JSON.stringify(p)} must start with "/"`)
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
}

function container(doc: Json, tokens: string[], ptr: string): Json {
  let cur = doc
  for (const t of tokens) {
    if (Array.isArray(cur)) {
      const i = Number(t)
      if (!/^\d+$/.test(t) || i >= cur.length) throw unprocessable(`path ${JSON.stringify(ptr)} does not exist`)
      cur = cur[i]
    } else if (isObject(cur) && Object.hasOwn(cur, t)) cur = cur[t]
    else throw unprocessable(`path ${JSON.stringify(ptr)} does not exist`)
  }
  return cur
}

function getAt(doc: Json, ptr: string): Json {
  return container(doc, parsePointer(ptr), ptr)
}

function removeAt(doc: Json, ptr: string): Json {
  const tokens = parsePointer(ptr)
  if (tokens.length === 0) throw unprocessable('cannot remove the whole document')
  const last = tokens[tokens.length - 1]
  const parent = container(doc, tokens.slice(0, -1), ptr)
  if (Array.isArray(parent)) {
    const i = Number(last)
    if (!/^\d+$/.test(last) || i >= parent.length) throw unprocessable(`path ${JSON.stringify(ptr)} does not exist`)
    return parent.splice(i, 1)[0]
  }
  if (isObject(parent) && Object.hasOwn(parent, last)) {
    const v = parent[last]
    delete parent[last]
    return v
  }
  throw unprocessable(`path ${JSON.stringify(ptr)} does not exist`)
}

function addAt(doc: Json, ptr: string, value: Json, replace: boolean): Json {
  const tokens = parsePointer(ptr)
  if (tokens.length === 0) return value
  const last = tokens[tokens.length - 1]
  const parent = container(doc, tokens.slice(0, -1), ptr)
  if (Array.isArray(parent)) {
    const i = last === '-' && !replace ? parent.length : Number(last)
    const max = replace ? parent.length - 1 : parent.length
    if ((last !== '-' && !/^\d+$/.test(last)) || i > max)
      throw unprocessable(`path ${JSON.stringify(ptr)} is out of range`)
    parent.splice(i, replace ? 1 : 0, value)
  } else if (isObject(parent)) {
    if (replace && !Object.hasOwn(parent, last)) throw unprocessable(`path ${JSON.stringify(ptr)} does not exist`)
    parent[last] = value
  } else throw unprocessable(`path ${JSON.stringify(ptr)} does not exist`)
  return doc
}

/** RFC 6902. A malformed patch is a 400; an operation that does not apply is a 422. */
export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw badRequest('json patch must be a list of operations')
  let doc = clone(target) as Json
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      throw badRequest(`invalid json patch operation: ${JSON.stringify(raw)}`)
    }
    const op = raw as unknown as JsonPatchOp
    const needValue = ['add', 'replace', 'test'].includes(op.op)
    if (needValue && !Object.hasOwn(raw, 'value')) throw badRequest(`json patch ${op.op} operation has no value`)
    const value = clone(op.value) as Json
    switch (op.op) {
      case 'add':
        doc = addAt(doc, op.path, value, false)
        break
      case 'replace':
        doc = addAt(doc, op.path, value, true)
        break
      case 'remove':
        removeAt(doc, op.path)
        break
      case 'test':
        if (!deepEqual(getAt(doc, op.path), value)) throw unprocessable(`testing value ${op.path} failed: test failed`)
        break
      case 'move':
      case 'copy': {
        if (typeof op.from !== 'string') throw badRequest(`json patch ${op.op} operation has no from`)
        const v = op.op === 'move' ? removeAt(doc, op.from) : clone(getAt(doc, op.from))
        doc = addAt(doc, op.path, v, false)
        break
      }
      default:
        throw badRequest(`unexpected json patch operation ${JSON.stringify(op.op)}`)
    }
  }
  return doc
}

export type PatchType = 'json' | 'merge' | 'strategic'

const PATCH_TYPES: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
}

/** Maps a PATCH Content-Type (parameters ignored) to its patch type, or undefined when unsupported. */
export function patchTypeOf(contentType: string | undefined): PatchType | undefined {
  const base = (contentType ?? '').split(';')[0].trim().toLowerCase()
  return PATCH_TYPES[base]
}

export function applyPatch(type: PatchType, target: unknown, patch: unknown, resource?: string): unknown {
  if (type === 'json') return jsonPatch(target, patch)
  if (!isObject(patch)) throw badRequest('a merge patch must be a JSON object')
  if (type === 'merge') return mergePatch(target, patch)
  const keys =
    resource !== undefined && Object.hasOwn(KIND_MERGE_KEYS, resource) ? KIND_MERGE_KEYS[resource] : MERGE_KEYS
  return strategicMergePatch(target, patch, keys)
}
