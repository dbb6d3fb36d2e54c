import {parseRefConf} from './config.js'
import {delegateIpam} from './delegate.js'
import {CniError, CODE} from './errors.js'
import {which} from '../process/lite-exec.js'
import type {Ctx} from './skel.js'

/** STATUS (SPEC §2): can we service ADD? Our tools must exist, and the IPAM plugin must say yes (P90). */
export async function cmdStatus(ctx: Ctx): Promise<void> {
  const rc = parseRefConf(ctx.conf, ctx.cniVersion, ctx.name, false)
  const missing = ['ip', 'nsenter'].filter((t) => !which(t).startsWith('/'))
  if (missing.length > 0) {
    throw new CniError(
      CODE.NOT_AVAILABLE,
      `${missing.join(' and ')} not found on this node`,
      'install iproute2 and util-linux',
    )
  }
  await delegateIpam(ctx, rc.ipamType, 'STATUS')
}
