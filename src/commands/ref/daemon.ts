import {Flags} from '@oclif/core'

import {BaseCommand, describe} from '../../cli/base-command.js'
import {MAX_TIMER_SECONDS} from '../../cli/flags.js'
import {
  BACKEND_TYPES,
  type BackendType,
  DEFAULT_CLUSTER_CIDR,
  DEFAULT_IFACE,
  DEFAULT_LISTEN,
  DEFAULT_RESYNC_SECONDS,
  DEFAULT_STATE_DIR,
  DEFAULT_SUBNET_FILE,
  DEFAULT_VXLAN_PORT,
  POLICY_MODES,
  type PolicyMode,
  runDaemon,
  type RunDaemonResult,
  settleDaemon,
} from '../../services/daemon.js'
import {daemonLogger, formatDaemonResult} from '../../ui/text/daemon.js'

export default class RefDaemon extends BaseCommand<RunDaemonResult> {
  static override description = describe(
    [
      'The reference node daemon (what flanneld is to flannel): one per node. It watches Nodes and Pods, takes the node’s pod CIDR from spec.podCIDR, writes the subnet file the IPAM plugin reads (CNIDBG_NETWORK, CNIDBG_SUBNET, CNIDBG_MTU), publishes cnidbg.dev/node-ip, cnidbg.dev/backend-type and (vxlan) cnidbg.dev/vtep-mac on its Node, and keeps the channels to every other node programmed.',
      'vxlan: a VTEP cnidbg.<VNI> (UDP 8472, MTU = underlay − 50, MAC kept across restarts) and per peer a permanent neighbour, an FDB entry and an onlink route. host-gw: per peer a route to its pod CIDR via its node IP (all nodes on one L2 segment).',
      "It reconciles on every watch event and, in vxlan and host-gw mode, on every change `ip monitor` reports to its routes, its VTEP's neighbour and FDB entries, the VTEP or the underlay, so a deleted or stale entry is repaired as soon as it happens. A full check also runs every 30 s (vxlan, host-gw) or every --interval seconds (bgp, vpc, whose state is not all in the kernel, and any mode while ip monitor is down). It only touches what it owns: routes with proto 205, and the neighbour/FDB tables of its VTEP. /healthz (open) and /diag (read-only JSON, for a bearer token the API server allows get nodes/proxy on this node) are served on --listen; the bound address is also written to <state-dir>/<node>/listen.",
      "In bgp mode the daemon runs bird2 (Debian package bird2) in the node's namespace, with its config, control socket and pid file under <state-dir>/<node>/bird/, restarts it when it dies, and rewrites its config (then `birdc configure`) when the nodes change: an iBGP full mesh (AS --bgp-as), or route reflectors for nodes labelled cnidbg.dev/route-reflector=true, plus any --bgp-peer and, with --bgp-peer-gateway, the next hop of each of the node’s own routes on --iface (found anew on every reconcile). Learned routes are `proto bird`; /diag shows every session's state.",
      'A lab node is a network namespace: pass --netns and the daemon programs it with `ip -n`, staying in its own namespace. On a real node (the daemon runs in the host network namespace, e.g. a hostNetwork DaemonSet) pass --host-network; without one of the two it refuses to start.',
    ].join('\n\n'),
  )

  static override examples = [
    '<%= config.bin %> ref daemon --node lab-1 --kubeconfig /run/cnidbg/lab/kubeconfig --mode vxlan --netns cnidbg-lab-n1 --subnet-file /run/cnidbg/lab/n1/subnet.env',
    '<%= config.bin %> ref daemon --node worker-3 --host-network --mode host-gw --iface ens5 --listen unix:/run/cnidbg/daemon.sock',
    '<%= config.bin %> ref daemon --node lab-1 --netns cnidbg-lab-n1 --kubeconfig kc.yaml --once --json | jq .result.diag.peers',
    '<%= config.bin %> ref daemon --node rack1-3 --host-network --mode bgp --bgp-peer 10.0.1.1 --kubeconfig kc.yaml',
  ]

  static override flags = {
    node: Flags.string({required: true, summary: 'This node’s Node object name.'}),
    kubeconfig: Flags.string({summary: 'Kubeconfig file. Default: $KUBECONFIG, ~/.kube/config or in-cluster.'}),
    mode: Flags.string({default: 'vxlan', options: [...BACKEND_TYPES], summary: 'How pod traffic crosses nodes.'}),
    netns: Flags.string({exclusive: ['host-network'], summary: 'The node’s network namespace (a lab node).'}),
    'host-network': Flags.boolean({summary: 'Program the namespace the daemon runs in (a real node).'}),
    iface: Flags.string({
      default: DEFAULT_IFACE,
      summary: 'Underlay interface: its IPv4 is the node IP, its MTU the base MTU.',
    }),
    'cluster-cidr': Flags.string({default: DEFAULT_CLUSTER_CIDR, summary: 'The whole pod network (CNIDBG_NETWORK).'}),
    'subnet-file': Flags.string({
      default: DEFAULT_SUBNET_FILE,
      summary: 'Where to write the subnet file (one per node).',
    }),
    'state-dir': Flags.string({
      default: DEFAULT_STATE_DIR,
      summary: 'Keeps <node>/vtep.json (the VTEP MAC) and <node>/listen.',
    }),
    listen: Flags.string({
      default: DEFAULT_LISTEN,
      summary: 'HOST:PORT (port 0 = any free one) or unix:/path for /healthz and /diag.',
    }),
    resync: Flags.integer({
      default: DEFAULT_RESYNC_SECONDS,
      max: MAX_TIMER_SECONDS,
      min: 0,
      summary: 'Relist Nodes and Pods from the API server every this many seconds (0 = never).',
    }),
    interval: Flags.integer({
      default: 3,
      max: MAX_TIMER_SECONDS,
      min: 1,
      summary: 'Seconds between drift checks when ip monitor cannot report the changes (bgp, vpc, or it is down).',
    }),
    vni: Flags.integer({default: 1, min: 1, max: 16_777_215, summary: 'VXLAN network identifier (VTEP cnidbg.<vni>).'}),
    'vxlan-port': Flags.integer({default: DEFAULT_VXLAN_PORT, min: 1, max: 65_535, summary: 'VXLAN UDP port.'}),
    'bgp-as': Flags.integer({default: 64512, min: 1, summary: 'bgp mode: the cluster’s AS number (iBGP).'}),
    'bgp-peer': Flags.string({
      multiple: true,
      summary: 'bgp mode: an extra iBGP peer (a router that must learn the pod CIDRs); repeatable.',
    }),
    'bgp-peer-gateway': Flags.boolean({
      summary:
        'bgp mode: also peer with the next hop of each of the node’s own routes on --iface (its default gateway, or the router between underlay subnets).',
    }),
    'network-policy': Flags.string({
      default: 'auto',
      options: [...POLICY_MODES],
      summary:
        'Enforce NetworkPolicies: auto = when the API server serves them (iptables chains CNIDBG-NP-*); off = never.',
    }),
    'vpc-api': Flags.string({summary: '--mode vpc: base URL of the route-table API (a lab’s router.apiUrl).'}),
    once: Flags.boolean({summary: 'Reconcile until healthy (at most --once-timeout s), print the diagnostics, stop.'}),
    'once-timeout': Flags.integer({
      default: 60,
      max: MAX_TIMER_SECONDS,
      min: 1,
      summary: 'Seconds --once waits for a healthy state.',
    }),
    verbose: Flags.boolean({char: 'v', summary: 'Also log every reconcile pass.'}),
  }

  static override summary = 'Run the reference node daemon (subnet file, annotations, routes/VTEP).'

  public async run(): Promise<RunDaemonResult> {
    const {flags} = await this.parse(RefDaemon)
    const json = this.jsonEnabled()
    const result = await runDaemon({
      nodeName: flags.node,
      mode: flags.mode as BackendType,
      kubeconfigPath: flags.kubeconfig,
      netns: flags.netns,
      hostNetwork: flags['host-network'] ?? false,
      iface: flags.iface,
      clusterCidr: flags['cluster-cidr'],
      subnetFile: flags['subnet-file'],
      stateDir: flags['state-dir'],
      listen: flags.listen,
      resyncSeconds: flags.resync,
      reconcileIntervalMs: flags.interval * 1000,
      vni: flags.vni,
      vpcApi: flags['vpc-api'],
      vxlanPort: flags['vxlan-port'],
      bgpAs: flags['bgp-as'],
      bgpPeers: flags['bgp-peer'] ?? [],
      bgpPeerGateway: flags['bgp-peer-gateway'] ?? false,
      networkPolicy: flags['network-policy'] as PolicyMode,
      once: flags.once ?? false,
      onceTimeoutMs: flags['once-timeout'] * 1000,
      log: daemonLogger({json, verbose: flags.verbose ?? false, node: flags.node}),
    })
    if (!json) this.log(formatDaemonResult(result))
    process.exitCode = settleDaemon(result, json)
    return result
  }
}
