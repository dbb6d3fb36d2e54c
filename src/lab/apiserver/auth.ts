/**
 * Who may do what on the lab apiserver: bearer-token authentication from a token file in
 * kube-apiserver's `--token-auth-file` format, then authorization by identity, then an admission
 * check on the object being written (NodeRestriction's job in a cluster).
 *
 * Any local user can reach 127.0.0.1, and the kubelet stand-ins run CNI ADD and DEL as root for
 * every pod bound to their node, so a write to the API is a root action on a node. Identities
 * (docs/lab.md, "Credentials"):
 *
 * - group `system:masters` (the lab's admin kubeconfig): anything.
 * - user `system:node:<node>` in group `system:nodes` (a node's kubelet stand-in): reads anything;
 *   writes only its own Node and the Pods whose `spec.nodeName` is its node, before and after the
 *   write, so it can neither touch another node's pods nor move a pod onto another node.
 * - user `system:cnidbg:daemon:<node>` in group `system:cnidbg:daemons` (a node's cnidbg daemon):
 *   reads anything; writes only the `cnidbg.dev/*` annotations of its own Node, which is all the
 *   daemon publishes (its VTEP MAC, node IP, backend).
 * - user `system:cnidbg:supervisor` (the supervisor): reads, and `get nodes/proxy`, which the node
 *   daemons' gates ask for before they show their whole /healthz report (src/daemon/http.ts).
 * - anyone else with a token from the token file: reads only.
 * - a ServiceAccount, with a token the server minted (sa-tokens.ts): only what RBAC grants it.
 * - everyone, beyond the above: what the ClusterRoleBindings grant (rbac.ts), except writes to Nodes
 *   and Pods by a node's credentials and to Nodes by a daemon's, which only the rules above decide,
 *   as NodeRestriction does whatever RBAC says; and creating SelfSubjectAccessReviews.
 * - no token, or an unknown one: 401, except the health and version endpoints, which the real
 *   apiserver also serves to anonymous clients.
 *
 * Reads on subresources other than `status` (`nodes/proxy`: the node agent's permission, which the
 * lab only stores in RBAC and answers in SubjectAccessReviews) are never implied by "reads": only
 * the admin and RBAC grant them.
 */
import {createHash, timingSafeEqual} from 'node:crypto'
import fs from 'node:fs'

import {deepEqual} from './patch.js'
import {
  AUTHENTICATED_GROUP,
  rbacDecide,
  SERVICE_ACCOUNT_PREFIX,
  type NonResourceRequest,
  type RbacSource,
  type ResourceRequest,
} from './rbac.js'
import {isResourceName, RESOURCES, type K8sObject} from './resources.js'
import {API_AUDIENCE, type ServiceAccountTokens} from './sa-tokens.js'
import {ApiError, unauthorized} from './status.js'

export const ADMIN_GROUP = 'system:masters'
export const NODES_GROUP = 'system:nodes'
export const NODE_USER_PREFIX = 'system:node:'
export const DAEMONS_GROUP = 'system:cnidbg:daemons'
export const SUPERVISOR_USER = 'system:cnidbg:supervisor'
export const DAEMON_USER_PREFIX = 'system:cnidbg:daemon:'
/** The only part of a Node a daemon credential may change. */
export const DAEMON_ANNOTATION_PREFIX = 'cnidbg.dev/'

/** Paths served without credentials (kube-apiserver's system:public-info-viewer role). */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set(['/healthz', '/livez', '/readyz', '/version'])

export interface UserInfo {
  name: string
  uid: string
  groups: string[]
  /** As in kube-apiserver: a node-bound ServiceAccount token says its node here (sa-tokens.ts). */
  extra?: Record<string, string[]>
}

export interface TokenEntry {
  token: string
  user: UserInfo
}

/** The identity of a server started with a single token and no token file. */
export const SINGLE_TOKEN_ADMIN: UserInfo = {name: 'admin', uid: 'admin', groups: [ADMIN_GROUP]}

export const nodeUser = (node: string): UserInfo => ({
  name: `${NODE_USER_PREFIX}${node}`,
  uid: `${NODE_USER_PREFIX}${node}`,
  groups: [NODES_GROUP],
})

export const daemonUser = (node: string): UserInfo => ({
  name: `${DAEMON_USER_PREFIX}${node}`,
  uid: `${DAEMON_USER_PREFIX}${node}`,
  groups: [DAEMONS_GROUP],
})

// ---------------------------------------------------------------------------------------------
// The token file

/** Splits one CSV record (RFC 4180 quoting: `"a,b"`, `""` for a quote). */
function csvFields(line: string, lineNo: number): string[] {
  const out: string[] = []
  let i = 0
  for (;;) {
    let field = ''
    if (line[i] === '"') {
      i++
      for (;;) {
        if (i >= line.length) throw new Error(`token file line ${lineNo}: unterminated quoted field`)
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            field += '"'
            i += 2
            continue
          }
          i++
          break
        }
        field += line[i++]
      }
      if (i < line.length && line[i] !== ',') throw new Error(`token file line ${lineNo}: text after a quoted field`)
    } else {
      const end = line.indexOf(',', i)
      field = line.slice(i, end === -1 ? line.length : end)
      if (field.includes('"')) throw new Error(`token file line ${lineNo}: a quote inside an unquoted field`)
      i = end === -1 ? line.length : end
    }
    out.push(field)
    if (i >= line.length) return out
    i++ // the comma
  }
}

/**
 * Parses `token,user,uid[,"group1,group2"]` lines (kube-apiserver --token-auth-file). Blank lines and
 * lines starting with `#` are skipped. Errors name the line, never its token.
 */
export function parseTokenFile(text: string): TokenEntry[] {
  const entries: TokenEntry[] = []
  const seen = new Set<string>()
  text.split(/\r?\n/).forEach((raw, idx) => {
    const lineNo = idx + 1
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) return
    const f = csvFields(raw, lineNo)
    if (f.length < 3) throw new Error(`token file line ${lineNo}: needs at least token, user name and uid`)
    const token = f[0].trim()
    const name = f[1].trim()
    if (token === '') throw new Error(`token file line ${lineNo}: empty token`)
    if (name === '') throw new Error(`token file line ${lineNo}: empty user name`)
    // Two users behind one token would make the identity depend on the order of the lines.
    if (seen.has(token)) throw new Error(`token file line ${lineNo}: the same token as an earlier line`)
    seen.add(token)
    const groups = (f[3] ?? '')
      .split(',')
      .map((g) => g.trim())
      .filter((g) => g !== '')
    entries.push({token, user: {name, uid: f[2].trim(), groups}})
  })
  return entries
}

function csvField(s: string): string {
  if (/[\r\n]/.test(s)) throw new Error('a token file field cannot hold a line break')
  return /[",]/.test(s) || s !== s.trim() ? `"${s.replaceAll('"', '""')}"` : s
}

export function formatTokenFile(entries: readonly TokenEntry[]): string {
  return entries
    .map((e) => [e.token, e.user.name, e.user.uid, e.user.groups.join(',')].map(csvField).join(',') + '\n')
    .join('')
}

/**
 * Reads a token file, refusing one that is a symlink, not a regular file, not owned by this
 * process's user, or open to group or others: whoever can read it can act as every identity in it,
 * and whoever can write it can add one.
 */
export function readTokenFile(file: string): TokenEntry[] {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK)
  try {
    const st = fs.fstatSync(fd)
    if (!st.isFile()) throw new Error(`token file ${file} is not a regular file`)
    const uid = process.geteuid?.()
    if (uid !== undefined && st.uid !== uid) throw new Error(`token file ${file} is not owned by uid ${uid}`)
    if ((st.mode & 0o077) !== 0) {
      throw new Error(`token file ${file} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)})`)
    }
    return parseTokenFile(fs.readFileSync(fd, 'utf8'))
  } finally {
    fs.closeSync(fd)
  }
}

// ---------------------------------------------------------------------------------------------
// Authentication

const digest = (s: string | Buffer): Buffer => createHash('sha256').update(s).digest()

export class Authenticator {
  private readonly entries: Array<{digest: Buffer; user: UserInfo}>

  constructor(
    entries: readonly TokenEntry[],
    private readonly serviceAccounts?: ServiceAccountTokens,
  ) {
    // Digests have one length, so timingSafeEqual compares every entry in the same time whatever the
    // token's length; all of them are compared, so the time does not tell which one matched.
    this.entries = entries.map((e) => ({digest: digest(e.token), user: e.user}))
  }

  get size(): number {
    return this.entries.length
  }

  /**
   * The user a bearer token names, and the audiences it is good for, or undefined. Token-file tokens
   * are the API server's own and are good only where its audience is asked for (or none is, as on
   * the API server itself); ServiceAccount tokens carry their audiences.
   */
  authenticateToken(token: string, audiences?: readonly string[]): {user: UserInfo; audiences: string[]} | undefined {
    const got = digest(token)
    let found: UserInfo | undefined
    for (const e of this.entries) if (timingSafeEqual(got, e.digest) && !found) found = e.user
    if (found) {
      const asked = audiences && audiences.length > 0 ? audiences : [API_AUDIENCE]
      return asked.includes(API_AUDIENCE) ? {user: found, audiences: [API_AUDIENCE]} : undefined
    }
    return this.serviceAccounts?.verify(token, audiences)
  }

  /** The user an `Authorization` header names, or undefined for none, a malformed one or an unknown token. */
  authenticate(header: string | undefined): UserInfo | undefined {
    if (header === undefined) return undefined
    const m = /^\s*bearer +(\S+)\s*$/i.exec(header)
    if (!m) return undefined
    return this.authenticateToken(m[1])?.user
  }

  /**
   * The user of a request, or a 401 ApiError. Public paths are served to anyone; with no token file
   * (an in-process server for tests) every request is the admin, unless it carries a ServiceAccount
   * token.
   */
  requestUser(header: string | undefined, path: string): UserInfo | undefined {
    if (this.entries.length === 0) return this.authenticate(header) ?? SINGLE_TOKEN_ADMIN
    const user = this.authenticate(header)
    if (user) return user
    // As in kube-apiserver: a bearer token that fails is a 401 everywhere; only a request without
    // one is anonymous, and anonymous requests reach the public paths only.
    if (PUBLIC_PATHS.has(path) && !/^\s*bearer\b/i.test(header ?? '')) return undefined
    throw unauthorized()
  }
}

// ---------------------------------------------------------------------------------------------
// Authorization and admission

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection'

/** The verb of a resource request, as RBAC names it; undefined for a method the server will refuse (405). */
export function verbOf(method: string, named: boolean, watching: boolean): Verb | undefined {
  switch (method) {
    case 'GET':
      return watching ? 'watch' : named ? 'get' : 'list'
    case 'POST':
      return named ? undefined : 'create'
    case 'PUT':
      return named ? 'update' : undefined
    case 'PATCH':
      return named ? 'patch' : undefined
    case 'DELETE':
      return named ? 'delete' : 'deletecollection'
    default:
      return undefined
  }
}

/** A request on a resource. `group` is the API group, '' (the default) for core. */
export interface ResourceAttributes {
  verb: string
  group?: string
  resource: string
  namespace?: string
  name?: string
  subresource?: string
}

/**
 * Checks the object a write produces, before the store commits it: `old` is the stored object
 * (undefined on create), `obj` the result (undefined on delete). Throws a 403 ApiError to refuse.
 */
export type Admit = (old: K8sObject | undefined, obj: K8sObject | undefined) => void

function describe(a: ResourceAttributes): string {
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope'
  return `cannot ${a.verb} resource "${res}" in API group "${a.group ?? ''}" ${scope}`
}

/** A 403 Status worded like the real apiserver's authorizer and NodeRestriction denials. */
export function forbiddenFor(user: UserInfo, a: ResourceAttributes, why: string, name = a.name): ApiError {
  const what = name ? `${a.resource} "${name}"` : a.resource
  return new ApiError(403, 'Forbidden', `${what} is forbidden: User "${user.name}" ${describe(a)}: ${why}`, {
    ...(name ? {name} : {}),
    kind: a.resource,
  })
}

const READS: ReadonlySet<string> = new Set(['get', 'list', 'watch'])

const nodeNameOf = (o: K8sObject | undefined): unknown => o?.spec?.nodeName

/** The node of a node or daemon identity, only when the user is in the matching group. */
function ownNode(user: UserInfo, prefix: string, group: string): string | undefined {
  if (!user.groups.includes(group) || !user.name.startsWith(prefix)) return undefined
  const node = user.name.slice(prefix.length)
  return node === '' ? undefined : node
}

function withoutDaemonAnnotations(o: K8sObject): K8sObject {
  const annotations = Object.fromEntries(
    Object.entries(o.metadata.annotations ?? {}).filter(([k]) => !k.startsWith(DAEMON_ANNOTATION_PREFIX)),
  )
  return {...o, metadata: {...o.metadata, annotations}}
}

export const isServiceAccount = (user: {name: string}): boolean => user.name.startsWith(SERVICE_ACCOUNT_PREFIX)

/** The groups authorization sees: every authenticated user is also in system:authenticated. */
const withAuthenticated = (user: UserInfo): string[] =>
  user.groups.includes(AUTHENTICATED_GROUP) ? user.groups : [...user.groups, AUTHENTICATED_GROUP]

/** A read of what this server stores (the object itself or its status): every lab component may. */
function isStoredRead(a: ResourceAttributes): boolean {
  if (!READS.has(a.verb) || !isResourceName(a.resource)) return false
  const info = RESOURCES[a.resource]
  return (
    info.group === (a.group ?? '') && (a.subresource === undefined || (a.subresource === 'status' && info.hasStatus))
  )
}

export interface Decision {
  allowed: boolean
  /** Why, as SubjectAccessReview's status.reason words it. */
  reason: string
  /** A check of the object the write produces, when one is needed. */
  admit?: Admit
  /** A refusal worded for the 403 (a rule's own reason), when the rules themselves refused. */
  refusal?: ApiError
}

/**
 * Decides a resource request: the built-in rules of the lab's identities (see the top of this
 * file), then RBAC. Never throws.
 */
export function decide(user: UserInfo, a: ResourceAttributes, rbac?: RbacSource): Decision {
  if (user.groups.includes(ADMIN_GROUP)) return {allowed: true, reason: `member of ${ADMIN_GROUP}`}
  const group = a.group ?? ''
  if (isStoredRead(a) && !isServiceAccount(user)) return {allowed: true, reason: 'lab components read'}
  if (a.verb === 'create' && group === 'authorization.k8s.io' && a.resource === 'selfsubjectaccessreviews')
    return {allowed: true, reason: 'every authenticated user may ask what it may do'}
  if (
    user.name === SUPERVISOR_USER &&
    a.verb === 'get' &&
    group === '' &&
    a.resource === 'nodes' &&
    a.subresource === 'proxy'
  )
    return {allowed: true, reason: "the supervisor reads the daemons' health"}
  const write = !READS.has(a.verb)
  const node = ownNode(user, NODE_USER_PREFIX, NODES_GROUP)
  const dnode = ownNode(user, DAEMON_USER_PREFIX, DAEMONS_GROUP)
  const restricted =
    write &&
    group === '' &&
    ((node !== undefined && (a.resource === 'nodes' || a.resource === 'pods')) ||
      (dnode !== undefined && a.resource === 'nodes'))
  if (restricted) {
    try {
      const admit = node !== undefined ? nodeRules(user, node, a) : daemonRules(user, dnode as string, a)
      return {allowed: true, reason: 'node restriction', admit}
    } catch (e) {
      return {allowed: false, reason: (e as Error).message, refusal: e as ApiError}
    }
  }
  if (rbac) {
    const r = rbacDecide(
      rbac,
      {name: user.name, groups: withAuthenticated(user)},
      {resource: {...a, group} as ResourceRequest},
    )
    if (r.allowed) return {allowed: true, reason: r.reason}
  }
  return {allowed: false, reason: ''}
}

/** Paths every authenticated user may read (the system:discovery and public-info-viewer roles). */
const DISCOVERY = /^\/(api|apis|openapi|version|healthz|livez|readyz)(\/|$)/

/** Decides a request on a path outside the resource tree (SubjectAccessReview's nonResourceAttributes). */
export function decidePath(user: UserInfo, a: NonResourceRequest, rbac?: RbacSource): Decision {
  if (user.groups.includes(ADMIN_GROUP)) return {allowed: true, reason: `member of ${ADMIN_GROUP}`}
  if (a.verb === 'get' && DISCOVERY.test(a.path)) return {allowed: true, reason: 'discovery is open to every user'}
  if (rbac) {
    const r = rbacDecide(rbac, {name: user.name, groups: withAuthenticated(user)}, {nonResource: a})
    if (r.allowed) return {allowed: true, reason: r.reason}
  }
  return {allowed: false, reason: ''}
}

function nodeRules(user: UserInfo, node: string, a: ResourceAttributes): Admit | undefined {
  if (a.verb === 'deletecollection') throw forbiddenFor(user, a, 'a node may only delete objects one by one')
  if (a.resource === 'nodes') {
    if (a.name !== undefined && a.name !== node)
      throw forbiddenFor(user, a, `node "${node}" cannot modify node "${a.name}"`)
    // Deleting and registering again would assign a new pod CIDR, which an update may not change.
    if (a.verb === 'delete') throw forbiddenFor(user, a, `node "${node}" cannot delete its Node object`)
    return (_old, obj) => {
      if (obj && obj.metadata.name !== node)
        throw forbiddenFor(user, a, `node "${node}" cannot modify node "${obj.metadata.name}"`, obj.metadata.name)
    }
  }
  return (old, obj) => {
    for (const o of [old, obj]) {
      if (o && nodeNameOf(o) !== node) {
        const bound = typeof nodeNameOf(o) === 'string' && nodeNameOf(o) !== '' ? `"${nodeNameOf(o)}"` : 'no node'
        throw forbiddenFor(
          user,
          a,
          `node "${node}" can only modify pods bound to it, and this one is bound to ${bound}`,
          o.metadata.name,
        )
      }
    }
  }
}

function daemonRules(user: UserInfo, dnode: string, a: ResourceAttributes): Admit {
  const ok = (a.verb === 'patch' || a.verb === 'update') && a.subresource === undefined && a.name === dnode
  if (!ok)
    throw forbiddenFor(user, a, `the daemon of node "${dnode}" may only change its own Node's cnidbg.dev/ annotations`)
  return (old, obj) => {
    if (!old || !obj || !deepEqual(withoutDaemonAnnotations(old), withoutDaemonAnnotations(obj)))
      throw forbiddenFor(user, a, `the daemon of node "${dnode}" may only change its cnidbg.dev/ annotations`)
  }
}

/**
 * Decides a resource request the server is about to serve. Returns undefined when no object check is
 * needed, an Admit when the store must check the object, or throws a 403. `user` undefined is an
 * anonymous request on a public path, which never reaches a resource; it is refused all the same.
 */
export function authorize(user: UserInfo | undefined, a: ResourceAttributes, rbac?: RbacSource): Admit | undefined {
  if (!user) throw unauthorized()
  const d = decide(user, a, rbac)
  if (d.allowed) return d.admit
  if (d.refusal) throw d.refusal
  const ns = ownNode(user, NODE_USER_PREFIX, NODES_GROUP)
  if (ns !== undefined && !READS.has(a.verb))
    throw forbiddenFor(user, a, 'a node may write only its own Node and the Pods bound to it')
  if (!isServiceAccount(user) && !READS.has(a.verb)) throw forbiddenFor(user, a, 'this credential may only read')
  throw forbiddenFor(user, a, 'no RBAC policy matched')
}
