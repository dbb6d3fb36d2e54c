import {Args, Flags} from '@oclif/core'

import {BaseCommand, describe} from '../../cli/base-command.js'
import {labExec, type LabExecResult} from '../../services/lab.js'
import {labFlag} from '../../cli/lab-flags.js'

export default class LabExec extends BaseCommand<LabExecResult> {
  static override args = {pod: Args.string({description: 'Pod name.', required: true})}

  static override description = describe(
    "Runs a command inside a lab pod's network namespace (ip netns exec), with your terminal's stdin, stdout and stderr; cnidbg exits with the command's exit code. Put the command after --.",
    {
      '0–255': "the command's own exit code",
      '2': 'usage error (no such pod, no command)',
      '3': 'environment not ready',
    },
  )

  static override enableJsonFlag = false

  static override examples = [
    '<%= config.bin %> lab exec pod-a -- ip -br addr',
    '<%= config.bin %> lab exec pod-a -- ping -c 3 10.244.2.2',
    '<%= config.bin %> lab exec pod-b --name gw -- sh',
  ]

  static override flags = {
    name: labFlag,
    namespace: Flags.string({default: 'default', summary: "The pod's Kubernetes namespace."}),
  }

  static override strict = false

  static override summary = "Run a command in a lab pod's network namespace."

  public async run(): Promise<LabExecResult> {
    const {args, flags, argv} = await this.parse(LabExec)
    // The command is everything after `--`, verbatim: oclif's parsed argv does not keep the order of
    // repeated values (`ping -c 1 -W 1 x` came back as `-c 1 1 -W x`).
    const sep = this.argv.indexOf('--')
    const command = sep >= 0 ? this.argv.slice(sep + 1) : (argv as string[]).slice(1)
    const result = await labExec({name: flags.name, pod: args.pod, namespace: flags.namespace, command})
    process.exitCode = result.exitCode
    return result
  }
}
