/**
 * ServiceAccount tokens, as the lab apiserver mints them (TokenRequest, `kubectl create token`) and
 * checks them (on every request, and for TokenReview). A token is a JWT signed with HMAC-SHA256 under
 * a key only the server holds (a key file, so tokens survive a restart, or a random key per process).
 * Its claims are the real apiserver's: issuer, subject `system:serviceaccount:NS:NAME`, audiences,
 * expiry, and the ServiceAccount's namespace, name and uid. A token is valid while it is unexpired,
 * its signature holds, one of its audiences is asked for, and its ServiceAccount still exists with
 * the same uid: deleting the ServiceAccount revokes every token minted for it.
 */
import {createHmac, randomBytes, randomUUID, timingSafeEqual} from 'node:crypto'
import fs from 'node:fs'

import {AUTHENTICATED_GROUP, SERVICE_ACCOUNTS_GROUP, serviceAccountUser} from './rbac.js'
import type {K8sObject} from './resources.js'
import {NODE_NAME_EXTRA} from '../../kube/agent-signing.js'

/** The audience of the API server itself (kubeadm's default issuer, which is also its --api-audiences). */
export const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local'
export const DEFAULT_EXPIRATION_SECONDS = 3600
/** The shortest lifetime a TokenRequest may ask for, as in kube-apiserver. */
export const MIN_EXPIRATION_SECONDS = 600
export const MAX_EXPIRATION_SECONDS = 2 ** 32

export interface ServiceAccountUser {
  name: string
  uid: string
  groups: string[]
  extra?: Record<string, string[]>
}

export interface MintedToken {
  token: string
  /** RFC 3339, second precision. */
  expirationTimestamp: string
  audiences: string[]
}

interface Claims {
  iss: string
  sub: string
  aud: string[]
  exp: number
  iat: number
  nbf: number
  jti: string
  'kubernetes.io': {
    namespace: string
    serviceaccount: {name: string; uid: string}
    /** A token bound to a Node (TokenRequest boundObjectRef), as kube-apiserver writes it. */
    node?: {name: string; uid: string}
  }
}

/** The user extra keys kube-apiserver gives a node-bound ServiceAccount token (NODE_NAME_EXTRA too). */
export {NODE_NAME_EXTRA}
export const NODE_UID_EXTRA = 'authentication.kubernetes.io/node-uid'

const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64url')
const HEADER = b64(JSON.stringify({alg: 'HS256', typ: 'JWT'}))

/** Where the signer looks ServiceAccounts up (the Store). */
export interface ServiceAccountSource {
  get(resource: 'serviceaccounts', namespace: string, name: string): K8sObject | undefined
  get(resource: 'nodes', namespace: undefined, name: string): K8sObject | undefined
}

/**
 * Reads a signing key file: at least 32 bytes, refused when it is a symlink or open to group or
 * others (whoever reads it can mint a token for every ServiceAccount).
 */
export function readSigningKey(file: string): Buffer {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK)
  try {
    const st = fs.fstatSync(fd)
    if (!st.isFile()) throw new Error(`signing key ${file} is not a regular file`)
    if ((st.mode & 0o077) !== 0) {
      throw new Error(`signing key ${file} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)})`)
    }
    const key = fs.readFileSync(fd)
    if (key.length < 32) throw new Error(`signing key ${file} holds ${key.length} bytes; it needs at least 32`)
    return key
  } finally {
    fs.closeSync(fd)
  }
}

/** Writes a fresh 32-byte signing key (0600, never through a planted file or link). */
export function writeSigningKey(file: string): void {
  fs.rmSync(file, {force: true})
  const fd = fs.openSync(
    file,
    fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
    0o600,
  )
  try {
    fs.writeSync(fd, randomBytes(32))
  } finally {
    fs.closeSync(fd)
  }
}

export class ServiceAccountTokens {
  private readonly key: Buffer
  private readonly issuer: string
  private readonly now: () => number

  constructor(
    private readonly accounts: ServiceAccountSource,
    opts: {key?: Buffer; issuer?: string; now?: () => number} = {},
  ) {
    this.key = opts.key ?? randomBytes(32)
    this.issuer = opts.issuer ?? API_AUDIENCE
    this.now = opts.now ?? Date.now
  }

  private sign(data: string): Buffer {
    return createHmac('sha256', this.key).update(data).digest()
  }

  /**
   * A token for the ServiceAccount, which must exist. `audiences` default to the API server's;
   * `expirationSeconds` to an hour.
   */
  mint(
    sa: K8sObject,
    opts: {audiences?: readonly string[]; expirationSeconds?: number; node?: {name: string; uid: string}} = {},
  ): MintedToken {
    const namespace = sa.metadata.namespace ?? 'default'
    const name = sa.metadata.name ?? ''
    const nowS = Math.floor(this.now() / 1000)
    const exp = nowS + (opts.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS)
    const aud = opts.audiences && opts.audiences.length > 0 ? [...opts.audiences] : [API_AUDIENCE]
    const claims: Claims = {
      iss: this.issuer,
      sub: serviceAccountUser(namespace, name),
      aud,
      exp,
      iat: nowS,
      nbf: nowS,
      jti: randomUUID(),
      'kubernetes.io': {
        namespace,
        serviceaccount: {name, uid: sa.metadata.uid ?? ''},
        ...(opts.node ? {node: {...opts.node}} : {}),
      },
    }
    const body = `${HEADER}.${b64(JSON.stringify(claims))}`
    return {
      token: `${body}.${b64(this.sign(body))}`,
      expirationTimestamp: new Date(exp * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      audiences: aud,
    }
  }

  /**
   * The user of a valid token and the audiences it was accepted for (those of `audiences`, default
   * the API server's, that the token carries), or undefined.
   */
  verify(token: string, audiences?: readonly string[]): {user: ServiceAccountUser; audiences: string[]} | undefined {
    const parts = token.split('.')
    if (parts.length !== 3 || parts[0] !== HEADER) return undefined
    const want = this.sign(`${parts[0]}.${parts[1]}`)
    const got = Buffer.from(parts[2], 'base64url')
    if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined
    let claims: Claims
    try {
      claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Claims
    } catch {
      return undefined
    }
    const nowS = this.now() / 1000
    if (typeof claims.exp !== 'number' || claims.exp <= nowS || claims.iss !== this.issuer) return undefined
    const asked = audiences && audiences.length > 0 ? audiences : [API_AUDIENCE]
    const accepted = asked.filter((a) => Array.isArray(claims.aud) && claims.aud.includes(a))
    if (accepted.length === 0) return undefined
    const k = claims['kubernetes.io']
    if (!k || typeof k.namespace !== 'string' || typeof k.serviceaccount?.name !== 'string') return undefined
    const sa = this.accounts.get('serviceaccounts', k.namespace, k.serviceaccount.name)
    if (!sa || sa.metadata.uid !== k.serviceaccount.uid) return undefined
    // A node-bound token dies with its Node, as kube-apiserver checks the bound object.
    const node = k.node
    if (node && this.accounts.get('nodes', undefined, node.name)?.metadata.uid !== node.uid) return undefined
    return {
      user: {
        name: serviceAccountUser(k.namespace, k.serviceaccount.name),
        uid: k.serviceaccount.uid,
        groups: [SERVICE_ACCOUNTS_GROUP, `${SERVICE_ACCOUNTS_GROUP}:${k.namespace}`, AUTHENTICATED_GROUP],
        ...(node ? {extra: {[NODE_NAME_EXTRA]: [node.name], [NODE_UID_EXTRA]: [node.uid]}} : {}),
      },
      audiences: accepted,
    }
  }
}
