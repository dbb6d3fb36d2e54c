import {existsSync} from 'node:fs'

import type {LiteResult} from '../process/lite-exec.js'
import {batchLine} from './batch.js'
import {parseRefConf, resolveMtu} from './config.js'
import {delegateIpam} from './delegate.js'
import {CniError, CODE} from './errors.js'
import {parseCIDR, parseIP} from '../core/ip.js'
import {failedLine, hostIp, ipError, nodeHasLink, nodeLinkAlias, startVethSession} from './node-exec.js'
import {isEmptyDns} from './result.js'
import type {Ctx} from './skel.js'
import {ensureSysctl} from './sysctl.js'
import {holdPoint} from './test-hold.js'
import type {Result} from './types.js'
import {
  aliasIsFor,
  aliasOwner,
  hostAddrBatch,
  hostAlias,
  hostVethName,
  linkBatches,
  podAddrBatch,
  randomMac,
  type LinkPlan,
  type PodAddress,
  type VethPlan,
} from './veth.js'

/** Why the node-side batch failed, in the terms of the spec (line 1 creates the pair). */
function explainHostFailure(ctx: Ctx, r: LiteResult): CniError {
  const {netns, ifname} = ctx.args
  if (failedLine(r) === 1 && /File exists/.test(r.stderr)) {
    // SPEC §2 ADD: "If an interface of the same name exists in the container, the plugin MUST fail."
    return new CniError(
      CODE.INTERFACE_EXISTS,
      `CNI_IFNAME ${ifname} already exists in CNI_NETNS ${netns}`,
      'pick another CNI_IFNAME, or remove the existing interface from the namespace',
    )
  }
  if (failedLine(r) === 1 && /netns|namespace/i.test(r.stderr)) {
    return new CniError(CODE.INVALID_ENV, `CNI_NETNS ${netns} is not a network namespace`, r.stderr.trim())
  }
  return ipError(`creating the veth pair for ${ifname}`, r)
}

function podAddresses(ipam: Result): PodAddress[] {
  if (!ipam.ips?.length) throw new CniError(CODE.DELEGATE_FAILED, 'the IPAM plugin returned no addresses')
  return ipam.ips.map((ip) => {
    const family = parseCIDR(ip.address)!.family
    if (!ip.gateway || parseIP(ip.gateway)?.family !== family) {
      throw new CniError(
        CODE.INVALID_CONFIG,
        `the IPAM result for ${ip.address} has no ${family === 4 ? 'IPv4' : 'IPv6'} gateway`,
        'cnidbg-ref routes the pod through a gateway on the node side; configure one in the IPAM ranges',
      )
    }
    return {address: ip.address, gateway: ip.gateway, family}
  })
}

/** What ADD knows before IPAM: the config, the node-side name, the pair's plan and its batch lines. */
interface Prepared {
  rc: ReturnType<typeof parseRefConf>
  hostIf: string
  link: LinkPlan
  lb: {host: string[]; pod: string[]}
}

/**
 * A second ADD of the same attachment must fail before IPAM: rolling back with IPAM DEL (keyed by
 * containerID+ifname) would release the first ADD's addresses (checklist P36). The name is a 32-bit
 * hash, so the link may instead be another attachment's: its alias says whose.
 */
async function refuseTakenName(ctx: Ctx, hostIf: string): Promise<void> {
  const {containerID, ifname} = ctx.args
  // /proc/self/net/dev first: only a taken name costs more.
  if (nodeHasLink(hostIf) !== true) return
  const alias = await nodeLinkAlias(hostIf)
  if (alias === undefined) return
  if (aliasIsFor(alias, ctx.name, containerID, ifname)) {
    throw new CniError(
      CODE.INTERFACE_EXISTS,
      `the node side ${hostIf} of container ${containerID} ${ifname} already exists`,
      'the attachment was added twice without a DEL in between (SPEC §2 ADD); DEL it first',
    )
  }
  throw new CniError(
    CODE.INTERFACE_EXISTS,
    `the node-side name ${hostIf} of container ${containerID} ${ifname} is taken by another attachment: ${aliasOwner(alias)}`,
    'the node-side name is a 32-bit hash of CNI_CONTAINERID and CNI_IFNAME, and these collide with that link; a new container ID (a new sandbox) or another CNI_IFNAME gets another name',
  )
}

async function prepare(ctx: Ctx): Promise<Prepared> {
  const rc = parseRefConf(ctx.conf, ctx.cniVersion, ctx.name, true)
  const {containerID, ifname, netns, netnsPath} = ctx.args
  if (!existsSync(netnsPath)) {
    throw new CniError(
      CODE.INVALID_ENV,
      `CNI_NETNS ${netns} does not exist`,
      'pass the path of the pod network namespace',
    )
  }
  const hostIf = hostVethName(containerID, ifname)
  await refuseTakenName(ctx, hostIf)
  const alias = hostAlias(ctx.name, containerID, ifname)
  // The kernel keeps at most IFALIASZ - 1 = 255 bytes of an alias; a longer one would fail in ip after
  // the pair exists. GC finds the attachment by that alias, so it is refused whole, before anything is made.
  if (Buffer.byteLength(alias) > 255) {
    const withoutId = Buffer.byteLength(hostAlias(ctx.name, '', ifname))
    throw new CniError(
      withoutId > 255 ? CODE.INVALID_CONFIG : CODE.INVALID_ENV,
      `the network name and CNI_CONTAINERID make a node-side veth alias of ${Buffer.byteLength(alias)} bytes; the kernel keeps at most 255`,
      `the alias records the attachment for GC: use a shorter ${withoutId > 255 ? 'network name' : 'container ID'}`,
    )
  }
  const link: LinkPlan = {
    hostIf,
    podIf: ifname,
    hostMac: randomMac(),
    podMac: randomMac(),
    mtu: resolveMtu(rc, ctx.conf),
    podNsPath: netnsPath,
    alias,
  }
  // Written now, so a name or path ip could not read back intact fails ADD before IPAM reserves anything.
  return {rc, hostIf, link, lb: linkBatches(link)}
}

/** IPAM's answer as batch lines (node side, pod side) and the result ADD returns. */
interface Allocated {
  host: string[]
  pod: string[]
  result: Result
}

/**
 * IPAM ADD, then everything that needs its answer: the full plan, forwarding on, the result. SPEC §4:
 * when IPAM ADD fails, or anything after it, IPAM DEL is called (checklist P106); this step does that
 * for its own failures.
 */
async function allocate(ctx: Ctx, pre: Prepared): Promise<Allocated> {
  try {
    const ipam = (await delegateIpam(ctx, pre.rc.ipamType, 'ADD'))!
    const addrs = podAddresses(ipam)
    const plan: VethPlan = {...pre.link, addrs, routes: ipam.routes ?? []}
    // Before anything else: a value from the IPAM result that ip could not read back fails here.
    const host = hostAddrBatch(plan)
    const pod = podAddrBatch(plan)
    try {
      ensureSysctl('net.ipv4.ip_forward', '1')
      if (addrs.some((a) => a.family === 6)) ensureSysctl('net.ipv6.conf.all.forwarding', '1')
    } catch (error) {
      throw new CniError(
        CODE.KERNEL_OPERATION_FAILED,
        'cannot enable IP forwarding on the node',
        (error as Error).message,
      )
    }
    return {host, pod, result: buildResult(ctx, pre.rc.prevResult, plan, ipam, pre.rc.dns)}
  } catch (error) {
    await delegateIpam(ctx, pre.rc.ipamType, 'DEL').catch(() => undefined)
    throw error
  }
}

/**
 * Undoes a failed ADD after one side's batch failed (upstream bridge.go's `success` flag): removes the
 * pair unless creating it is what failed (then it is not there, or a concurrent ADD of the same
 * attachment made it; hostIf was free when we checked), releases the address, and returns the error.
 */
async function rollBack(
  ctx: Ctx,
  pre: Pick<Prepared, 'rc' | 'hostIf'>,
  side: 'node' | 'pod',
  r: LiteResult,
): Promise<CniError> {
  const error =
    side === 'node' ? explainHostFailure(ctx, r) : ipError(`configuring ${ctx.args.ifname} in ${ctx.args.netns}`, r)
  if (!(side === 'node' && failedLine(r) === 1)) await hostIp([batchLine('link', 'del', 'dev', pre.hostIf)])
  await delegateIpam(ctx, pre.rc.ipamType, 'DEL').catch(() => undefined)
  return error
}

/**
 * ADD in one process: the veth pair (its pod end created straight in CNI_NETNS) while IPAM chooses the
 * address, then the node side's addresses and routes, then the pod side's, all from one child process
 * (see startVethSession). The shell front (front.ts) splits the same steps across two processes
 * instead, so that Node never forks; this path serves the single executable and `node cnidbg-ref.js`.
 */
export async function cmdAdd(ctx: Ctx): Promise<Result> {
  const pre = await prepare(ctx)
  const veth = startVethSession(ctx.args.netnsPath)
  veth.begin(pre.lb.host)
  let step: Allocated
  try {
    step = await allocate(ctx, pre)
  } catch (error) {
    // The pair goes down with the session's own node-side batch, not a second ip. ip stops at the first
    // line that fails: a pair it could not create (line 1) is left alone, and only when a later line
    // failed, or ip did not say, is the deletion run on its own.
    const del = batchLine('link', 'del', 'dev', pre.hostIf)
    const out = await veth.finish([del], [])
    if (out.host.exitCode !== 0 && failedLine(out.host) !== 1) await hostIp([del])
    throw error
  }
  // Crash tests stop here with the node side complete and the pod side not yet configured.
  const out = await veth.finish(step.host, [...pre.lb.pod, ...step.pod], () => holdPoint('ref-veth'))
  if (out.host.exitCode !== 0) throw await rollBack(ctx, pre, 'node', out.host)
  if (out.pod!.exitCode !== 0) throw await rollBack(ctx, pre, 'pod', out.pod!)
  return step.result
}

/** ADD's first half under the shell front: everything but the kernel work, which it returns as batches. */
export async function planAdd(ctx: Ctx): Promise<{host: string[]; pod: string[]; result: Result}> {
  const pre = await prepare(ctx)
  const {host, pod, result} = await allocate(ctx, pre)
  return {host: [...pre.lb.host, ...host], pod: [...pre.lb.pod, ...pod], result}
}

/** Under the shell front, after one side's batch failed: undo and say why (the error ADD returns). */
export async function undoAdd(ctx: Ctx, side: 'node' | 'pod', stderr: string): Promise<never> {
  const rc = parseRefConf(ctx.conf, ctx.cniVersion, ctx.name, true)
  const hostIf = hostVethName(ctx.args.containerID, ctx.args.ifname)
  const r: LiteResult = {exitCode: 1, signal: null, stdout: '', stderr, timedOut: false}
  throw await rollBack(ctx, {rc, hostIf}, side, r)
}

/** Our interfaces and addresses, appended to a chained prevResult if there is one (SPEC §2 ADD). */
function buildResult(ctx: Ctx, prev: Result | undefined, plan: VethPlan, ipam: Result, dns: Result['dns']): Result {
  const base = prev?.interfaces?.length ?? 0
  return {
    cniVersion: ctx.cniVersion,
    interfaces: [
      ...(prev?.interfaces ?? []),
      {name: plan.hostIf, mac: plan.hostMac, mtu: plan.mtu},
      {name: plan.podIf, mac: plan.podMac, mtu: plan.mtu, sandbox: ctx.args.netns},
    ],
    ips: [
      ...(prev?.ips ?? []),
      ...(ipam.ips ?? []).map((ip) => ({address: ip.address, gateway: ip.gateway, interface: base + 1})),
    ],
    routes: [...(prev?.routes ?? []), ...(ipam.routes ?? [])],
    dns: !isEmptyDns(dns) ? dns : !isEmptyDns(ipam.dns) ? ipam.dns : prev?.dns,
  }
}
