import {existsSync} from 'node:fs'

import {arg, batchLine} from './batch.js'
import {parseRefConf} from './config.js'
import {delegateIpam} from './delegate.js'
import {CniError, CODE} from './errors.js'
import {parseCIDR, parseIP} from '../core/ip.js'
import {hasAddress, hasRoute, type LinkState, type RouteState} from './link-state.js'
import {hostIp, parseJsonLines, podIp} from './node-exec.js'
import type {Ctx} from './skel.js'
import {hostVethName} from './veth.js'

const hostLen = (cidr: string): string => `${cidr.split('/')[0]}/${parseCIDR(cidr)!.family === 4 ? 32 : 128}`

function readState(stdout: string): {link?: LinkState; routes: RouteState[]} {
  try {
    const [links, routes] = parseJsonLines(stdout)
    return {link: links?.[0] as LinkState | undefined, routes: (routes ?? []) as RouteState[]}
  } catch {
    return {routes: []}
  }
}

/**
 * CHECK (SPEC §2): compares the kernel with prevResult, the chain's final result, so changes later
 * plugins made and reported (a MAC from tuning, extra routes) pass. Fails on drift: the interface
 * missing or down, a MAC/MTU/address/route gone, the node side or its route gone, and (via IPAM
 * CHECK) the address reservation gone (checklist P79–P82, P85).
 */
export async function cmdCheck(ctx: Ctx): Promise<void> {
  const rc = parseRefConf(ctx.conf, ctx.cniVersion, ctx.name, true)
  const prev = rc.prevResult
  if (!prev)
    throw new CniError(
      CODE.INVALID_CONFIG,
      'CHECK needs prevResult (the ADD result)',
      'SPEC §3: the runtime passes the cached ADD result',
    )
  const {ifname, netns, containerID} = ctx.args
  const podIdx = (prev.interfaces ?? []).findIndex((i) => i.name === ifname && i.sandbox)
  if (podIdx < 0) throw new CniError(CODE.CHECK_FAILED, `prevResult lists no interface ${ifname} in a sandbox`)
  const podIf = prev.interfaces![podIdx]!
  if (!existsSync(netns)) throw new CniError(CODE.CHECK_FAILED, `CNI_NETNS ${netns} does not exist`)
  const hostIf = hostVethName(containerID, ifname)
  const [podR, hostR] = await Promise.all([
    podIp(netns, [batchLine('addr', 'show', 'dev', arg(ifname, 'CNI_IFNAME')), 'route show table all'], {json: true}),
    hostIp([batchLine('addr', 'show', 'dev', hostIf), batchLine('route', 'show', 'table', 'all', 'dev', hostIf)], {
      json: true,
    }),
  ])
  const podState = podR.exitCode === 0 ? readState(podR.stdout) : {routes: []}
  // ip takes a missing name of the form if<N> for ifindex N: the link it shows must be ours.
  const pod = {...podState, link: podState.link?.ifname === ifname ? podState.link : undefined}
  const host = hostR.exitCode === 0 ? readState(hostR.stdout) : {routes: []}
  const drift: string[] = []
  const mine = (prev.ips ?? []).filter((ip) => ip.interface === podIdx)
  if (!pod.link) drift.push(`${ifname} is missing from ${netns}`)
  else {
    if (!pod.link.flags.includes('UP')) drift.push(`${ifname} is down`)
    if (podIf.mac && pod.link.address.toLowerCase() !== podIf.mac.toLowerCase()) {
      drift.push(`${ifname} has MAC ${pod.link.address}, prevResult says ${podIf.mac}`)
    }
    if (podIf.mtu !== undefined && pod.link.mtu !== podIf.mtu)
      drift.push(`${ifname} has MTU ${pod.link.mtu}, prevResult says ${podIf.mtu}`)
    for (const ip of mine) if (!hasAddress(pod.link, ip.address)) drift.push(`${ifname} lacks address ${ip.address}`)
    for (const r of prev.routes ?? []) {
      const family = parseCIDR(r.dst)!.family
      const gw = r.gw ?? mine.find((ip) => ip.gateway && parseIP(ip.gateway)?.family === family)?.gateway
      if (!hasRoute(pod.routes, r.dst, gw, ifname))
        drift.push(`route ${r.dst}${gw ? ` via ${gw}` : ''} is missing in ${netns}`)
    }
  }
  if (!host.link) drift.push(`node side ${hostIf} is missing`)
  else {
    if (!host.link.flags.includes('UP')) drift.push(`node side ${hostIf} is down`)
    for (const ip of mine) {
      if (ip.gateway && !hasAddress(host.link, hostLen(`${ip.gateway}/0`)))
        drift.push(`${hostIf} lacks gateway ${ip.gateway}`)
      if (!hasRoute(host.routes, hostLen(ip.address)))
        drift.push(`node route to ${ip.address.split('/')[0]} via ${hostIf} is missing`)
    }
  }
  if (drift.length > 0) {
    throw new CniError(
      CODE.CHECK_FAILED,
      `${ifname} of container ${containerID} drifted: ${drift[0]}`,
      drift.join('\n'),
    )
  }
  // SPEC §2 CHECK: delegated plugins are checked too, their errors returned.
  await delegateIpam(ctx, rc.ipamType, 'CHECK')
}
