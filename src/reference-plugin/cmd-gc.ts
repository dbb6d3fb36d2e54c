import {parseRefConf} from './config.js'
import {delegateIpam} from './delegate.js'
import {CniError, CODE, joinErrors} from './errors.js'
import {hostIp, ipError, LINK_GONE, parseJsonLines} from './node-exec.js'
import type {Ctx} from './skel.js'
import {batchLine} from './batch.js'
import {validAttachments} from './valid-attachments.js'
import {hostVethName, parseAlias} from './veth.js'

/** The valid attachments as keys; a malformed list is code 7 before GC removes anything. */
function validSet(conf: Record<string, unknown>): Set<string> | undefined {
  const valid = validAttachments(conf)
  return valid && new Set(valid.map((a) => `${a.containerID}\n${a.ifname}`))
}

/**
 * Node-side veths of this network whose attachment is not valid any more, found by their ifalias. A
 * veth counts as ours only if its name is the one ADD derives from the alias's attachment
 * (hostVethName), so an alias on anything else never gets a link deleted, and what GC deletes is a
 * name it computed itself.
 */
async function staleVeths(network: string, valid: Set<string>): Promise<string[]> {
  const r = await hostIp(['link show type veth'], {json: true})
  if (r.exitCode !== 0) throw ipError('listing veths', r)
  const links = (parseJsonLines(r.stdout)[0] ?? []) as Array<{ifname: string; ifalias?: string}>
  const stale: string[] = []
  for (const l of links) {
    const a = parseAlias(l.ifalias)
    if (a?.network !== network) continue
    // An alias written before fields were encoded may hold a literal "%": every reading is tried.
    const ifname = a.ifnames.find((i) => hostVethName(a.containerID, i) === l.ifname)
    if (ifname !== undefined && !valid.has(`${a.containerID}\n${ifname}`)) stale.push(l.ifname)
  }
  return stale
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
        // -force: every line runs, so one veth gone meanwhile (its pod's namespace deleted) leaves the
        // others still deleted. Each failing line says why, then "Command failed -:N"; only a line
        // whose link is gone is no error.
        const r = await hostIp(
          stale.map((n) => batchLine('link', 'del', 'dev', n)),
          {force: true},
        )
        const why = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/^Command failed /.test(l))
        if (r.exitCode !== 0 && (why.length === 0 || why.some((l) => !LINK_GONE.test(l))))
          errors.push(ipError('deleting stale veths', r))
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
