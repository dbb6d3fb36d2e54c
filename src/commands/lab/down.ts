import {BaseCommand, describe} from '../../cli/base-command.js'
import {labDown, type LabDownResult} from '../../services/lab.js'
import {labFlag} from '../../cli/lab-flags.js'
import {renderDown} from '../../ui/text/lab.js'

export default class LabDown extends BaseCommand<LabDownResult> {
  static override description = describe(
    'Removes a lab completely: stops its API server, daemons and kubelet stand-ins, deletes every namespace it made (cnidbg-lab-<name>-…) and its state directory. Works on a crashed lab too, and removes any other crashed lab on the way. A lab that does not exist is not an error.',
  )

  static override examples = ['<%= config.bin %> lab down', '<%= config.bin %> lab down --name gw']

  static override flags = {name: labFlag}

  static override summary = 'Remove a lab and everything it made.'

  public async run(): Promise<LabDownResult> {
    const {flags} = await this.parse(LabDown)
    const result = await labDown({name: flags.name})
    if (!this.jsonEnabled()) for (const l of renderDown(result)) this.log(l)
    return result
  }
}
