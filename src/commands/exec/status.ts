import {Flags} from '@oclif/core'

import {describe} from '../../cli/base-command.js'
import {ExecCommand} from '../../cli/exec-command.js'
import {networkArgs, runtimeFlags} from '../../cli/flags.js'
import {execStatus, type ExecResult} from '../../services/exec.js'

export default class ExecStatus extends ExecCommand {
  static override args = {network: networkArgs.network}

  static override description = describe(
    'Asks every plugin whether it can serve ADD (SPEC §2 STATUS, cniVersion 1.1.0). Stops at the first plugin that says no (code 50/51). For older configs STATUS is not defined and succeeds without calling anything, as in libcni.',
  )

  static override examples = [
    '<%= config.bin %> exec status mynet',
    '<%= config.bin %> exec status --conf my.conflist --json',
  ]

  static override flags = {
    ...runtimeFlags,
    sandbox: Flags.string({summary: 'Run in this kept sandbox (id from add --sandbox).'}),
  }

  static override summary = 'STATUS: can the plugins serve ADD?'

  public async run(): Promise<ExecResult> {
    return this.finish(await execStatus(await this.toOptions(await this.parse(ExecStatus))))
  }
}
