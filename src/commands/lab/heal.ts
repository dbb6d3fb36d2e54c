import {Args, Flags} from '@oclif/core'

import {BaseCommand, describe} from '../../cli/base-command.js'
import {EXIT} from '../../core/exit-codes.js'
import {labHeal, type LabHealResult} from '../../services/lab.js'
import {labFlag} from '../../cli/lab-flags.js'
import {renderHeal} from '../../ui/text/lab.js'

export default class LabHeal extends BaseCommand<LabHealResult> {
  static override args = {
    fault: Args.string({description: 'Heal only faults of this kind (default: every active fault).', required: false}),
  }

  static override description = describe(
    'Undoes faults injected with `lab break`, newest first, restoring what each one saved (routes, addresses, entries, sysctls, MTUs) and starting node daemons again once no remaining fault needs them stopped. Exits 1 if a fault could not be undone.',
  )

  static override examples = [
    '<%= config.bin %> lab heal',
    '<%= config.bin %> lab heal fdb-missing',
    '<%= config.bin %> lab heal --id 3f2a',
  ]

  static override flags = {
    id: Flags.string({summary: 'Heal only the fault with this id (see lab status).'}),
    name: labFlag,
    node: Flags.string({summary: 'Heal only faults on this node.'}),
    pod: Flags.string({summary: 'Heal only faults on this pod.'}),
  }

  static override summary = 'Undo injected faults.'

  public async run(): Promise<LabHealResult> {
    const {args, flags} = await this.parse(LabHeal)
    const result = await labHeal({name: flags.name, fault: args.fault, id: flags.id, node: flags.node, pod: flags.pod})
    if (result.failed.length > 0) process.exitCode = EXIT.FAILED
    if (!this.jsonEnabled()) for (const l of renderHeal(result)) this.log(l)
    return result
  }
}
