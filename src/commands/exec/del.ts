import {Flags} from '@oclif/core'

import {describe} from '../../cli/base-command.js'
import {ExecCommand} from '../../cli/exec-command.js'
import {attachmentFlags, netnsFlag, networkArgs, runtimeFlags} from '../../cli/flags.js'
import {execDel, type ExecResult} from '../../services/exec.js'

export default class ExecDel extends ExecCommand {
  static override args = networkArgs

  static override description = describe(
    'Runs DEL for every plugin in reverse order with the cached ADD result as prevResult (SPEC §3 "Deleting an attachment"), then removes the cache entry. If add made the namespace (--netns auto) or a sandbox, they are removed too. DEL is idempotent: running it again succeeds.',
  )

  static override examples = [
    '<%= config.bin %> exec del mynet /run/netns/pod1',
    '<%= config.bin %> exec del --conf my.conflist "$(jq -r .result.attachment.netns att.json)" --container-id "$(jq -r .result.attachment.containerId att.json)"',
  ]

  static override flags = {
    ...runtimeFlags,
    ...attachmentFlags,
    ...netnsFlag,
    sandbox: Flags.string({summary: 'Sandbox id printed by add --sandbox (found from the netns name when omitted).'}),
  }

  static override summary = 'DEL a container from a network (reverse order).'

  public async run(): Promise<ExecResult> {
    return this.finish(await execDel(await this.toOptions(await this.parse(ExecDel))))
  }
}
