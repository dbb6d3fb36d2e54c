import {describe} from '../../cli/base-command.js'
import {ExecCommand} from '../../cli/exec-command.js'
import {networkArgs, runtimeFlags} from '../../cli/flags.js'
import {execVersion, type ExecResult} from '../../services/exec.js'

export default class ExecVersion extends ExecCommand {
  static override args = {network: networkArgs.network}

  static override description = describe(
    "Runs VERSION on every plugin in the config list and shows the spec versions each supports, and whether it supports the version the config selects. Exit 1 if one doesn't.",
  )

  static override examples = [
    '<%= config.bin %> exec version mynet',
    '<%= config.bin %> exec version --conf fixtures/conf/bridge.conflist --cni-path /usr/lib/cni',
  ]

  static override flags = runtimeFlags

  static override summary = 'List the spec versions every plugin supports.'

  public async run(): Promise<ExecResult> {
    return this.finish(await execVersion(await this.toOptions(await this.parse(ExecVersion))))
  }
}
