/**
 * The approver and the signer of the node agents' serving certificates (signer
 * `cnidbg.dev/agent-serving`, src/kube/agent-csr.ts; docs/deploy.md "Trusting the agents"), as pure
 * decisions over a CSR object, shared by the lab's API server (which plays both at once) and
 * `cnidbg agent-signer` (the controller a real cluster runs, src/kube/agent-signer.ts):
 *
 * - the approver: a CSR is approved without a person only when it is an agent's asking for its own
 *   node, that is made by the agent's ServiceAccount with a token bound to a Node (`extra` names it),
 *   its subject is that node's agent name, its IP SANs are addresses of that Node and its DNS SANs at
 *   most the node's name, and it asks for a server's usages only. Anything else stays pending, for
 *   `kubectl certificate approve`;
 * - the signer: an approved CSR of that signer is signed with the cluster CA (the one the kubeconfigs
 *   trust), as kube-controller-manager signs its own signers' with --cluster-signing-cert-file. The
 *   certificate holds what was checked and nothing the request could add: the request's subject,
 *   its IP and DNS SANs, CA:FALSE, digital signature (and key encipherment if asked), server auth,
 *   valid for the asked expirationSeconds, at most a year.
 *
 * The request is read with openssl (no PKI library is a dependency): its self-signature, subject and
 * subjectAltName; a SAN of any other type is refused.
 */
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {formatIP, isIP, parseIP} from '../core/ip.js'
import {runOk} from '../process/exec.js'
import {AGENT_SERVICE_ACCOUNT, AGENT_SIGNER, agentCommonName} from './agent-csr.js'

type Rec = Record<string, unknown>
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The user extra key kube-apiserver gives a node-bound ServiceAccount token: the Node's name. */
export const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name'

/** A CSR or a Node as the API serves it: what these decisions read. */
export interface ApiObject {
  metadata: {name?: string; annotations?: Record<string, string>}
  spec?: Rec
  status?: Rec
}

/** The key usages a server certificate of the agents' signer may carry. */
const SERVING_USAGES = new Set(['digital signature', 'key encipherment', 'server auth'])
/** kube-controller-manager's default --cluster-signing-duration. */
const MAX_SECONDS = 365 * 24 * 3600

/** What a request asks for, read by openssl. */
export interface CsrRequest {
  /** RFC 2253, e.g. `CN=cnidbg-agent:node1`. */
  subject: string
  ips: string[]
  dns: string[]
  /** SANs of any other type (email, URI…), as openssl prints them. */
  other: string[]
}

/** The certificate a CSR holds, the conditions it has, and what it asks for. */
export function conditionsOf(csr: ApiObject): Rec[] {
  const c = isRec(csr.status) ? csr.status.conditions : undefined
  return Array.isArray(c) ? c.filter(isRec) : []
}

const has = (csr: ApiObject, type: string) => conditionsOf(csr).some((c) => c.type === type && c.status !== 'False')

function requestPem(csr: ApiObject): string {
  return Buffer.from(String(csr.spec?.request ?? ''), 'base64').toString('utf8')
}

/** The node an agent's CSR may be approved for, or why not (undefined: approvable for that node). */
export function approvalRefusal(
  csr: ApiObject,
  req: CsrRequest,
  nodeAddresses: (node: string) => string[] | undefined,
): string | undefined {
  const spec = csr.spec ?? {}
  if (spec.signerName !== AGENT_SIGNER) return `signer ${String(spec.signerName)} is not ${AGENT_SIGNER}`
  if (spec.username !== AGENT_SERVICE_ACCOUNT)
    return `requested by ${String(spec.username)}, not ${AGENT_SERVICE_ACCOUNT}`
  const extra = isRec(spec.extra) ? spec.extra[NODE_NAME_EXTRA] : undefined
  const node = Array.isArray(extra) && typeof extra[0] === 'string' ? extra[0] : undefined
  if (!node) return 'the requester’s token is bound to no node'
  const addresses = nodeAddresses(node)
  if (!addresses) return `node ${node} does not exist`
  if (req.subject !== `CN=${agentCommonName(node)}`) return `subject ${req.subject} is not CN=${agentCommonName(node)}`
  if (req.other.length) return `SANs other than IP and DNS: ${req.other.join(', ')}`
  if (req.ips.length === 0) return 'no IP SAN'
  const foreign = req.ips.filter((ip) => !addresses.includes(ip))
  if (foreign.length) return `IP SANs ${foreign.join(', ')} are not addresses of node ${node}`
  const names = req.dns.filter((d) => d !== node)
  if (names.length) return `DNS SANs ${names.join(', ')} are not node ${node}'s name`
  const usages = Array.isArray(spec.usages) ? spec.usages.map(String) : []
  if (!usages.includes('server auth') || usages.some((u) => !SERVING_USAGES.has(u)))
    return `usages ${usages.join(', ')} are not a server's`
  return undefined
}

/** Signs agents' CSRs with the cluster CA (files: the key never leaves them). */
export class CsrSigner {
  constructor(readonly ca: {certFile: string; keyFile: string}) {}

  /** The request's subject and SANs, once its self-signature is checked. */
  async inspect(pem: string): Promise<CsrRequest> {
    const out = (
      await runOk(
        'openssl',
        [
          'req',
          '-noout',
          '-verify',
          '-subject',
          '-nameopt',
          'RFC2253',
          '-reqopt',
          'no_header,no_version,no_subject,no_pubkey,no_sigdump',
          '-text',
        ],
        {input: pem, timeoutMs: 30_000},
      )
    ).stdout
    const lines = out.split('\n')
    const subject =
      lines
        .find((l) => l.startsWith('subject='))
        ?.slice('subject='.length)
        .trim() ?? ''
    const at = lines.findIndex(
      (l) =>
        l.trim() === 'X509v3 Subject Alternative Name:' || l.trim() === 'X509v3 Subject Alternative Name: critical',
    )
    const req: CsrRequest = {subject, ips: [], dns: [], other: []}
    if (at < 0) return req
    for (const item of (lines[at + 1] ?? '')
      .split(', ')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const ip = /^IP Address:(.+)$/.exec(item)?.[1]
      const dns = /^DNS:([A-Za-z0-9.-]+)$/.exec(item)?.[1]
      if (ip && isIP(ip)) req.ips.push(normalizeIp(ip))
      else if (dns) req.dns.push(dns)
      else req.other.push(item)
    }
    return req
  }

  /** The certificate (PEM) for a checked request. */
  async sign(pem: string, req: CsrRequest, usages: readonly string[], seconds?: number): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'cnidbg-csr-'))
    try {
      const ext = join(dir, 'ext.cnf')
      const keyUsage = ['digitalSignature', ...(usages.includes('key encipherment') ? ['keyEncipherment'] : [])]
      const san = [...req.ips.map((ip) => `IP:${ip}`), ...req.dns.map((d) => `DNS:${d}`)].join(',')
      writeFileSync(
        ext,
        [
          'basicConstraints=critical,CA:FALSE',
          `keyUsage=critical,${keyUsage.join(',')}`,
          'extendedKeyUsage=serverAuth',
          `subjectAltName=${san}`,
          'authorityKeyIdentifier=keyid',
          '',
        ].join('\n'),
      )
      const days = Math.max(1, Math.ceil(Math.min(seconds ?? MAX_SECONDS, MAX_SECONDS) / 86_400))
      const r = await runOk(
        'openssl',
        [
          'x509',
          '-req',
          '-CA',
          this.ca.certFile,
          '-CAkey',
          this.ca.keyFile,
          '-set_serial',
          `0x${randomBytes(16).toString('hex')}`,
          '-days',
          String(days),
          '-extfile',
          ext,
        ],
        {input: pem, timeoutMs: 30_000},
      )
      return r.stdout
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  }

  /**
   * What the approver and the signer do with a CSR just created or just approved: the status to
   * store (conditions and certificate), or undefined when nothing changes.
   */
  async process(
    csr: ApiObject,
    nodeAddresses: (node: string) => string[] | undefined,
    now = new Date(),
  ): Promise<Rec | undefined> {
    if (csr.spec?.signerName !== AGENT_SIGNER || has(csr, 'Denied') || has(csr, 'Failed')) return undefined
    if (isRec(csr.status) && csr.status.certificate) return undefined
    const stamp = now.toISOString().replace(/\.\d{3}Z$/, 'Z')
    const condition = (type: string, reason: string, message: string): Rec => ({
      type,
      status: 'True',
      reason,
      message,
      lastUpdateTime: stamp,
      lastTransitionTime: stamp,
    })
    const conditions = conditionsOf(csr)
    let req: CsrRequest
    try {
      req = await this.inspect(requestPem(csr))
    } catch (error) {
      return {
        conditions: [
          ...conditions,
          condition('Failed', 'SignerValidationFailure', (error as Error).message.slice(-300)),
        ],
      }
    }
    if (!has(csr, 'Approved')) {
      if (approvalRefusal(csr, req, nodeAddresses)) return undefined
      conditions.push(condition('Approved', 'AutoApproved', 'an agent’s serving certificate for its own node'))
    }
    if (req.other.length || req.ips.length + req.dns.length === 0 || !/^CN=cnidbg-agent:[a-z0-9.-]+$/.test(req.subject))
      return {
        conditions: [
          ...conditions,
          condition('Failed', 'SignerValidationFailure', `not an agent's serving certificate: ${req.subject}`),
        ],
      }
    const usages = Array.isArray(csr.spec?.usages) ? csr.spec.usages.map(String) : []
    if (!usages.includes('server auth') || usages.some((u) => !SERVING_USAGES.has(u)))
      return {
        conditions: [...conditions, condition('Failed', 'SignerValidationFailure', `usages ${usages.join(', ')}`)],
      }
    const seconds = typeof csr.spec?.expirationSeconds === 'number' ? csr.spec.expirationSeconds : undefined
    const cert = await this.sign(requestPem(csr), req, usages, seconds)
    return {conditions, certificate: Buffer.from(cert).toString('base64')}
  }
}

function normalizeIp(ip: string): string {
  const p = parseIP(ip)
  return p ? formatIP(p) : ip.toLowerCase()
}

/** A Node's addresses: its InternalIP and ExternalIP addresses and the cnidbg.dev/node-ip annotation. */
export function nodeAddressesOf(node: ApiObject | undefined): string[] | undefined {
  if (!node) return undefined
  const out = new Set<string>()
  const ann = node.metadata.annotations?.['cnidbg.dev/node-ip']
  if (ann && isIP(ann)) out.add(normalizeIp(ann))
  const addrs = isRec(node.status) && Array.isArray(node.status.addresses) ? node.status.addresses : []
  for (const a of addrs)
    if (
      isRec(a) &&
      (a.type === 'InternalIP' || a.type === 'ExternalIP') &&
      typeof a.address === 'string' &&
      isIP(a.address)
    )
      out.add(normalizeIp(a.address))
  return [...out]
}
