import {Flags} from '@oclif/core'

import {BaseCommand, describe} from '../cli/base-command.js'
import {runAgentSigner, type AgentSignerResult} from '../services/agent-signer.js'
import {formatSignerResult, signerLogger} from '../ui/text/agent-signer.js'

export default class AgentSigner extends BaseCommand<AgentSignerResult> {
  static override description = describe(
    [
      'The approver and signer of the node agents’ CertificateSigningRequests (signer cnidbg.dev/agent-serving) on a real cluster, as kube-controller-manager is for its own signers, which do not include this one. Without it the agents’ CSRs stay pending, and trace can trust an agent only through --agent-ca or a fingerprint.',
      'A CSR is approved without a person only when it is an agent’s asking for its own node: made by system:serviceaccount:cnidbg:cnidbg-agent with a token bound to a Node, subject CN=cnidbg-agent:<node>, IP SANs among that Node’s addresses, DNS SANs at most its name, a server’s usages. An approved CSR of the signer (also one a person approved with kubectl certificate approve) is signed with the CA given: CA:FALSE, server auth, its subject and SANs, for the asked expirationSeconds, at most a year. Anything else stays pending and is reported once, with why.',
      'It needs list and watch on certificatesigningrequests, update on their approval and status, approve and sign on signers/cnidbg.dev/agent-serving, and list on nodes (deploy/optional/40-agent-signer.yaml). The CA key never leaves its file: openssl signs with it.',
      'With --once it makes one pass and exits (a CronJob, or by hand on a control-plane node); otherwise it watches until SIGINT or SIGTERM, logging a line per CSR (JSON lines on stderr with --json).',
    ].join('\n\n'),
    {
      '0': 'done (--once)',
      '2': 'usage error (a file that can’t be read)',
      '3': 'environment (no openssl, no cluster reachable)',
      '70': 'internal error in cnidbg',
    },
  )

  static override examples = [
    '<%= config.bin %> agent-signer --once --ca-cert /etc/kubernetes/pki/ca.crt --ca-key /etc/kubernetes/pki/ca.key --kubeconfig /etc/kubernetes/admin.conf',
    '<%= config.bin %> agent-signer --ca-cert /etc/cnidbg/ca/tls.crt --ca-key /etc/cnidbg/ca/tls.key --json',
  ]

  static override flags = {
    'ca-cert': Flags.string({required: true, summary: 'The cluster CA certificate (PEM): the one kubeconfigs trust.'}),
    'ca-key': Flags.string({required: true, summary: 'Its private key (PEM).'}),
    kubeconfig: Flags.string({summary: 'Credentials. Default: $KUBECONFIG, ~/.kube/config or in-cluster.'}),
    once: Flags.boolean({summary: 'One pass over the unsigned CSRs, then exit.'}),
  }

  static override summary = 'Approve and sign the node agents’ certificate requests with the cluster CA.'

  public async run(): Promise<AgentSignerResult> {
    const {flags} = await this.parse(AgentSigner)
    const json = this.jsonEnabled()
    const result = await runAgentSigner({
      caCert: flags['ca-cert'],
      caKey: flags['ca-key'],
      kubeconfigPath: flags.kubeconfig,
      once: flags.once ?? false,
      log: flags.once ? undefined : signerLogger({json}),
    })
    if (!json) this.log(formatSignerResult(result))
    return result
  }
}
