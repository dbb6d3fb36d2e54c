import {Args, Flags} from '@oclif/core'

import {BaseCommand, describe} from '../cli/base-command.js'
import {UsageError} from '../core/errors.js'
import {EXIT} from '../core/exit-codes.js'
import {trace, type TraceResult} from '../services/trace.js'
import {renderDot, renderMermaid, renderText} from '../ui/trace/index.js'

export default class Trace extends BaseCommand<TraceResult> {
  static override args = {
    podA: Args.string({description: 'Source pod: NAME, NAMESPACE/NAME or a pod IP.', required: true}),
    podB: Args.string({
      description: 'Destination: a pod (NAME, NAMESPACE/NAME or a pod IP) or a Service (svc/NAME, svc/NAMESPACE/NAME).',
      required: true,
    }),
  }

  static override description = describe(
    `Explains and tests pod-to-pod reachability hop by hop, in both directions, and names the hop and the reason where a packet dies.

It resolves both pods through the Kubernetes API (node, pod IP, phase), then reads each node where this machine can enter its namespaces (finding a pod by its IP, by the host veth its node routes that IP through, or by the CNI result cache, so a pod that lost its address is still found) and through the node's agent otherwise (cnidbg agent, deploy/30-agent.yaml: https://<node IP>:10265, trusted through the cluster CA of the kubeconfig, which issued its certificate, or by --agent-ca or --agent-fingerprint; --agents-only for every node). A node whose agent can't be read is named, with why, and the verdict is then unknown rather than a guessed fault. It builds the path from the kernel's own state: pod eth0 → host veth → the node's routing decision (ip route get … iif, so the kernel decides) → neighbour → FDB → VXLAN encap → underlay → decap (or the next hop in host-gw mode, or in vpc mode the VPC router, named vpc-router: its source/destination check and its route table) → the remote node's routing → veth → pod, checking link state and MTU, addresses, ip_forward and effective rp_filter, the netfilter verdict, and neighbour/FDB entries against the nodes' annotations. Then it injects ICMP and TCP (and UDP) probes plus DF-set size probes from pod-a, watches each hop, and reads the kernel's drop reason from the skb:kfree_skb tracepoint. Verdict reasons: link-down, address-missing, no-route, wrong-route, no-neighbor, no-fdb, stale-fdb, filtered, forwarding-disabled, rp-filter, mtu, underlay-blocked, no-listener, route-table-missing, src-dst-check, bgp-peer-down, route-not-advertised, policy-denied (a drop in the node daemon's NetworkPolicy chains, fault.policy naming the NetworkPolicy), no-endpoints, service-not-programmed, conntrack-invalid, intermittent (the probes failed and the same probe sent again got through), unknown. In bgp mode a missing pod route is explained by the BGP session that should have brought it (the node daemons' /diag, or a node's agent: GET /v1/bgp): bgp-peer-down when it is not Established, route-not-advertised when it is and the owner does not announce its CIDR. In vpc mode a route-table-missing whose CreateRoute the table's quota refused says so.

A destination svc/NAME is a ClusterIP Service (--port: its service port, default its only one): trace walks the source node's nat rules as kube-proxy programs them (KUBE-SERVICES → KUBE-SVC-… → KUBE-SEP-… DNAT), connects to the ClusterIP and reads the endpoint chosen from conntrack, then traces on to that endpoint pod on its target port. no-endpoints: the Service has no ready endpoint; service-not-programmed: the node's nat rules don't DNAT its VIP:port; conntrack-invalid: a rule dropping conntrack state INVALID counted the flow's packets.`,
    {
      '0': 'reachable',
      '1': 'unreachable (the fault is reported)',
      '2': 'usage error (bad pod reference, unknown pod, pod not running)',
      '3': "environment (not root, no cluster reachable, pod namespace not found, a node's agent could not be read: verdict unknown)",
      '70': 'internal error in cnidbg',
    },
  )

  static override examples = [
    {command: '<%= config.bin %> trace pod-a pod-b', description: 'In the running lab (the default cluster)'},
    {
      command: '<%= config.bin %> trace default/web-0 kube-system/dns-1 --protocol tcp --port 53',
      description: 'Namespaced pods, one TCP port',
    },
    {
      command: '<%= config.bin %> trace 10.244.1.2 10.244.2.3 --static-only --json',
      description: 'By pod IP, kernel state only, JSON',
    },
    {
      command: '<%= config.bin %> trace pod-a svc/web',
      description: 'To a Service: the DNAT hop, the endpoint chosen, then the path to it',
    },
    {
      command: '<%= config.bin %> trace pod-a pod-b --format mermaid > path.md',
      description: 'A picture of the path with the fault marked',
    },
  ]

  static override flags = {
    format: Flags.string({
      default: 'text',
      options: ['text', 'mermaid', 'dot'],
      summary: 'Human output: hop-by-hop text, or a Mermaid/Graphviz picture.',
    }),
    kubeconfig: Flags.string({
      env: 'KUBECONFIG',
      summary: 'Cluster to ask. Default: the running lab, else ~/.kube/config.',
    }),
    lab: Flags.string({
      env: 'CNIDBG_LAB',
      summary: 'Lab whose cluster to use when no --kubeconfig is given. Default: the only lab running.',
    }),
    namespace: Flags.string({char: 'n', default: 'default', summary: 'Namespace of pods given without NAMESPACE/.'}),
    port: Flags.integer({
      min: 1,
      max: 65535,
      summary: 'TCP/UDP port (to a Service: its service port). Default: a temporary listener trace starts in pod-b.',
    }),
    protocol: Flags.string({options: ['icmp', 'tcp', 'udp'], summary: 'Probe one protocol. Default: ICMP and TCP.'}),
    size: Flags.integer({min: 0, max: 65000, summary: 'ICMP payload size, for MTU probes.'}),
    'static-only': Flags.boolean({summary: 'Read kernel state only; send no probes.'}),
    'agents-only': Flags.boolean({
      summary: "Read every node through its agent, none through this machine's namespaces.",
    }),
    'agent-port': Flags.integer({min: 1, max: 65535, default: 10265, summary: "The agents' port on the node IPs."}),
    'agent-ca': Flags.string({
      summary: "PEM file of the CA that signed the agents' certificates. Default: the kubeconfig's cluster CA.",
    }),
    'agent-timeout': Flags.integer({
      min: 1,
      max: 60,
      default: 5,
      summary: 'Seconds an agent may take to accept the connection before its node is reported unreadable.',
    }),
    'agent-url': Flags.string({
      multiple: true,
      summary: "NODE=URL: where a node's agent listens, instead of https://<node IP>:<agent port> (repeatable).",
    }),
    'agent-fingerprint': Flags.string({
      multiple: true,
      summary: "NODE=SHA256: a node agent's certificate fingerprint, as its log shows it (repeatable).",
    }),
  }

  static override summary = 'Where does a packet from pod-a to pod-b die, and why?'

  public async run(): Promise<TraceResult> {
    const {args, flags} = await this.parse(Trace)
    const result = await trace({
      kubeconfig: flags.kubeconfig,
      lab: flags.lab,
      namespace: flags.namespace,
      podA: args.podA,
      podB: args.podB,
      port: flags.port,
      protocol: flags.protocol as 'icmp' | 'tcp' | 'udp' | undefined,
      size: flags.size,
      staticOnly: flags['static-only'],
      agentsOnly: flags['agents-only'],
      agentPort: flags['agent-port'],
      agentCa: flags['agent-ca'],
      agentConnectTimeoutMs: flags['agent-timeout'] * 1000,
      agentFingerprints: perNode('--agent-fingerprint', 'SHA256', flags['agent-fingerprint'] ?? []),
      agentUrls: perNode('--agent-url', 'URL', flags['agent-url'] ?? []),
    })
    if (!this.jsonEnabled()) {
      const render = flags.format === 'mermaid' ? renderMermaid : flags.format === 'dot' ? renderDot : renderText
      this.log(render(result).replace(/\n$/, ''))
    }
    process.exitCode =
      result.verdict === 'reachable' ? EXIT.OK : result.verdict === 'unknown' ? EXIT.ENVIRONMENT : EXIT.FAILED
    return result
  }
}

/** NODE=VALUE flags, by node. */
function perNode(flag: string, what: string, values: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const v of values) {
    const i = v.indexOf('=')
    if (i < 1) throw new UsageError(`${flag} takes NODE=${what}, not ${v}`, {code: 'TRACE_AGENT_FLAG'})
    out[v.slice(0, i)] = v.slice(i + 1)
  }
  return out
}
