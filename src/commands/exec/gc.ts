import {Flags} from '@oclif/core'

import {describe} from '../../cli/base-command.js'
import {ExecCommand} from '../../cli/exec-command.js'
import {networkArgs, runtimeFlags} from '../../cli/flags.js'
import {execGc, type ExecResult} from '../../services/exec.js'

export default class ExecGc extends ExecCommand {
  static override args = {network: networkArgs.network}

  static override description = describe(
    'Garbage-collects a network like libcni GCNetworkList (SPEC §3 "Garbage-collecting a network"): every cached attachment of the network that is not listed with --valid gets a DEL, then (cniVersion 1.1.0) each plugin gets GC with cni.dev/valid-attachments. Unlike cnitool, the valid attachments are explicit. Errors do not stop it; all are reported. disableGC in the config skips it.',
  )

  static override examples = [
    '<%= config.bin %> exec gc mynet --valid c1:eth0 --valid c2:eth0',
    '<%= config.bin %> exec gc --conf my.conflist --cache-dir /tmp/cache --json',
  ]

  static override flags = {
    ...runtimeFlags,
    sandbox: Flags.string({summary: 'Run in this kept sandbox (id from add --sandbox).'}),
    valid: Flags.string({
      multiple: true,
      summary: 'A still-valid attachment as CONTAINER_ID:IFNAME (repeatable). None listed means none is valid.',
    }),
  }

  static override summary = 'GC stale attachments of a network.'

  public async run(): Promise<ExecResult> {
    return this.finish(await execGc(await this.toOptions(await this.parse(ExecGc))))
  }
}
