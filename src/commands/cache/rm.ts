import {Args} from '@oclif/core'

import {BaseCommand, describe} from '../../cli/base-command.js'
import {runtimeFlags} from '../../cli/flags.js'
import {cacheRm} from '../../services/cache.js'

export default class CacheRm extends BaseCommand<{removed: string}> {
  static override args = {
    network: Args.string({description: 'Network name.', required: true}),
    containerId: Args.string({description: 'Container ID.', required: true}),
    ifname: Args.string({default: 'eth0', description: 'Interface name.'}),
  }

  static override description = describe(
    'Removes one cached attachment file. Only the cache entry goes: the plugins are not called, so run `exec del` first if the attachment still exists.',
  )

  static override examples = ['<%= config.bin %> cache rm mynet cnidbg-5e97803207dee2a9f5d7 eth0']

  static override flags = {'cache-dir': runtimeFlags['cache-dir']}

  static override summary = 'Remove a cached attachment.'

  public async run(): Promise<{removed: string}> {
    const {args, flags} = await this.parse(CacheRm)
    const result = cacheRm({
      cacheDir: flags['cache-dir'],
      containerId: args.containerId,
      ifname: args.ifname,
      network: args.network,
    })
    if (!this.jsonEnabled()) this.log(`removed ${result.removed}`)
    return result
  }
}
