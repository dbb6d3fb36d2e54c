/**
 * `rbac.authorization.k8s.io/v1` as the lab apiserver evaluates it: ClusterRoles and the
 * ClusterRoleBindings that grant them to Users, Groups and ServiceAccounts. Enough of RBAC for the
 * manifests in `deploy/` and for the agent's SubjectAccessReviews (`get`/`create` on `nodes/proxy`):
 * verbs, API groups, resources with subresources (`nodes/proxy`; `*` for all, and a star before the slash for one
 * subresource of every resource), resource names
 * and non-resource URLs, each with RBAC's `*`. Not served: namespaced Roles and RoleBindings, and
 * aggregation (an `aggregationRule` is stored but grants nothing). Like RBAC, it only allows: a
 * binding to a missing role grants nothing, and nothing denies.
 */
import {RBAC_GROUP as RBAC_API_GROUP, type K8sObject} from './resources.js'
import type {StatusCause} from './status.js'

export const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:'
export const SERVICE_ACCOUNTS_GROUP = 'system:serviceaccounts'
export const AUTHENTICATED_GROUP = 'system:authenticated'

export interface PolicyRule {
  verbs: string[]
  apiGroups?: string[]
  resources?: string[]
  resourceNames?: string[]
  nonResourceURLs?: string[]
}

export interface Subject {
  kind: string
  name: string
  namespace?: string
  apiGroup?: string
}

/** Who asks: the user a token names, or the one a SubjectAccessReview describes. */
export interface Requester {
  name: string
  groups: readonly string[]
}

/** A request on a resource, as RBAC sees it. `group` '' is the core group. */
export interface ResourceRequest {
  verb: string
  group: string
  resource: string
  subresource?: string
  namespace?: string
  name?: string
}

/** A request on a path outside the resource tree (`/healthz`, `/metrics`…). */
export interface NonResourceRequest {
  verb: string
  path: string
}

/** Where RBAC reads its objects from (the Store's frozen objects, not copies: it runs on every request). */
export interface RbacSource {
  values(resource: 'clusterroles' | 'clusterrolebindings'): Iterable<K8sObject>
}

export interface RbacDecision {
  allowed: boolean
  /** Which binding and role allowed it, as the real authorizer words it; '' when denied. */
  reason: string
}

const ALL = '*'

const has = (list: readonly string[] | undefined, v: string): boolean => (list ?? []).some((x) => x === ALL || x === v)

/** The request's resource as rules name it: `nodes`, or `nodes/proxy` for a subresource. */
function combined(r: ResourceRequest): string {
  return r.subresource ? `${r.resource}/${r.subresource}` : r.resource
}

function resourceMatches(rule: PolicyRule, r: ResourceRequest): boolean {
  const want = combined(r)
  return (rule.resources ?? []).some(
    // `*` is every resource and subresource; a star then `/proxy` is that subresource of every resource.
    (x) => x === ALL || x === want || (r.subresource !== undefined && x === `*/${r.subresource}`),
  )
}

export function ruleAllowsResource(rule: PolicyRule, r: ResourceRequest): boolean {
  if (!has(rule.verbs, r.verb) || !has(rule.apiGroups, r.group) || !resourceMatches(rule, r)) return false
  const names = rule.resourceNames ?? []
  // resourceNames restricts requests on one object; a list or a create names none and is refused.
  return names.length === 0 || (r.name !== undefined && r.name !== '' && names.includes(r.name))
}

export function ruleAllowsPath(rule: PolicyRule, r: NonResourceRequest): boolean {
  if (!has(rule.verbs, r.verb)) return false
  return (rule.nonResourceURLs ?? []).some(
    (u) => u === ALL || u === r.path || (u.endsWith('*') && r.path.startsWith(u.slice(0, -1))),
  )
}

/** The user name of a ServiceAccount. */
export function serviceAccountUser(namespace: string, name: string): string {
  return `${SERVICE_ACCOUNT_PREFIX}${namespace}:${name}`
}

export function subjectMatches(s: Subject, who: Requester): boolean {
  switch (s.kind) {
    case 'User':
      return s.name === who.name
    case 'Group':
      return who.groups.includes(s.name)
    case 'ServiceAccount':
      return s.namespace !== undefined && serviceAccountUser(s.namespace, s.name) === who.name
    default:
      return false
  }
}

const rulesOf = (role: K8sObject): PolicyRule[] => (Array.isArray(role.rules) ? (role.rules as PolicyRule[]) : [])
const subjectsOf = (b: K8sObject): Subject[] => (Array.isArray(b.subjects) ? (b.subjects as Subject[]) : [])
const roleRefOf = (b: K8sObject): {kind?: string; name?: string} => (b.roleRef ?? {}) as {kind?: string; name?: string}

/** Whether some ClusterRoleBinding grants `who` a ClusterRole with a rule that allows the request. */
export function rbacDecide(
  src: RbacSource,
  who: Requester,
  req: {resource: ResourceRequest} | {nonResource: NonResourceRequest},
): RbacDecision {
  const roles = new Map<string, K8sObject>()
  for (const r of src.values('clusterroles')) roles.set(r.metadata.name ?? '', r)
  for (const b of src.values('clusterrolebindings')) {
    const ref = roleRefOf(b)
    if (ref.kind !== 'ClusterRole') continue
    const role = roles.get(ref.name ?? '')
    if (!role) continue
    const subject = subjectsOf(b).find((s) => subjectMatches(s, who))
    if (!subject) continue
    const ok = rulesOf(role).some((rule) =>
      'resource' in req ? ruleAllowsResource(rule, req.resource) : ruleAllowsPath(rule, req.nonResource),
    )
    if (ok) {
      const to = subject.kind === 'ServiceAccount' ? `"${subject.namespace}/${subject.name}"` : `"${subject.name}"`
      return {
        allowed: true,
        reason: `RBAC: allowed by ClusterRoleBinding "${b.metadata.name}" of ClusterRole "${ref.name}" to ${subject.kind} ${to}`,
      }
    }
  }
  return {allowed: false, reason: ''}
}

// ---------------------------------------------------------------------------------------------
// Validation and defaults, as the real apiserver's RBAC registry applies them

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string')

function validateRules(obj: K8sObject): StatusCause[] {
  const causes: StatusCause[] = []
  if (obj.rules === undefined) return causes
  if (!Array.isArray(obj.rules))
    return [{reason: 'FieldValueInvalid', message: 'Invalid value: must be a list', field: 'rules'}]
  obj.rules.forEach((raw: unknown, i: number) => {
    const field = `rules[${i}]`
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      causes.push({reason: 'FieldValueInvalid', message: 'Invalid value: must be an object', field})
      return
    }
    const rule = raw as Record<string, unknown>
    for (const k of ['verbs', 'apiGroups', 'resources', 'resourceNames', 'nonResourceURLs']) {
      if (rule[k] !== undefined && !isStringList(rule[k]))
        causes.push({
          reason: 'FieldValueInvalid',
          message: 'Invalid value: must be a list of strings',
          field: `${field}.${k}`,
        })
    }
    if (!isStringList(rule.verbs) || rule.verbs.length === 0)
      causes.push({
        reason: 'FieldValueRequired',
        message: 'Required value: verbs must contain at least one value',
        field: `${field}.verbs`,
      })
    const resources = isStringList(rule.resources) && rule.resources.length > 0
    const urls = isStringList(rule.nonResourceURLs) && rule.nonResourceURLs.length > 0
    if (resources && urls)
      causes.push({
        reason: 'FieldValueInvalid',
        message: 'Invalid value: rules cannot apply to both regular resources and non-resource URLs',
        field: `${field}.nonResourceURLs`,
      })
    if (resources && !(isStringList(rule.apiGroups) && rule.apiGroups.length > 0))
      causes.push({
        reason: 'FieldValueRequired',
        message: 'Required value: resource rules must supply at least one api group',
        field: `${field}.apiGroups`,
      })
    if (!resources && !urls)
      causes.push({
        reason: 'FieldValueRequired',
        message: 'Required value: resources or nonResourceURLs must be given',
        field: `${field}.resources`,
      })
  })
  return causes
}

function validateBinding(obj: K8sObject): StatusCause[] {
  const causes: StatusCause[] = []
  const ref = obj.roleRef as Record<string, unknown> | undefined
  if (ref === null || typeof ref !== 'object' || Array.isArray(ref)) {
    causes.push({reason: 'FieldValueRequired', message: 'Required value: roleRef is required', field: 'roleRef'})
  } else {
    if (ref.kind !== 'ClusterRole')
      causes.push({
        reason: 'FieldValueNotSupported',
        message: `Unsupported value: ${JSON.stringify(ref.kind)}: supported values: "ClusterRole"`,
        field: 'roleRef.kind',
      })
    if ((ref.apiGroup ?? RBAC_API_GROUP) !== RBAC_API_GROUP)
      causes.push({
        reason: 'FieldValueNotSupported',
        message: `Unsupported value: ${JSON.stringify(ref.apiGroup)}: supported values: "${RBAC_API_GROUP}"`,
        field: 'roleRef.apiGroup',
      })
    if (typeof ref.name !== 'string' || ref.name === '')
      causes.push({reason: 'FieldValueRequired', message: 'Required value', field: 'roleRef.name'})
  }
  if (obj.subjects === undefined) return causes
  if (!Array.isArray(obj.subjects))
    return [...causes, {reason: 'FieldValueInvalid', message: 'Invalid value: must be a list', field: 'subjects'}]
  obj.subjects.forEach((raw: unknown, i: number) => {
    const field = `subjects[${i}]`
    const s = (raw ?? {}) as Record<string, unknown>
    if (typeof s.name !== 'string' || s.name === '')
      causes.push({reason: 'FieldValueRequired', message: 'Required value', field: `${field}.name`})
    if (s.kind === 'ServiceAccount') {
      if (typeof s.namespace !== 'string' || s.namespace === '')
        causes.push({reason: 'FieldValueRequired', message: 'Required value', field: `${field}.namespace`})
      if (s.apiGroup !== undefined)
        causes.push({
          reason: 'FieldValueNotSupported',
          message: 'Unsupported value: supported values: ""',
          field: `${field}.apiGroup`,
        })
    } else if (s.kind === 'User' || s.kind === 'Group') {
      if (s.apiGroup !== RBAC_API_GROUP)
        causes.push({
          reason: 'FieldValueNotSupported',
          message: `Unsupported value: supported values: "${RBAC_API_GROUP}"`,
          field: `${field}.apiGroup`,
        })
    } else {
      causes.push({
        reason: 'FieldValueNotSupported',
        message: `Unsupported value: ${JSON.stringify(s.kind)}: supported values: "ServiceAccount", "User", "Group"`,
        field: `${field}.kind`,
      })
    }
  })
  return causes
}

/**
 * Fills a subject's apiGroup as the real apiserver's defaulting does (`rbac.authorization.k8s.io` for
 * Users and Groups; none for ServiceAccounts, whose core group '' it leaves out), then checks a ClusterRole's rules or a ClusterRoleBinding's roleRef and
 * subjects. Returns the problems as Status causes (a 422).
 */
export function validateRbac(resource: string, obj: K8sObject): StatusCause[] {
  if (resource === 'clusterroles') return validateRules(obj)
  if (resource !== 'clusterrolebindings') return []
  if (Array.isArray(obj.subjects)) {
    for (const s of obj.subjects as Array<Record<string, unknown>>) {
      if (!s || typeof s !== 'object') continue
      // A ServiceAccount's group is core, '', which the real apiserver leaves out (omitempty).
      if (s.kind === 'ServiceAccount' && (s.apiGroup === '' || s.apiGroup === null)) delete s.apiGroup
      else if (s.kind !== 'ServiceAccount' && (s.apiGroup === undefined || s.apiGroup === null))
        s.apiGroup = RBAC_API_GROUP
    }
  }
  const ref = obj.roleRef as Record<string, unknown> | undefined
  if (ref && typeof ref === 'object' && ref.apiGroup === undefined) ref.apiGroup = RBAC_API_GROUP
  return validateBinding(obj)
}
