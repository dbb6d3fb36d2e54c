import {Args, Flags} from '@oclif/core'

import {BaseCommand, describe} from '../../../cli/base-command.js'
import {podRm, type PodRmResult} from '../../../services/lab.js'
import {MAX_TIMER_SECONDS} from '../../../cli/flags.js'
import {labFlag} from '../../../cli/lab-flags.js'
import {renderPodRm} from '../../../ui/text/lab.js'

export default class LabPodRm extends BaseCommand<PodRmResult> {
  static override args = {pod: Args.string({description: 'Pod name.', required: true})}

  static override description = describe(
    "Deletes a Pod object from the lab's API server. The node's kubelet stand-in runs CNI DEL and removes the pod's network namespace; the command returns once the namespace is gone.",
  )

  static override examples = ['<%= config.bin %> lab pod rm web']

  static override flags = {
    name: labFlag,
    namespace: Flags.string({default: 'default', summary: "The pod's Kubernetes namespace."}),
    timeout: Flags.integer({
      default: 60,
      max: MAX_TIMER_SECONDS,
      min: 1,
      summary: 'Seconds to wait for the namespace to go.',
    }),
  }

  static override summary = 'Remove a pod from a lab.'

  public async run(): Promise<PodRmResult> {
    const {args, flags} = await this.parse(LabPodRm)
    const result = await podRm({
      name: flags.name,
      pod: args.pod,
      namespace: flags.namespace,
      timeoutSeconds: flags.timeout,
    })
    if (!this.jsonEnabled()) for (const l of renderPodRm(result)) this.log(l)
    return result
  }
}
