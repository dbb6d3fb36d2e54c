import chalk from 'chalk'

import {BaseCommand, describe} from '../../cli/base-command.js'
import {listSandboxes, type SandboxListResult} from '../../services/sandbox.js'

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
    const result = listSandboxes()
    if (!this.jsonEnabled()) {
      if (result.sandboxes.length === 0 && result.orphans.length === 0) this.log('No cnidbg sandboxes.')
      for (const s of result.sandboxes) {
        const color = s.state === 'stale' ? chalk.red : s.state === 'kept' ? chalk.cyan : chalk.green
        this.log(`${s.id}  ${color(s.state.padEnd(5))}  ${s.label.padEnd(12)} ${s.createdAt}  ${s.netns.join(' ')}`)
      }
      for (const o of result.orphans) this.log(`${chalk.red('orphan')}  netns ${o}`)
    }
    return result
  }
}
