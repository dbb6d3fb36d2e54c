import {BaseCommand, describe} from '../../cli/base-command.js'
import {listSandboxes, type SandboxListResult} from '../../services/sandbox.js'
import {formatSandboxList} from '../../ui/text/sandbox.js'

export default class SandboxLs extends BaseCommand<SandboxListResult> {
  static override description = describe(
    'Lists the sandboxes and throwaway namespaces cnidbg runs have created: live ones (their run is still going), kept ones (an `exec add --sandbox` waiting for its `del`) and stale ones (left by a run that was killed).',
  )

  static override examples = [
    '<%= config.bin %> sandbox ls',
    '<%= config.bin %> sandbox ls --json | jq ".result.sandboxes[].id"',
  ]

  static override summary = 'List cnidbg sandboxes and namespaces.'

  public async run(): Promise<SandboxListResult> {
    // It takes no flags of its own: parsing still rejects a mistyped one instead of ignoring it.
    await this.parse(SandboxLs)
    const result = listSandboxes()
    if (!this.jsonEnabled()) this.log(formatSandboxList(result))
    return result
  }
}
