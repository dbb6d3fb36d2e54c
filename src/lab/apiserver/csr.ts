/**
 * certificates.k8s.io/v1 CertificateSigningRequests as the lab's API server stores them. The lab
 * plays the approver and the signer of the node agents' signer itself, with the decisions in
 * src/kube/agent-signing.ts (a real cluster runs `cnidbg agent-signer` for them).
 */
import type {UserInfo} from './auth.js'
import type {K8sObject} from './resources.js'
import {badRequest, invalid, type StatusCause} from './status.js'

type Rec = Record<string, unknown>
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The shortest expirationSeconds the API accepts. */
const MIN_SECONDS = 600

/**
 * A CSR as it is stored: its spec checked, and who asked filled in by the server (spec.username, uid,
 * groups, extra), as kube-apiserver does; the status is the approver's and the signer's.
 */
export function prepareCsr(body: unknown, user: UserInfo): K8sObject {
  if (!isRec(body) || !isRec(body.metadata) || !isRec(body.spec))
    throw badRequest('a CertificateSigningRequest needs metadata and spec')
  const spec = body.spec
  const name = typeof body.metadata.name === 'string' ? body.metadata.name : ''
  const causes: StatusCause[] = []
  const pem = typeof spec.request === 'string' ? Buffer.from(spec.request, 'base64').toString('utf8') : ''
  if (!/^-----BEGIN CERTIFICATE REQUEST-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE REQUEST-----\s*$/.test(pem))
    causes.push({
      reason: 'FieldValueInvalid',
      message: 'Invalid value: a PEM CERTIFICATE REQUEST',
      field: 'spec.request',
    })
  if (typeof spec.signerName !== 'string' || !/^[a-z0-9.-]+\/[A-Za-z0-9._-]+$/.test(spec.signerName))
    causes.push({reason: 'FieldValueRequired', message: 'Required value: a signer name', field: 'spec.signerName'})
  if (!Array.isArray(spec.usages) || spec.usages.length === 0 || !spec.usages.every((u) => typeof u === 'string'))
    causes.push({reason: 'FieldValueRequired', message: 'Required value: usages', field: 'spec.usages'})
  const seconds = spec.expirationSeconds
  if (seconds !== undefined && (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < MIN_SECONDS))
    causes.push({
      reason: 'FieldValueInvalid',
      message: `Invalid value: may not specify a duration less than ${MIN_SECONDS} seconds`,
      field: 'spec.expirationSeconds',
    })
  if (causes.length) throw invalid('CertificateSigningRequest', name, causes)
  const {status: _status, ...rest} = body
  return {
    ...(rest as K8sObject),
    spec: {
      ...spec,
      username: user.name,
      uid: user.uid,
      groups: [...user.groups],
      ...(user.extra ? {extra: user.extra} : {}),
    },
  }
}
