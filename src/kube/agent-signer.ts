/**
 * `cnidbg agent-signer`: the approver and signer of the node agents' CSRs (signer
 * `cnidbg.dev/agent-serving`) that a real cluster runs, as kube-controller-manager runs them for its
 * own signers. kube-controller-manager signs only its built-in signers, so without this the agents'
 * CSRs stay pending and trace can't trust them through the cluster CA (docs/deploy.md, "Trusting the
 * agents"). The decisions are the lab API server's (src/kube/agent-signing.ts): an agent's CSR for
 * its own node is approved and signed at once; one a person approved (`kubectl certificate approve`)
 * is signed if it is an agent's serving certificate; anything else stays pending, and is reported.
 *
 * It watches CSRs (a list+watch that survives API outages, informers.ts), and makes one pass over
 * the unsigned ones of its signer after every change and every `resyncMs`. Approving goes through
 * the CSR's approval subresource and the certificate through its status, as kube-apiserver wants
 * them: its role needs `approve` and `sign` on signers/cnidbg.dev/agent-serving
 * (deploy/optional/40-agent-signer.yaml).
 */
import {AGENT_SIGNER} from './agent-csr.js'
import {approvalRefusal, conditionsOf, CsrSigner, nodeAddressesOf, type ApiObject} from './agent-signing.js'
import {CertificatesV1Api, CoreV1Api, type KubeConfig, type V1CertificateSigningRequest} from './client.js'
import {WatchedCollection} from './informers.js'
import {redact} from './redact.js'

/** What one pass did with one CSR. */
export interface SignerEvent {
  csr: string
  /** signed (and approved first, if it was not); pending (not approvable: `why`); failed (the signer refused); error (an API call failed; tried again next pass). */
  outcome: 'signed' | 'pending' | 'failed' | 'error'
  /** The CSR was approved by this pass. */
  approved?: boolean
  why?: string
}

export interface AgentSignerOptions {
  kc: KubeConfig
  ca: {certFile: string; keyFile: string}
  log?: (event: SignerEvent) => void
  /** Full relist and pass period (a watch that died silently, a Node that changed). */
  resyncMs?: number
}

const refused = (csr: ApiObject) =>
  conditionsOf(csr).some((c) => (c.type === 'Denied' || c.type === 'Failed') && c.status !== 'False')

export class AgentSigner {
  private readonly signer: CsrSigner
  private readonly certs: CertificatesV1Api
  private readonly core: CoreV1Api
  /** name → resourceVersion of the CSRs a pass left pending: reported once, until they change. */
  private readonly pendingSeen = new Map<string, string>()
  private csrs: WatchedCollection<V1CertificateSigningRequest> | undefined
  private running: Promise<void> | undefined
  private again = false

  constructor(private readonly opts: AgentSignerOptions) {
    this.signer = new CsrSigner(opts.ca)
    this.certs = opts.kc.makeApiClient(CertificatesV1Api)
    this.core = opts.kc.makeApiClient(CoreV1Api)
  }

  /**
   * One pass over the unsigned CSRs of the agents' signer (`items`, else listed now). Resolves with
   * what it did to each, a pending one only the first time it is seen at its resourceVersion.
   */
  async pass(items?: readonly V1CertificateSigningRequest[]): Promise<SignerEvent[]> {
    const csrs = (items ?? (await this.certs.listCertificateSigningRequest()).items)
      .map((c) => c as unknown as ApiObject)
      .filter((c) => c.spec?.signerName === AGENT_SIGNER && !c.status?.certificate && !refused(c))
    // Forget the CSRs that are gone or done (the garbage collector removes old ones).
    const open = new Set(csrs.map((c) => c.metadata.name ?? ''))
    for (const name of this.pendingSeen.keys()) if (!open.has(name)) this.pendingSeen.delete(name)
    if (!csrs.length) return []
    const nodes = new Map(
      (await this.core.listNode()).items.map((n) => [n.metadata?.name ?? '', nodeAddressesOf(n as ApiObject)]),
    )
    const addresses = (node: string) => nodes.get(node)
    const events: SignerEvent[] = []
    for (const csr of csrs) {
      const name = csr.metadata.name ?? ''
      const version = String((csr.metadata as {resourceVersion?: string}).resourceVersion ?? '')
      try {
        const status = await this.signer.process(csr, addresses)
        if (!status) {
          if (this.pendingSeen.get(name) === version) continue
          this.pendingSeen.set(name, version)
          const req = await this.signer.inspect(Buffer.from(String(csr.spec?.request ?? ''), 'base64').toString('utf8'))
          events.push({csr: name, outcome: 'pending', why: approvalRefusal(csr, req, addresses) ?? 'not approved'})
          continue
        }
        this.pendingSeen.delete(name)
        const conditions = (status.conditions ?? []) as Array<{type?: string}>
        const approved =
          conditions.some((c) => c.type === 'Approved') && !conditionsOf(csr).some((c) => c.type === 'Approved')
        let current = csr as unknown as V1CertificateSigningRequest
        if (approved)
          current = await this.certs.replaceCertificateSigningRequestApproval({
            name,
            body: {...current, status: {...current.status, conditions: conditions as never}},
          })
        const failed = conditions.find((c) => c.type === 'Failed') as {message?: string} | undefined
        current = await this.certs.replaceCertificateSigningRequestStatus({
          name,
          body: {
            ...current,
            status: {
              ...current.status,
              conditions: conditions as never,
              ...(status.certificate ? {certificate: String(status.certificate)} : {}),
            },
          },
        })
        events.push(
          failed
            ? {csr: name, outcome: 'failed', approved, why: failed.message ?? 'refused by the signer'}
            : {csr: name, outcome: 'signed', approved},
        )
      } catch (error) {
        events.push({csr: name, outcome: 'error', why: redact((error as Error).message).slice(0, 300)})
      }
    }
    for (const e of events) this.opts.log?.(e)
    return events
  }

  /** Watches CSRs and passes over them after every change, until stop(). */
  start(): void {
    if (this.csrs) return
    this.csrs = new WatchedCollection<V1CertificateSigningRequest>(
      this.opts.kc,
      '/apis/certificates.k8s.io/v1/certificatesigningrequests',
      () => this.certs.listCertificateSigningRequest(),
      {
        onChange: () => this.schedule(),
        resyncMs: this.opts.resyncMs ?? 60_000,
        log: (line) => this.opts.log?.({csr: '', outcome: 'error', why: line}),
      },
    )
    this.csrs.start()
  }

  /** Stops watching, once the pass under way is done. */
  async stop(): Promise<void> {
    const csrs = this.csrs
    this.csrs = undefined
    await csrs?.stop()
    await this.running
  }

  /** One pass at a time; a change during one makes one more after it. */
  private schedule(): void {
    if (this.running) {
      this.again = true
      return
    }
    this.running = (async () => {
      do {
        this.again = false
        await this.pass(this.csrs?.list()).catch((error: unknown) =>
          this.opts.log?.({csr: '', outcome: 'error', why: redact((error as Error).message).slice(0, 300)}),
        )
      } while (this.again && this.csrs)
    })().finally(() => {
      this.running = undefined
    })
  }
}
