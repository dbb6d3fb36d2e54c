import {Args} from '@oclif/core'

import {BaseCommand, describe} from '../../cli/base-command.js'
import {runtimeFlags} from '../../cli/flags.js'
import {oneLine} from '../../core/text.js'
import {cacheList, type CacheListResult} from '../../services/cache.js'

export default class CacheList extends BaseCommand<CacheListResult> {
  static override args = {network: Args.string({description: 'Only this network.'})}

  static override description = describe(
    "Lists cached ADD results in libcni's format (<cache-dir>/results/<network>-<containerID>-<ifname>): cnidbg's own, or the ones containerd or CRI-O wrote on a live node (default /var/lib/cni).",
  )

  static override examples = ['<%= config.bin %> cache list', '<%= config.bin %> cache list k8s-pod-network --json']

  static override flags = {'cache-dir': runtimeFlags['cache-dir']}

  static override summary = 'List cached attachments.'

  public async run(): Promise<CacheListResult> {
    const {args, flags} = await this.parse(CacheList)
    const result = cacheList({cacheDir: flags['cache-dir'], network: args.network})
    if (!this.jsonEnabled()) {
      if (result.entries.length === 0) this.log(`No cached attachments in ${result.cacheDir}/results.`)
      // Entries other runtimes wrote (or anyone who could write there): their names, addresses and
      // netns paths are shown through oneLine, so no escape sequence in them reaches the terminal.
      for (const e of result.entries)
        this.log(
          `${oneLine(e.network).padEnd(16)} ${oneLine(e.containerId).padEnd(28)} ${oneLine(e.ifname).padEnd(6)} ${oneLine(e.ips.join(',')).padEnd(20)} ${oneLine(e.netns)}${e.legacy ? ' (legacy format)' : ''}`,
        )
    }
    return result
  }
}
