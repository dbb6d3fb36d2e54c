import {BaseCommand, describe} from '../../cli/base-command.js'
import {EXIT} from '../../core/exit-codes.js'
import {labFlag} from '../../cli/lab-flags.js'
import {renderStatus} from '../../ui/text/lab.js'
import {labStatus, type LabStatusResult} from '../../services/lab.js'

export default class LabStatus extends BaseCommand<LabStatusResult> {
  static override description = describe(
    'Shows a lab: its nodes (node IP, pod CIDR, namespace, daemon health and diagnostics URL), its pods (node, IP, namespace path), the kubeconfig, the health of the API server, supervisor and each daemon and kubelet stand-in, and the faults `lab break` left in it. Exits 1 when something is unhealthy.',
  )

  static override examples = [
    '<%= config.bin %> lab status',
    '<%= config.bin %> lab status --json | jq ".result.pods[] | {name, ip}"',
  ]

  static override flags = {name: labFlag}

  static override summary = 'Show the nodes, pods, processes and faults of a lab.'

  public async run(): Promise<LabStatusResult> {
    const {flags} = await this.parse(LabStatus)
    const result = await labStatus({name: flags.name})
    if (result.problems.length > 0) process.exitCode = EXIT.FAILED
    if (!this.jsonEnabled()) for (const l of renderStatus(result)) this.log(l)
    return result
  }
}
