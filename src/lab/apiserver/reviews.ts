/**
 * The resources that are created and answered but never stored: `authentication.k8s.io/v1`
 * TokenReview (is this bearer token valid, and whose is it?), `authorization.k8s.io/v1`
 * SubjectAccessReview (may this user do that?) and SelfSubjectAccessReview (may I?), and the
 * TokenRequest a ServiceAccount's `token` subresource answers (`kubectl create token`). A node agent
 * authenticates and authorizes its callers with the first two, as the kubelet and kube-rbac-proxy do.
 *
 * A TokenReview's answer never repeats the token it was asked about.
 */
import type {Authenticator, UserInfo} from './auth.js'
import {decide, decidePath} from './auth.js'
import type {NonResourceRequest, RbacSource} from './rbac.js'
import type {K8sObject} from './resources.js'
import {MAX_EXPIRATION_SECONDS, MIN_EXPIRATION_SECONDS, type ServiceAccountTokens} from './sa-tokens.js'
import {badRequest, invalid, type StatusCause} from './status.js'

export const AUTHENTICATION_GROUP = 'authentication.k8s.io'
export const AUTHORIZATION_GROUP = 'authorization.k8s.io'

export interface ReviewInfo {
  name: string
  group: string
  kind: string
  singularName: string
}

/** Discovery's view of them: cluster-scoped, `create` only. */
export const REVIEWS: readonly ReviewInfo[] = [
  {name: 'tokenreviews', group: AUTHENTICATION_GROUP, kind: 'TokenReview', singularName: 'tokenreview'},
  {
    name: 'subjectaccessreviews',
    group: AUTHORIZATION_GROUP,
    kind: 'SubjectAccessReview',
    singularName: 'subjectaccessreview',
  },
  {
    name: 'selfsubjectaccessreviews',
    group: AUTHORIZATION_GROUP,
    kind: 'SelfSubjectAccessReview',
    singularName: 'selfsubjectaccessreview',
  },
]

export function reviewOf(group: string, resource: string): ReviewInfo | undefined {
  return REVIEWS.find((r) => r.group === group && r.name === resource)
}

type Rec = Record<string, unknown>
const isRec = (v: unknown): v is Rec => v !== null && typeof v === 'object' && !Array.isArray(v)
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const strList = (v: unknown): string[] | undefined =>
  Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined

function checkKind(body: unknown, info: {kind: string; group: string}): Rec {
  if (!isRec(body)) throw badRequest(`the body of a ${info.kind} must be a JSON object`)
  const apiVersion = `${info.group}/v1`
  if (body.kind !== undefined && body.kind !== info.kind)
    throw badRequest(`the object's kind ${JSON.stringify(body.kind)} is not ${info.kind}`)
  if (body.apiVersion !== undefined && body.apiVersion !== apiVersion)
    throw badRequest(`the API version in the data (${String(body.apiVersion)}) is not ${apiVersion}`)
  return body
}

function answer(info: {kind: string; group: string}, spec: Rec, status: Rec): K8sObject {
  return {kind: info.kind, apiVersion: `${info.group}/v1`, metadata: {}, spec, status}
}

const kindOf = (name: string): ReviewInfo => REVIEWS.find((r) => r.name === name) as ReviewInfo

export function tokenReview(body: unknown, authn: Authenticator): K8sObject {
  const info = kindOf('tokenreviews')
  const spec = isRec(checkKind(body, info).spec) ? ((body as Rec).spec as Rec) : {}
  const token = str(spec.token) ?? ''
  const audiences = strList(spec.audiences)
  if (spec.audiences !== undefined && !audiences) throw badRequest('spec.audiences must be a list of strings')
  const echo: Rec = audiences ? {audiences} : {}
  if (token === '') return answer(info, echo, {authenticated: false, error: 'token is empty', user: {}})
  const found = authn.authenticateToken(token, audiences)
  if (!found) return answer(info, echo, {authenticated: false, user: {}, error: 'invalid bearer token'})
  return answer(info, echo, {
    authenticated: true,
    user: {
      username: found.user.name,
      uid: found.user.uid,
      groups: withAuthenticated(found.user.groups),
      ...(found.user.extra ? {extra: found.user.extra} : {}),
    },
    audiences: found.audiences,
  })
}

function withAuthenticated(groups: readonly string[]): string[] {
  return groups.includes('system:authenticated') ? [...groups] : [...groups, 'system:authenticated']
}

/** Reads resourceAttributes or nonResourceAttributes (exactly one), as a 422 when neither or both. */
function attributes(
  kind: string,
  spec: Rec,
):
  | {resource: {verb: string; group: string; resource: string; subresource?: string; namespace?: string; name?: string}}
  | {nonResource: NonResourceRequest} {
  const ra = spec.resourceAttributes
  const na = spec.nonResourceAttributes
  const causes: StatusCause[] = []
  if ((ra === undefined || ra === null) === (na === undefined || na === null)) {
    causes.push({
      reason: 'FieldValueRequired',
      message: 'Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified',
      field: 'spec.resourceAttributes',
    })
    throw invalid(kind, '', causes)
  }
  if (isRec(ra)) {
    const verb = str(ra.verb) ?? ''
    const resource = str(ra.resource) ?? ''
    if (verb === '' || resource === '') {
      throw invalid(kind, '', [
        {
          reason: 'FieldValueRequired',
          message: 'Required value: verb and resource are required',
          field: 'spec.resourceAttributes',
        },
      ])
    }
    const opt = (k: string) => (str(ra[k]) ? {[k]: str(ra[k])} : {})
    return {
      resource: {
        verb,
        resource,
        group: str(ra.group) ?? '',
        ...opt('subresource'),
        ...opt('namespace'),
        ...opt('name'),
      },
    }
  }
  if (isRec(na)) return {nonResource: {verb: str(na.verb) ?? '', path: str(na.path) ?? ''}}
  throw badRequest('spec.resourceAttributes and spec.nonResourceAttributes must be objects')
}

function accessStatus(user: UserInfo, spec: Rec, kind: string, rbac: RbacSource): Rec {
  const attrs = attributes(kind, spec)
  const d = 'resource' in attrs ? decide(user, attrs.resource, rbac) : decidePath(user, attrs.nonResource, rbac)
  return d.allowed ? {allowed: true, reason: d.reason} : {allowed: false, ...(d.reason ? {reason: d.reason} : {})}
}

export function subjectAccessReview(body: unknown, rbac: RbacSource): K8sObject {
  const info = kindOf('subjectaccessreviews')
  const rec = checkKind(body, info)
  const spec = isRec(rec.spec) ? rec.spec : {}
  const name = str(spec.user) ?? ''
  const groups = strList(spec.groups) ?? []
  if (spec.groups !== undefined && !strList(spec.groups)) throw badRequest('spec.groups must be a list of strings')
  if (name === '' && groups.length === 0) {
    throw invalid(info.kind, '', [
      {
        reason: 'FieldValueRequired',
        message: 'Required value: at least one of user or group must be specified',
        field: 'spec.user',
      },
    ])
  }
  // Exactly the user and groups asked about: the caller (a node agent) passes what its TokenReview said.
  const user: UserInfo = {name, uid: str(spec.uid) ?? '', groups}
  return answer(info, spec, accessStatus(user, spec, info.kind, rbac))
}

export function selfSubjectAccessReview(body: unknown, user: UserInfo, rbac: RbacSource): K8sObject {
  const info = kindOf('selfsubjectaccessreviews')
  const rec = checkKind(body, info)
  const spec = isRec(rec.spec) ? rec.spec : {}
  return answer(info, spec, accessStatus(user, spec, info.kind, rbac))
}

/** POST …/serviceaccounts/NAME/token: a token for that ServiceAccount (`sa` must exist). */
export function tokenRequest(
  body: unknown,
  sa: K8sObject,
  tokens: ServiceAccountTokens,
  nodes: NodeSource,
  now = Date.now(),
): K8sObject {
  const info = {kind: 'TokenRequest', group: AUTHENTICATION_GROUP}
  const rec = checkKind(body ?? {}, info)
  const spec = isRec(rec.spec) ? rec.spec : {}
  const audiences = spec.audiences === undefined || spec.audiences === null ? undefined : strList(spec.audiences)
  if (spec.audiences !== undefined && spec.audiences !== null && !audiences)
    throw badRequest('spec.audiences must be a list of strings')
  const seconds = spec.expirationSeconds ?? 3600
  if (
    typeof seconds !== 'number' ||
    !Number.isInteger(seconds) ||
    seconds < MIN_EXPIRATION_SECONDS ||
    seconds > MAX_EXPIRATION_SECONDS
  ) {
    throw invalid('TokenRequest', sa.metadata.name ?? '', [
      {
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${JSON.stringify(seconds)}: may not specify a duration less than ${MIN_EXPIRATION_SECONDS} seconds or longer than 2^32 seconds`,
        field: 'spec.expirationSeconds',
      },
    ])
  }
  const bound = boundNode(spec.boundObjectRef, sa, nodes)
  const minted = tokens.mint(sa, {audiences, expirationSeconds: seconds, node: bound})
  return {
    kind: info.kind,
    apiVersion: `${info.group}/v1`,
    metadata: {
      name: sa.metadata.name,
      namespace: sa.metadata.namespace,
      creationTimestamp: new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    },
    spec: {
      audiences: minted.audiences,
      expirationSeconds: seconds,
      boundObjectRef: bound ? {kind: 'Node', apiVersion: 'v1', name: bound.name, uid: bound.uid} : null,
    },
    status: {token: minted.token, expirationTimestamp: minted.expirationTimestamp},
  }
}

/** Where a TokenRequest's bound Node is looked up (the Store). */
export interface NodeSource {
  get(resource: 'nodes', namespace: undefined, name: string): K8sObject | undefined
}

/**
 * A TokenRequest's boundObjectRef: only a Node is supported (kube-apiserver's
 * ServiceAccountTokenNodeBinding), which must exist; the token then names that node and dies with it.
 */
function boundNode(ref: unknown, sa: K8sObject, nodes: NodeSource): {name: string; uid: string} | undefined {
  if (ref === undefined || ref === null) return undefined
  const fail = (message: string, field: string) =>
    invalid('TokenRequest', sa.metadata.name ?? '', [{reason: 'FieldValueInvalid', message, field}])
  if (!isRec(ref) || ref.kind !== 'Node' || (ref.apiVersion !== undefined && ref.apiVersion !== 'v1'))
    throw fail('Unsupported value: only a v1 Node may be bound by the cnidbg lab apiserver', 'spec.boundObjectRef.kind')
  const name = str(ref.name) ?? ''
  const node = name ? nodes.get('nodes', undefined, name) : undefined
  if (!node) throw fail(`Not found: node ${JSON.stringify(name)}`, 'spec.boundObjectRef.name')
  const uid = node.metadata.uid ?? ''
  if (ref.uid !== undefined && ref.uid !== uid) throw fail("the Node's uid differs", 'spec.boundObjectRef.uid')
  return {name, uid}
}
