/**
 * The node agents' serving certificates, issued through the Kubernetes API (docs/deploy.md,
 * "Trusting the agents"): an agent sends a certificates.k8s.io/v1 CertificateSigningRequest for its
 * node IP(s) to a signer of its own, `cnidbg.dev/agent-serving`, and serves the certificate the
 * cluster issues; trace then checks an agent with the CA of its kubeconfig, the node IP as the name
 * and the subject below, so no fingerprint or CA has to be handed around.
 *
 * The names here are shared by the agent (which asks), the lab's API server (which approves and
 * signs, as a cluster's approver and signer would) and trace (which checks); the client is loaded
 * only when a request is made.
 */
import type {KubeConfig} from './client.js'

/** The signer the agents' CSRs name: no built-in signer of kube-controller-manager signs for it. */
export const AGENT_SIGNER = 'cnidbg.dev/agent-serving'

/** The identity the agents run as (deploy/10-rbac.yaml). */
export const AGENT_SERVICE_ACCOUNT = 'system:serviceaccount:cnidbg:cnidbg-agent'

/** The key usages an agent asks for: a TLS server's, nothing else. */
export const AGENT_USAGES = ['digital signature', 'server auth'] as const

/**
 * The subject common name of a node's agent certificate. trace requires it, so a certificate the
 * same CA issued for anything else on that IP (a kubelet's serving certificate) is not an agent's.
 */
export const agentCommonName = (node: string): string => `cnidbg-agent:${node}`

/** What a CSR came to, as `kubectl get csr` shows it. */
export interface CsrState {
  name: string
  /** The issued certificate (PEM), once signed. */
  certificate?: string
  /** `Denied` or `Failed`, with the condition's message. */
  refused?: string
}

type CsrObject = {
  metadata?: {name?: string}
  status?: {certificate?: string; conditions?: Array<{type?: string; status?: string; message?: string}>}
}

function stateOf(name: string, o: CsrObject): CsrState {
  const refused = o.status?.conditions?.find(
    (c) => (c.type === 'Denied' || c.type === 'Failed') && c.status !== 'False',
  )
  return {
    name,
    ...(o.status?.certificate ? {certificate: Buffer.from(o.status.certificate, 'base64').toString('utf8')} : {}),
    ...(refused ? {refused: `${refused.type}: ${refused.message ?? ''}`.trim()} : {}),
  }
}

/** Creates the CSR (PEM `request`); a signer that answers at once leaves the certificate in it. */
export async function createAgentCsr(
  kc: KubeConfig,
  opts: {name: string; request: string; expirationSeconds?: number},
): Promise<CsrState> {
  const {KubernetesObjectApi} = await import('./client.js')
  const api = KubernetesObjectApi.makeApiClient(kc)
  const created = (await api.create({
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: {name: opts.name},
    spec: {
      request: Buffer.from(opts.request).toString('base64'),
      signerName: AGENT_SIGNER,
      usages: [...AGENT_USAGES],
      ...(opts.expirationSeconds ? {expirationSeconds: opts.expirationSeconds} : {}),
    },
  } as never)) as CsrObject
  return stateOf(opts.name, created)
}

/** Reads the CSR again: for a signer that answers later (an approval by hand, a controller). */
export async function readAgentCsr(kc: KubeConfig, name: string): Promise<CsrState> {
  const {KubernetesObjectApi} = await import('./client.js')
  const api = KubernetesObjectApi.makeApiClient(kc)
  const o = (await api.read({
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: {name},
  } as never)) as CsrObject
  return stateOf(name, o)
}
