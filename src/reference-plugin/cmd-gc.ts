import {parseRefConf} from './config.js'
import {delegateIpam} from './delegate.js'
import {CniError, CODE, joinErrors} from './errors.js'
import {hostIp, ipError, parseJsonLines} from './node-exec.js'
import type {Ctx} from './skel.js'
import {arg, batchLine} from './batch.js'
import {parseAlias} from './veth.js'

function validSet(conf: Record<string, unknown>): Set<string> | undefined {
  const raw = conf['cni.dev/valid-attachments'] ?? conf['cni.dev/attachments']
  if (!Array.isArray(raw)) return undefined
  return new Set(raw.map((a) => `${(a as {containerID?: string})?.containerID}\n${(a as {ifname?: string})?.ifname}`))
}

/** Node-side veths of this network whose attachment is not valid any more (found by their ifalias). */
async function staleVeths(network: string, valid: Set<string>): Promise<string[]> {
  const r = await hostIp(['link show type veth'], true)
  if (r.exitCode !== 0) throw ipError('listing veths', r)
  const links = (parseJsonLines(r.stdout)[0] ?? []) as Array<{ifname: string; ifalias?: string}>
  return links
    .filter((l) => {
      const a = parseAlias(l.ifalias)
      // Stale only if no reading of the alias is valid (an alias written before fields were encoded
      // may hold a literal "%").
      return a?.network === network && !a.ifnames.some((i) => valid.has(`${a.containerID}\n${i}`))
    })
    .map((l) => l.ifname)
}

/**
 * GC (SPEC §2): removes the node side of attachments not in cni.dev/valid-attachments (their pods may
 * still exist if the runtime lost them), then forwards GC to IPAM. Keeps going on errors and reports
 * them all. Without the key nothing is removed: we can't tell what is stale (checklist P97).
 */
export async function cmdGc(ctx: Ctx): Promise<void> {
  const rc = parseRefConf(ctx.conf, ctx.cniVersion, ctx.name, false)
  const errors: CniError[] = []
  const valid = validSet(ctx.conf)
  if (valid) {
    try {
      const stale = await staleVeths(ctx.name, valid)
      if (stale.length > 0) {
        const r = await hostIp(stale.map((n) => batchLine('link', 'del', 'dev', arg(n, 'a stale veth name'))))
        if (r.exitCode !== 0 && !/Cannot find device/.test(r.stderr)) errors.push(ipError('deleting stale veths', r))
      }
    } catch (error) {
      errors.push(error instanceof CniError ? error : new CniError(CODE.KERNEL_OPERATION_FAILED, String(error)))
    }
  }
  try {
    await delegateIpam(ctx, rc.ipamType, 'GC')
  } catch (error) {
    errors.push(error instanceof CniError ? error : new CniError(CODE.INTERNAL, String(error)))
  }
  if (errors.length > 0) throw joinErrors(errors)
}
