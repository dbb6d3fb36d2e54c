import {Args} from '@oclif/core'

import {BaseCommand, describe} from '../../cli/base-command.js'
import {runtimeFlags} from '../../cli/flags.js'
import {cacheShow, type CacheShowResult} from '../../services/cache.js'

export default class CacheShow extends BaseCommand<CacheShowResult> {
  static override args = {
    network: Args.string({description: 'Network name.', required: true}),
    containerId: Args.string({description: 'Container ID.', required: true}),
    ifname: Args.string({default: 'eth0', description: 'Interface name.'}),
  }

  static override description = describe(
    'Shows one cached attachment: the decoded config list, CNI_ARGS, capability args and the ADD result that DEL and CHECK will use.',
  )

  static override examples = ['<%= config.bin %> cache show mynet cnidbg-5e97803207dee2a9f5d7 eth0']

  static override flags = {'cache-dir': runtimeFlags['cache-dir']}

  static override summary = 'Show one cached attachment.'

  public async run(): Promise<CacheShowResult> {
    const {args, flags} = await this.parse(CacheShow)
    const result = cacheShow({
      cacheDir: flags['cache-dir'],
      containerId: args.containerId,
      ifname: args.ifname,
      network: args.network,
    })
    if (!this.jsonEnabled()) this.log(JSON.stringify(result, null, 2))
    return result
  }
}
