import {batchLine} from './batch.js'
import {ipamTypeForDel} from './config.js'
import {delegateIpam} from './delegate.js'
import {CniError, joinErrors} from './errors.js'
import {hostIp, ipError, LINK_GONE, nodeLinkAlias} from './node-exec.js'
import type {Ctx} from './skel.js'
import {aliasIsFor, hostVethName} from './veth.js'

/**
 * Whether the node has this attachment's node side. The name is a 32-bit hash, so another attachment
 * can own a link of that name: it is ours only if its alias records this network, container and
 * interface. Without an `ip` when the link is gone (a DEL after a failed ADD, a repeated DEL): no ADD
 * of the same attachment runs meanwhile (checklist P101), so it stays gone.
 */
async function ownsNodeSide(ctx: Ctx, hostIf: string): Promise<boolean> {
  const alias = await nodeLinkAlias(hostIf)
  return alias !== undefined && aliasIsFor(alias, ctx.name, ctx.args.containerID, ctx.args.ifname)
}

/**
 * DEL: delete the node side by its deterministic name (the pod side goes with it) and release the
 * IPAM reservation, concurrently. SPEC §2 DEL: idempotent and best effort, so a missing link, netns or
 * prevResult is success, IPAM DEL runs even when the link is gone, and config fields DEL does not use
 * are not checked (ipamTypeForDel). A link of that name that another attachment owns is left alone.
 * The node side's name is a hash, so no input reaches the command.
 */
export async function cmdDel(ctx: Ctx): Promise<void> {
  const ipamType = ipamTypeForDel(ctx.conf)
  const hostIf = hostVethName(ctx.args.containerID, ctx.args.ifname)
  const [link, ipam] = await Promise.allSettled([
    ownsNodeSide(ctx, hostIf).then((own) => (own ? hostIp([batchLine('link', 'del', 'dev', hostIf)]) : undefined)),
    ipamType && delegateIpam(ctx, ipamType, 'DEL'),
  ])
  const errors: CniError[] = []
  if (link.status === 'fulfilled' && link.value && link.value.exitCode !== 0 && !LINK_GONE.test(link.value.stderr)) {
    errors.push(ipError(`deleting ${hostIf}`, link.value))
  }
  if (link.status === 'rejected') {
    errors.push(
      link.reason instanceof CniError
        ? link.reason
        : new CniError(100, `deleting ${hostIf} failed`, String(link.reason)),
    )
  }
  if (ipam.status === 'rejected') {
    errors.push(ipam.reason instanceof CniError ? ipam.reason : new CniError(100, String(ipam.reason)))
  }
  if (errors.length > 0) throw joinErrors(errors)
}

/**
 * DEL's first half under the shell front: IPAM DEL here, the link deletion returned for the shell to
 * run (none when the node has no node side of this attachment). If IPAM DEL fails, the link is deleted
 * here too (DEL is best effort on every part) and both errors are returned, as cmdDel does.
 */
export async function planDel(ctx: Ctx): Promise<{host: string[]}> {
  const ipamType = ipamTypeForDel(ctx.conf)
  const hostIf = hostVethName(ctx.args.containerID, ctx.args.ifname)
  try {
    if (ipamType) await delegateIpam(ctx, ipamType, 'DEL')
  } catch {
    await cmdDel(ctx)
  }
  return {host: (await ownsNodeSide(ctx, hostIf)) ? [batchLine('link', 'del', 'dev', hostIf)] : []}
}

/** Under the shell front, after `link del` failed for a reason other than the link being gone. */
export function delFailed(ctx: Ctx, stderr: string): never {
  const hostIf = hostVethName(ctx.args.containerID, ctx.args.ifname)
  throw ipError(`deleting ${hostIf}`, {exitCode: 1, signal: null, stdout: '', stderr, timedOut: false})
}
