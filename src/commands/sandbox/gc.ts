import {Flags} from '@oclif/core'

import {BaseCommand, describe} from '../../cli/base-command.js'
import {gcSandboxes, type SandboxGcResult} from '../../services/sandbox.js'
import {formatSandboxGc} from '../../ui/text/sandbox.js'

export default class SandboxGc extends BaseCommand<SandboxGcResult> {
  static override description = describe(
    'Removes what killed cnidbg runs left behind: their namespaces, temp dirs and markers, plus any cnidbg- namespace no run claims. A process still inside a removed namespace (e.g. a plugin of a killed `exec add --sandbox`), found by namespace inode, is stopped first: SIGTERM to its process group, SIGKILL after 2 s. Live runs are never touched. Kept sandboxes (from `exec add --sandbox`) are removed only with --all. Lab namespaces belong to `cnidbg lab down`.',
  )

  static override examples = ['<%= config.bin %> sandbox gc', '<%= config.bin %> sandbox gc --all --json']

  static override flags = {
    all: Flags.boolean({summary: 'Also remove kept sandboxes that are waiting for their `exec del`.'}),
  }

  static override summary = 'Remove stale sandboxes and namespaces.'

  public async run(): Promise<SandboxGcResult> {
    const {flags} = await this.parse(SandboxGc)
    const result = await gcSandboxes({all: flags.all})
    if (!this.jsonEnabled()) this.log(formatSandboxGc(result))
    return result
  }
}
