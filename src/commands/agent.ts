import {Flags} from '@oclif/core'

import {BaseCommand, describe} from '../cli/base-command.js'
import {DEFAULT_AGENT_LISTEN, DEFAULT_CACHE_DIR, startAgentService, type RunAgentResult} from '../services/agent.js'
import {agentLogger, formatAgentStarted} from '../ui/text/agent.js'

export default class Agent extends BaseCommand<RunAgentResult> {
  static override description = describe(
    [
      'The node agent: one per node, a process apart from the routing daemon, so it answers while the daemon is stopped or broken. It serves over HTTPS what `cnidbg trace` reads of a node: links and addresses, routes and `ip route get` answers (with iif and from), neighbours and FDB, ip_forward and rp_filter, netfilter verdicts with counters and conntrack entries for a flow, and the pod namespaces on the node, found by pod IP, by the host veth the node routes the pod IP through, or by the CNI result cache (so a pod that lost its IP is still found). Live operations, each within 10 s: ICMP, TCP and UDP probes from a pod, temporary listeners in a pod, and watching a probe cross the node (tcpdump per device, counter deltas, skb:kfree_skb drop reasons). With --daemon-url, also the node daemon’s BGP sessions (GET /v1/bgp: the daemon’s /diag, asked with the caller’s own token, so the daemon’s gate decides too).',
      'Every request but GET /healthz is authenticated and authorized through the Kubernetes API before it is routed, as the kubelet and kube-rbac-proxy do it: the bearer token goes to a TokenReview, then its user to a SubjectAccessReview for nodes/proxy on this node (get to read, create to act). No token: 401; no permission: 403. Answers are cached for --auth-cache seconds, keyed by the token’s digest; tokens are never logged or answered. The agent’s own credentials (--kubeconfig, else in-cluster) need create on tokenreviews and subjectaccessreviews (deploy/ has the roles).',
      'At most --max-in-flight operations at once (429 beyond), each answered within 10 s, request bodies up to 1 MiB; a malformed request gets a 400. Without --tls-cert-file, an agent listening on a node IP asks the cluster for its serving certificate: a CertificateSigningRequest (signer cnidbg.dev/agent-serving, subject CN=cnidbg-agent:<node>, SAN the --listen IP), which needs create and get on certificatesigningrequests; trace checks such a certificate with the CA of its kubeconfig, with no flag (docs/deploy.md says how a cluster approves and signs it). Until it is signed, or with --no-csr, the certificate is self-signed at start, and callers pin the SHA-256 fingerprint it prints. With --json the result (URL, fingerprint, where the certificate comes from) is printed once the agent listens, and the log goes to stderr as JSON lines. It serves until SIGINT or SIGTERM.',
    ].join('\n\n'),
  )

  static override examples = [
    '<%= config.bin %> agent --node worker-1 --host-network --listen 10.0.0.11:10265',
    '<%= config.bin %> agent --node node1 --netns cnidbg-lab-lab-node1 --listen 127.0.0.1:0 --kubeconfig agent.kubeconfig --json | jq -r .result.fingerprint',
    '<%= config.bin %> agent --node "$NODE_NAME" --host-network --tls-cert-file /etc/cnidbg/tls.crt --tls-private-key-file /etc/cnidbg/tls.key --audience cnidbg-agent',
  ]

  static override flags = {
    node: Flags.string({
      required: true,
      env: 'NODE_NAME',
      summary: 'This node’s Node name (the object of the access reviews). Default: $NODE_NAME.',
    }),
    listen: Flags.string({
      default: DEFAULT_AGENT_LISTEN,
      summary: 'HOST:PORT to serve HTTPS on (port 0: any free one).',
    }),
    kubeconfig: Flags.string({
      summary: 'The agent’s own credentials. Default: $KUBECONFIG, ~/.kube/config or in-cluster.',
    }),
    netns: Flags.string({exclusive: ['host-network'], summary: 'The node’s network namespace (a lab node).'}),
    'host-network': Flags.boolean({summary: 'Read the namespace the agent runs in (a real node).'}),
    'tls-cert-file': Flags.string({dependsOn: ['tls-private-key-file'], summary: 'Serving certificate (PEM).'}),
    'tls-private-key-file': Flags.string({dependsOn: ['tls-cert-file'], summary: 'Its private key (PEM).'}),
    csr: Flags.boolean({
      default: true,
      allowNo: true,
      summary: 'Ask the cluster for the serving certificate (a CertificateSigningRequest) when no files are given.',
    }),
    'cni-cache-dir': Flags.string({default: DEFAULT_CACHE_DIR, summary: 'libcni’s cache directory (holds results/).'}),
    'daemon-url': Flags.string({
      summary:
        'The node daemon’s base URL (http://NODE_IP:10266): GET /v1/bgp asks its /diag, with the caller’s token, for the BGP sessions.',
    }),
    audience: Flags.string({
      multiple: true,
      summary: 'Accept only tokens minted for this audience (repeatable). Default: the API server’s own.',
    }),
    'max-in-flight': Flags.integer({default: 4, min: 1, max: 64, summary: 'Operations at once.'}),
    'auth-cache': Flags.integer({default: 10, min: 0, max: 300, summary: 'Seconds a review answer is reused.'}),
  }

  static override summary = 'Serve a node’s kernel state to trace over HTTPS, for callers with nodes/proxy.'

  public async run(): Promise<RunAgentResult> {
    const {flags} = await this.parse(Agent)
    const json = this.jsonEnabled()
    const result = await startAgentService({
      node: flags.node,
      listen: flags.listen,
      kubeconfigPath: flags.kubeconfig,
      netns: flags.netns,
      hostNetwork: flags['host-network'] ?? false,
      tlsCertFile: flags['tls-cert-file'],
      tlsKeyFile: flags['tls-private-key-file'],
      csr: flags.csr,
      cniCacheDir: flags['cni-cache-dir'],
      daemonUrl: flags['daemon-url'],
      audiences: flags.audience,
      maxInFlight: flags['max-in-flight'],
      authCacheSeconds: flags['auth-cache'],
      log: agentLogger({json, node: flags.node}),
    })
    if (!json) this.log(formatAgentStarted(result))
    return result
  }
}
