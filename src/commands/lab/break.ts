import {Args, Flags} from '@oclif/core'

import {BaseCommand, describe} from '../../cli/base-command.js'
import {type AppliedFault, faultCatalog, type FaultCatalogEntry, FAULTS, labBreak, pickLab} from '../../services/lab.js'
import {labFlag} from '../../cli/lab-flags.js'
import {renderBreak, renderCatalog} from '../../ui/text/lab.js'
import {UsageError} from '../../core/errors.js'

export type LabBreakResult = AppliedFault | {faults: FaultCatalogEntry[]}

export default class LabBreak extends BaseCommand<LabBreakResult> {
  static override args = {
    fault: Args.string({description: `The fault: ${FAULTS.map((f) => f.id).join(', ')}.`, required: false}),
  }

  static override description = describe(
    'Injects a fault into a running lab: a pod link down, a missing or wrong route, FDB or neighbour entry, an iptables drop, forwarding off, strict rp_filter on an asymmetric path, an underlay MTU black hole, a blocked VXLAN port, or a stopped daemon. Faults on state the node daemon manages stop that daemon first (it would repair them in seconds). Each fault is recorded in the lab state; `lab status` lists them and `lab heal` undoes them. --list describes every fault.',
  )

  static override examples = [
    '<%= config.bin %> lab break --list',
    '<%= config.bin %> lab break fdb-missing --node node1 --peer node2',
    '<%= config.bin %> lab break pod-link-down --pod pod-c',
    '<%= config.bin %> lab break vxlan-port-blocked --node node2 --json',
  ]

  static override flags = {
    list: Flags.boolean({summary: 'Describe every fault and exit.'}),
    name: labFlag,
    namespace: Flags.string({default: 'default', summary: "The pod's Kubernetes namespace (pod faults)."}),
    node: Flags.string({summary: 'Node to break (default node1; for pod faults, picks a pod on it).'}),
    peer: Flags.string({summary: 'The other node, for faults on a node-to-node channel (default: the next node).'}),
    pod: Flags.string({summary: 'Pod to break, for pod faults (default: the first pod).'}),
  }

  static override summary = 'Inject a fault into a lab.'

  public async run(): Promise<LabBreakResult> {
    const {args, flags} = await this.parse(LabBreak)
    if (flags.list) {
      const faults = faultCatalog()
      if (!this.jsonEnabled()) for (const l of renderCatalog(faults)) this.log(l)
      return {faults}
    }
    if (!args.fault)
      throw new UsageError('Name a fault, or pass --list.', {
        code: 'MISSING_FAULT',
        suggestions: ['cnidbg lab break --list'],
      })
    const name = pickLab(flags.name)
    const result = await labBreak({
      name,
      fault: args.fault,
      node: flags.node,
      pod: flags.pod,
      namespace: flags.namespace,
      peer: flags.peer,
    })
    if (!this.jsonEnabled()) for (const l of renderBreak(result, name)) this.log(l)
    return result
  }
}
