import {Flags} from '@oclif/core'

import {describe} from '../../cli/base-command.js'
import {ExecCommand} from '../../cli/exec-command.js'
import {attachmentFlags, netnsFlag, networkArgs, runtimeFlags} from '../../cli/flags.js'
import {execCheck, type ExecResult} from '../../services/exec.js'

export default class ExecCheck extends ExecCommand {
  static override args = networkArgs

  static override description = describe(
    'Runs CHECK for every plugin in order with the cached ADD result as prevResult (SPEC §3 "Checking an attachment"). Use the same network, netns, container ID and ifname as the add. With disableCheck in the config nothing is called. Exit 1 when a plugin reports the attachment broken.',
  )

  static override examples = [
    '<%= config.bin %> exec check mynet /run/netns/pod1',
    '<%= config.bin %> exec check --conf my.conflist /run/netns/cnidbg-1a2b3c-ctr --container-id c1 --sandbox 1a2b3c',
  ]

  static override flags = {
    ...runtimeFlags,
    ...attachmentFlags,
    ...netnsFlag,
    sandbox: Flags.string({summary: 'Sandbox id printed by add --sandbox (found from the netns name when omitted).'}),
  }

  static override summary = 'CHECK an attachment against what ADD set up.'

  public async run(): Promise<ExecResult> {
    return this.finish(await execCheck(await this.toOptions(await this.parse(ExecCheck))))
  }
}
