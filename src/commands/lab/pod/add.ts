import {Args, Flags} from '@oclif/core'

import {BaseCommand, describe} from '../../../cli/base-command.js'
import {podAdd, type PodInfo} from '../../../services/lab.js'
import {MAX_TIMER_SECONDS} from '../../../cli/flags.js'
import {labFlag} from '../../../cli/lab-flags.js'
import {renderPodAdd} from '../../../ui/text/lab.js'

export default class LabPodAdd extends BaseCommand<PodInfo> {
  static override args = {
    pod: Args.string({description: 'Pod name (lower-case letters, digits, "-").', required: true}),
  }

  static override description = describe(
    "Creates a Pod object in the lab's API server, bound to a node (--node, or the node with the fewest pods). The node's kubelet stand-in then creates the pod's network namespace and runs CNI ADD; the command returns once the pod has an IP.",
  )

  static override examples = [
    '<%= config.bin %> lab pod add web',
    '<%= config.bin %> lab pod add db --node node2 --json',
  ]

  static override flags = {
    name: labFlag,
    namespace: Flags.string({default: 'default', summary: "The pod's Kubernetes namespace."}),
    node: Flags.string({summary: 'Node to run it on (default: the least loaded).'}),
    timeout: Flags.integer({
      default: 60,
      max: MAX_TIMER_SECONDS,
      min: 1,
      summary: 'Seconds to wait for the pod to get an IP.',
    }),
  }

  static override summary = 'Add a pod to a lab.'

  public async run(): Promise<PodInfo> {
    const {args, flags} = await this.parse(LabPodAdd)
    const result = await podAdd({
      name: flags.name,
      pod: args.pod,
      node: flags.node,
      namespace: flags.namespace,
      timeoutSeconds: flags.timeout,
    })
    if (!this.jsonEnabled()) for (const l of renderPodAdd(result)) this.log(l)
    return result
  }
}
