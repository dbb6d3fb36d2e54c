/**
 * The resources this apiserver serves, with what discovery, field selectors and the store need to
 * know about each. Everything is core/v1: the lab only needs Nodes, Pods and Namespaces.
 */

/** A Kubernetes object as JSON. Only metadata is typed; the rest passes through untouched. */
export interface K8sObject {
  apiVersion?: string
  kind?: string
  metadata: ObjectMeta
  spec?: Record<string, unknown>
  status?: Record<string, unknown>
  [key: string]: unknown
}

export interface ObjectMeta {
  name?: string
  generateName?: string
  namespace?: string
  uid?: string
  resourceVersion?: string
  generation?: number
  creationTimestamp?: string
  deletionTimestamp?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
  [key: string]: unknown
}

export type ResourceName = 'namespaces' | 'nodes' | 'pods'

export interface ResourceInfo {
  name: ResourceName
  singularName: string
  kind: string
  listKind: string
  namespaced: boolean
  shortNames: string[]
  categories?: string[]
  verbs: string[]
  /**
   * Field-selector labels the real apiserver supports for this resource (pkg/registry/core/<x>/strategy.go
   * `ToSelectableFields`), with how to read each from an object. Anything else is a 400, as it is there.
   */
  fields: Record<string, (o: K8sObject) => string>
}

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']

function str(v: unknown): string {
  if (v === undefined || v === null) return ''
  return typeof v === 'string' ? v : String(v)
}

function at(o: K8sObject, path: string[]): unknown {
  let cur: unknown = o
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[p]
  }
  return cur
}

const metaFields: Record<string, (o: K8sObject) => string> = {
  'metadata.name': (o) => str(o.metadata.name),
  'metadata.namespace': (o) => str(o.metadata.namespace),
}

export const RESOURCES: Record<ResourceName, ResourceInfo> = {
  namespaces: {
    name: 'namespaces',
    singularName: 'namespace',
    kind: 'Namespace',
    listKind: 'NamespaceList',
    namespaced: false,
    shortNames: ['ns'],
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    fields: {...metaFields, 'status.phase': (o) => str(at(o, ['status', 'phase']))},
  },
  nodes: {
    name: 'nodes',
    singularName: 'node',
    kind: 'Node',
    listKind: 'NodeList',
    namespaced: false,
    shortNames: ['no'],
    verbs: ALL_VERBS,
    fields: {
      ...metaFields,
      // The real apiserver renders a missing bool as "false" here (fields.Set of a Go bool).
      'spec.unschedulable': (o) => String(at(o, ['spec', 'unschedulable']) === true),
    },
  },
  pods: {
    name: 'pods',
    singularName: 'pod',
    kind: 'Pod',
    listKind: 'PodList',
    namespaced: true,
    shortNames: ['po'],
    categories: ['all'],
    verbs: ALL_VERBS,
    fields: {
      ...metaFields,
      'spec.nodeName': (o) => str(at(o, ['spec', 'nodeName'])),
      'spec.restartPolicy': (o) => str(at(o, ['spec', 'restartPolicy'])),
      'spec.schedulerName': (o) => str(at(o, ['spec', 'schedulerName'])),
      'spec.serviceAccountName': (o) => str(at(o, ['spec', 'serviceAccountName'])),
      'spec.hostNetwork': (o) => String(at(o, ['spec', 'hostNetwork']) === true),
      'status.phase': (o) => str(at(o, ['status', 'phase'])),
      'status.podIP': (o) => str(at(o, ['status', 'podIP'])),
      'status.nominatedNodeName': (o) => str(at(o, ['status', 'nominatedNodeName'])),
    },
  },
}

export function isResourceName(s: string): s is ResourceName {
  return Object.hasOwn(RESOURCES, s)
}
