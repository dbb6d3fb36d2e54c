/**
 * The resources this apiserver stores, with what discovery, field selectors and the store need to
 * know about each: core/v1 Nodes, Pods, Namespaces, Services, ServiceAccounts and ConfigMaps, apps/v1
 * DaemonSets, discovery.k8s.io/v1 EndpointSlices, networking.k8s.io/v1 NetworkPolicies and
 * rbac.authorization.k8s.io/v1 ClusterRoles and ClusterRoleBindings (what `deploy/` holds), and
 * certificates.k8s.io/v1 CertificateSigningRequests (the node agents' serving certificates, csr.ts). The review resources, which are created and answered but never stored (TokenReview,
 * SubjectAccessReview…), are in reviews.ts.
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

export type ResourceName =
  | 'namespaces'
  | 'nodes'
  | 'pods'
  | 'services'
  | 'serviceaccounts'
  | 'configmaps'
  | 'daemonsets'
  | 'endpointslices'
  | 'networkpolicies'
  | 'clusterroles'
  | 'clusterrolebindings'
  | 'certificatesigningrequests'

export const RBAC_GROUP = 'rbac.authorization.k8s.io'
export const DISCOVERY_GROUP = 'discovery.k8s.io'
export const NETWORKING_GROUP = 'networking.k8s.io'
export const CERTIFICATES_GROUP = 'certificates.k8s.io'

export interface ResourceInfo {
  name: ResourceName
  /** The API group: '' for core (served under /api/v1), else under /apis/<group>/v1. */
  group: string
  /** Whether it has a status subresource (status written only through it). */
  hasStatus: boolean
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
    group: '',
    hasStatus: true,
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
    group: '',
    hasStatus: true,
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
    group: '',
    hasStatus: true,
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
  services: {
    name: 'services',
    group: '',
    hasStatus: true,
    singularName: 'service',
    kind: 'Service',
    listKind: 'ServiceList',
    namespaced: true,
    shortNames: ['svc'],
    categories: ['all'],
    verbs: ALL_VERBS,
    // pkg/registry/core/service: ServiceToSelectableFields.
    fields: {
      ...metaFields,
      'spec.clusterIP': (o) => str(at(o, ['spec', 'clusterIP'])),
      'spec.type': (o) => str(at(o, ['spec', 'type'])),
    },
  },
  serviceaccounts: {
    name: 'serviceaccounts',
    group: '',
    hasStatus: false,
    singularName: 'serviceaccount',
    kind: 'ServiceAccount',
    listKind: 'ServiceAccountList',
    namespaced: true,
    shortNames: ['sa'],
    verbs: ALL_VERBS,
    fields: metaFields,
  },
  configmaps: {
    name: 'configmaps',
    group: '',
    hasStatus: false,
    singularName: 'configmap',
    kind: 'ConfigMap',
    listKind: 'ConfigMapList',
    namespaced: true,
    shortNames: ['cm'],
    verbs: ALL_VERBS,
    fields: metaFields,
  },
  daemonsets: {
    name: 'daemonsets',
    group: 'apps',
    hasStatus: true,
    singularName: 'daemonset',
    kind: 'DaemonSet',
    listKind: 'DaemonSetList',
    namespaced: true,
    shortNames: ['ds'],
    categories: ['all'],
    verbs: ALL_VERBS,
    fields: metaFields,
  },
  endpointslices: {
    name: 'endpointslices',
    group: DISCOVERY_GROUP,
    hasStatus: false,
    singularName: 'endpointslice',
    kind: 'EndpointSlice',
    listKind: 'EndpointSliceList',
    namespaced: true,
    shortNames: [],
    verbs: ALL_VERBS,
    fields: {...metaFields, addressType: (o) => str(o.addressType)},
  },
  networkpolicies: {
    name: 'networkpolicies',
    group: NETWORKING_GROUP,
    hasStatus: false,
    singularName: 'networkpolicy',
    kind: 'NetworkPolicy',
    listKind: 'NetworkPolicyList',
    namespaced: true,
    shortNames: ['netpol'],
    verbs: ALL_VERBS,
    fields: metaFields,
  },
  clusterroles: {
    name: 'clusterroles',
    group: RBAC_GROUP,
    hasStatus: false,
    singularName: 'clusterrole',
    kind: 'ClusterRole',
    listKind: 'ClusterRoleList',
    namespaced: false,
    shortNames: [],
    verbs: ALL_VERBS,
    fields: metaFields,
  },
  clusterrolebindings: {
    name: 'clusterrolebindings',
    group: RBAC_GROUP,
    hasStatus: false,
    singularName: 'clusterrolebinding',
    kind: 'ClusterRoleBinding',
    listKind: 'ClusterRoleBindingList',
    namespaced: false,
    shortNames: [],
    verbs: ALL_VERBS,
    fields: metaFields,
  },
  certificatesigningrequests: {
    name: 'certificatesigningrequests',
    group: CERTIFICATES_GROUP,
    hasStatus: true,
    singularName: 'certificatesigningrequest',
    kind: 'CertificateSigningRequest',
    listKind: 'CertificateSigningRequestList',
    namespaced: false,
    shortNames: ['csr'],
    verbs: ALL_VERBS,
    fields: {...metaFields, 'spec.signerName': (o) => str(at(o, ['spec', 'signerName']))},
  },
}

/** `v1` for core, `<group>/v1` otherwise: the apiVersion of the resource's objects. */
export function groupVersion(group: string): string {
  return group === '' ? 'v1' : `${group}/v1`
}

export function isResourceName(s: string): s is ResourceName {
  return Object.hasOwn(RESOURCES, s)
}
