/**
 * Discovery documents: what kubectl reads before anything else (`/version`, `/api`, `/api/v1`,
 * `/apis`, `/apis/<group>/v1`). Only the legacy (unaggregated) format is served. kubectl ≥ 1.26 first asks for
 * aggregated discovery (`Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,
 * …,application/json`); client-go looks at the response's Content-Type and, when it is plain
 * application/json, reads the legacy documents instead, exactly as with an older apiserver.
 */
import {CERTIFICATES_GROUP, DISCOVERY_GROUP, NETWORKING_GROUP, RBAC_GROUP, RESOURCES} from './resources.js'
import {AUTHENTICATION_GROUP, AUTHORIZATION_GROUP, REVIEWS} from './reviews.js'

/** The Kubernetes version this server claims. kubectl warns past ±1 minor of skew, nothing else. */
export const DEFAULT_SERVER_VERSION = 'v1.30.0'

export function versionInfo(gitVersion = DEFAULT_SERVER_VERSION): Record<string, string> {
  const m = /^v(\d+)\.(\d+)/.exec(gitVersion)
  return {
    major: m?.[1] ?? '1',
    minor: m?.[2] ?? '30',
    gitVersion,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2024-01-01T00:00:00Z',
    goVersion: `node${process.versions.node}`,
    compiler: 'cnidbg',
    platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
  }
}

export function apiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{clientCIDR: '0.0.0.0/0', serverAddress}],
  }
}

/** The API groups served under /apis, besides core under /api. */
export const SERVED_GROUPS: readonly string[] = [
  'apps',
  DISCOVERY_GROUP,
  NETWORKING_GROUP,
  RBAC_GROUP,
  CERTIFICATES_GROUP,
  AUTHENTICATION_GROUP,
  AUTHORIZATION_GROUP,
]

export function apiGroup(name: string): Record<string, unknown> {
  const v = {groupVersion: `${name}/v1`, version: 'v1'}
  return {kind: 'APIGroup', apiVersion: 'v1', name, versions: [v], preferredVersion: v}
}

export function apiGroupList(): Record<string, unknown> {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: SERVED_GROUPS.map((g) => {
      const {kind: _kind, apiVersion: _apiVersion, ...rest} = apiGroup(g)
      return rest
    }),
  }
}

function resourcesOf(group: string): Record<string, unknown>[] {
  const resources: Record<string, unknown>[] = []
  for (const r of Object.values(RESOURCES)) {
    if (r.group !== group) continue
    resources.push({
      name: r.name,
      singularName: r.singularName,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
      shortNames: r.shortNames,
      ...(r.categories ? {categories: r.categories} : {}),
    })
    if (r.hasStatus) {
      resources.push({
        name: `${r.name}/status`,
        singularName: '',
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ['get', 'patch', 'update'],
      })
    }
    if (r.name === 'certificatesigningrequests') {
      resources.push({
        name: 'certificatesigningrequests/approval',
        singularName: '',
        namespaced: false,
        kind: r.kind,
        verbs: ['get', 'patch', 'update'],
      })
    }
    if (r.name === 'serviceaccounts') {
      resources.push({
        name: 'serviceaccounts/token',
        singularName: '',
        namespaced: true,
        group: AUTHENTICATION_GROUP,
        version: 'v1',
        kind: 'TokenRequest',
        verbs: ['create'],
      })
    }
  }
  for (const r of REVIEWS) {
    if (r.group !== group) continue
    resources.push({name: r.name, singularName: r.singularName, namespaced: false, kind: r.kind, verbs: ['create']})
  }
  return resources
}

export function apiResourceList(): Record<string, unknown> {
  return {kind: 'APIResourceList', groupVersion: 'v1', resources: resourcesOf('')}
}

export function groupResourceList(group: string): Record<string, unknown> {
  return {kind: 'APIResourceList', apiVersion: 'v1', groupVersion: `${group}/v1`, resources: resourcesOf(group)}
}

/** The OpenAPI v2 media type kubectl asks for (gnostic's openapi_v2.Document in protobuf). */
export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf'
/** What kube-openapi answers with: the '@' of the request type is not legal in a Content-Type Go can parse. */
export const OPENAPI_V2_PROTOBUF_RESPONSE = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf'

function varint(n: number): Buffer {
  const out: number[] = []
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80)
    n >>>= 7
  }
  out.push(n)
  return Buffer.from(out)
}

// A length-delimited protobuf field (wire type 2): a string or an embedded message.
function field(num: number, body: Buffer): Buffer {
  return Buffer.concat([varint((num << 3) | 2), varint(body.length), body])
}

/**
 * An OpenAPI v2 document without definitions. kubectl's client-side validation (`create -f`,
 * `apply -f`; 1.20 always, newer ones when the server lacks field validation) downloads this first
 * and fails outright on a 404. With no schema for a kind, kubectl skips schema checks for it, as for
 * a CRD without one, and `apply` falls back to its compiled-in patch metadata; the apiserver's own
 * validation (422) still applies. Document{swagger=1, info=2{title=1, version=2}}.
 */
export function openApiV2(gitVersion = DEFAULT_SERVER_VERSION): {protobuf: Buffer; json: Record<string, unknown>} {
  const title = 'cnidbg lab apiserver'
  const info = Buffer.concat([field(1, Buffer.from(title)), field(2, Buffer.from(gitVersion))])
  return {
    protobuf: Buffer.concat([field(1, Buffer.from('2.0')), field(2, info)]),
    json: {swagger: '2.0', info: {title, version: gitVersion}, paths: {}},
  }
}
