import {Flags} from '@oclif/core'

import {BaseCommand, describe} from '../../cli/base-command.js'
import {MAX_TIMER_SECONDS} from '../../cli/flags.js'
import {labNameFlag} from '../../cli/lab-flags.js'
import {renderUp} from '../../ui/text/lab.js'
import {
  LAB_MODES,
  LAB_UP_STEPS,
  type LabMode,
  type LabTopologyKind,
  labUp,
  type LabUpResult,
} from '../../services/lab.js'
import {renderSteps} from '../../ui/render-steps.js'
import {StepTracker} from '../../core/step-tracker.js'

export default class LabUp extends BaseCommand<LabUpResult> {
  static override description = describe(
    `Builds a small Kubernetes cluster out of network namespaces and leaves it running in the background: an underlay namespace with a bridge, one namespace per node (eth0 on the bridge, 198.18.0.1+N/24), a Kubernetes API server on 127.0.0.1, and per node the cnidbg daemon (vxlan or host-gw) and a kubelet stand-in that runs the reference CNI plugins for each pod through the runtime core. Returns when every pod has an IP.

Nothing is added to the root network namespace: the API server and node agents run there but act on node namespaces from outside. State is kept under /run/cnidbg/lab/<name>; a crashed lab is removed by the next lab up or lab down. Ctrl-C during lab up removes everything it made.`,
  )

  static override examples = [
    {command: '<%= config.bin %> lab up', description: '3 nodes × 2 pods, VXLAN overlay'},
    {
      command: '<%= config.bin %> lab up --nodes 2 --pods-per-node 1 --mode host-gw --name gw',
      description: 'A second, smaller lab with direct routes',
    },
    {
      command: '<%= config.bin %> lab up --json | jq -r ".result.kubeconfig"',
      description: 'Start it from a script and get the kubeconfig',
    },
    {
      command: '<%= config.bin %> lab up --held-by $$',
      description:
        'A lab that goes with the shell that started it: once the shell exits, the next lab up or lab down removes it',
    },
  ]

  static override flags = {
    mode: Flags.string({
      default: 'vxlan',
      options: [...LAB_MODES],
      summary:
        "How nodes reach each other's pods: VXLAN overlay, direct routes via node IPs, or routes learned over BGP (bird2 on every node).",
    }),
    topology: Flags.string({
      default: 'flat',
      options: ['flat', 'routed'],
      summary:
        'flat: every node on one L2 underlay. routed: two subnets joined by a router namespace (a BGP peer of every node in bgp mode), so pod routes cross an L3 hop.',
    }),
    'held-by': Flags.integer({
      env: 'CNIDBG_LAB_HELD_BY',
      min: 1,
      summary:
        'Tie the lab to a running process (its PID): once that process has exited, the lab counts as crashed, and the next lab up or lab down removes it. Until then no other command reaps it, even crashed: remove it with lab down --name. For a CI job or a test run that may be killed.',
    }),
    name: labNameFlag,
    nodes: Flags.integer({default: 3, max: 20, min: 1, summary: 'Number of nodes.'}),
    'pods-per-node': Flags.integer({default: 2, max: 50, min: 0, summary: 'Pods created on each node.'}),
    timeout: Flags.integer({
      default: 180,
      max: MAX_TIMER_SECONDS,
      min: 10,
      summary: 'Seconds to wait for the node agents, and then for every pod to get an IP.',
    }),
  }

  static override summary = 'Start a multi-node lab cluster in network namespaces.'

  public async run(): Promise<LabUpResult> {
    const {flags} = await this.parse(LabUp)
    const steps = new StepTracker(LAB_UP_STEPS)
    const view = renderSteps(steps, {
      json: this.jsonEnabled(),
      title: `Starting lab "${flags.name}" (${flags.mode}, ${flags.nodes} node${flags.nodes === 1 ? '' : 's'} × ${flags['pods-per-node']} pod${flags['pods-per-node'] === 1 ? '' : 's'})`,
    })
    let result: LabUpResult
    try {
      result = await labUp(
        {
          name: flags.name,
          nodes: flags.nodes,
          podsPerNode: flags['pods-per-node'],
          mode: flags.mode as LabMode,
          topology: flags.topology as LabTopologyKind,
          timeoutSeconds: flags.timeout,
          ...(flags['held-by'] === undefined ? {} : {heldBy: flags['held-by']}),
        },
        steps,
      )
    } finally {
      await view.stop()
    }
    if (!this.jsonEnabled()) for (const l of renderUp(result)) this.log(l)
    return result
  }
}
