/**
 * Small kernel operations the faults are made of, all inside lab namespaces (`ip -n`, `bridge -n`,
 * nsenter for iptables and sysctl). Faults save what they change with these, so heal can put back
 * exactly what was there.
 */
import {runOk} from '../../process/exec.js'
import {ip, ipJson, netnsPath, runInNetns} from '../../netns/netns.js'
import type {LabState} from '../state.js'

/** A route as `ip -j route show` prints it. */
export interface RouteJson {
  type?: string
  dst: string
  gateway?: string
  dev?: string
  protocol?: string
  scope?: string
  prefsrc?: string
  metric?: number
  flags?: string[]
}

export async function routes(netns: string): Promise<RouteJson[]> {
  return ipJson<RouteJson[]>(['route', 'show', 'table', 'main'], netns)
}

/** The `ip route` arguments that recreate a route as printed by `ip -j route show`. */
export function routeArgs(r: RouteJson): string[] {
  const args: string[] = []
  if (r.type && r.type !== 'unicast') args.push(r.type)
  args.push(r.dst)
  if (r.gateway) args.push('via', r.gateway)
  if (r.dev) args.push('dev', r.dev)
  if (r.protocol) args.push('proto', r.protocol)
  if (r.scope && r.scope !== 'global') args.push('scope', r.scope)
  if (r.prefsrc) args.push('src', r.prefsrc)
  if (r.metric !== undefined) args.push('metric', String(r.metric))
  if (r.flags?.includes('onlink')) args.push('onlink')
  return args
}

const routeKey = (r: RouteJson): string => `${r.dst}|${r.metric ?? 0}`

/**
 * Puts back every saved route that is missing or different. Link-scope routes first: the gateway
 * routes of the others depend on them (a pod's default route goes via its /32 gateway route).
 */
export async function restoreRoutes(netns: string, saved: RouteJson[]): Promise<string[]> {
  const now = new Map((await routes(netns)).map((r) => [routeKey(r), JSON.stringify(routeArgs(r))]))
  const missing = saved.filter((r) => now.get(routeKey(r)) !== JSON.stringify(routeArgs(r)))
  missing.sort((a, b) => Number(Boolean(a.gateway)) - Number(Boolean(b.gateway)))
  const done: string[] = []
  for (const r of missing) {
    await ip(['route', 'replace', ...routeArgs(r)], netns)
    done.push(routeArgs(r).join(' '))
  }
  return done
}

export interface AddrJson {
  family: string
  local: string
  prefixlen: number
  scope?: string
  noprefixroute?: boolean
}

export interface LinkJson {
  ifindex: number
  ifname: string
  flags?: string[]
  mtu: number
  address?: string
  link_index?: number
  operstate?: string
  addr_info?: AddrJson[]
}

export async function link(netns: string, name: string): Promise<LinkJson | undefined> {
  try {
    return (await ipJson<LinkJson[]>(['addr', 'show', 'dev', name], netns))[0]
  } catch {
    return undefined
  }
}

export async function links(netns: string): Promise<LinkJson[]> {
  return ipJson<LinkJson[]>(['link', 'show'], netns)
}

/**
 * The node-side end of a pod's veth: the link in the node namespace whose ifindex is the pod
 * interface's peer index (iflink). Found from the kernel, so it works for any veth plugin.
 */
export async function hostVethOf(podNetns: string, podIf: string, nodeNetns: string): Promise<string> {
  const pod = await link(podNetns, podIf)
  if (!pod) throw new Error(`${podIf} not found in ${podNetns}`)
  if (pod.link_index === undefined) throw new Error(`${podIf} in ${podNetns} has no peer (not a veth?)`)
  const host = (await links(nodeNetns)).find((l) => l.ifindex === pod.link_index)
  if (!host) throw new Error(`the peer of ${podIf} (ifindex ${pod.link_index}) is not in ${nodeNetns}`)
  return host.ifname
}

export async function iptables(netns: string, args: string[]): Promise<void> {
  const r = await runInNetns(netnsPath(netns), 'iptables', ['-w', '5', ...args], {timeoutMs: 30_000})
  if (r.exitCode !== 0)
    throw new Error(
      `iptables ${args.join(' ')} in ${netns}: ${r.stderr.trim() || r.spawnError || `exit ${r.exitCode}`}`,
    )
}

/** Whether an iptables rule exists (`iptables -C`). */
export async function iptablesHas(netns: string, args: string[]): Promise<boolean> {
  const r = await runInNetns(netnsPath(netns), 'iptables', ['-w', '5', '-C', ...args], {timeoutMs: 30_000})
  return r.exitCode === 0
}

export interface FdbJson {
  mac: string
  dst?: string
  dev?: string
  state?: string
  flags?: string[]
}

export async function fdbEntries(netns: string, dev: string): Promise<FdbJson[]> {
  const r = await runOk('bridge', ['-n', netns, '-j', 'fdb', 'show', 'dev', dev], {timeoutMs: 30_000})
  return (r.stdout.trim() ? JSON.parse(r.stdout) : []) as FdbJson[]
}

export async function bridgeCmd(netns: string, args: string[]): Promise<void> {
  await runOk('bridge', ['-n', netns, ...args], {timeoutMs: 30_000})
}

export interface NeighJson {
  dst: string
  dev?: string
  lladdr?: string
  state?: string[]
}

export async function neighbours(netns: string, dev: string): Promise<NeighJson[]> {
  return ipJson<NeighJson[]>(['neigh', 'show', 'dev', dev], netns)
}

/** The network address of a CIDR (10.244.2.0/24 → 10.244.2.0): a VXLAN peer's VTEP address. */
export function networkOf(cidr: string): string {
  return cidr.split('/')[0] as string
}

/** The lab's VPC router (`lab up --mode vpc`); an error in any other lab. */
export function vpcRouter(state: LabState): NonNullable<LabState['router']> {
  if (!state.router) throw new Error(`lab ${state.name} has no VPC router (lab up --mode vpc)`)
  return state.router
}

/** nft in a lab namespace (argv, no shell); its stdout. */
export async function nft(netns: string, args: string[]): Promise<string> {
  const r = await runInNetns(netnsPath(netns), 'nft', args, {timeoutMs: 30_000})
  if (r.exitCode !== 0) throw new Error(`nft ${args.join(' ')} in ${netns}: ${r.stderr.trim() || `exit ${r.exitCode}`}`)
  return r.stdout
}

/** An iptables table and chain (family ip), as iptables-nft keeps them in nftables. */
export type IptablesChain = readonly [table: string, chain: string]

/** The nftables ip-family tables and chains of a namespace, with each chain's rule count. */
async function ipRuleset(netns: string): Promise<{tables: Set<string>; rules: Map<string, number>}> {
  const out = await nft(netns, ['-j', 'list', 'ruleset', 'ip'])
  type Item = {table?: {name: string}; chain?: {table: string; name: string}; rule?: {table: string; chain: string}}
  const items = ((JSON.parse(out || '{}') as {nftables?: Item[]}).nftables ?? []) as Item[]
  const tables = new Set<string>()
  const rules = new Map<string, number>()
  for (const i of items) {
    if (i.table) tables.add(i.table.name)
    if (i.chain) rules.set(`${i.chain.table}/${i.chain.name}`, rules.get(`${i.chain.table}/${i.chain.name}`) ?? 0)
    if (i.rule) rules.set(`${i.rule.table}/${i.rule.chain}`, (rules.get(`${i.rule.table}/${i.rule.chain}`) ?? 0) + 1)
  }
  return {tables, rules}
}

/**
 * Which of `chains` and of their tables exist in the namespace now (`table` and `table/chain`):
 * iptables makes a built-in chain, and its table, the first time a rule goes in, and deleting the
 * rule leaves them. A fault remembers this before it adds rules, so heal removes only what it made.
 */
export async function iptablesChainsPresent(netns: string, chains: readonly IptablesChain[]): Promise<string[]> {
  const {tables, rules} = await ipRuleset(netns)
  return chains
    .flatMap(([table, chain]) => [table, `${table}/${chain}`])
    .filter((k, i, all) => all.indexOf(k) === i && (k.includes('/') ? rules.has(k) : tables.has(k)))
}

/**
 * Deletes each of `chains` that was not in `before` (iptablesChainsPresent) and has no rule now,
 * then each of their tables that was not in `before` and has no chain left.
 */
export async function removeMadeChains(
  netns: string,
  before: readonly string[],
  chains: readonly IptablesChain[],
): Promise<void> {
  let now = await ipRuleset(netns)
  for (const [table, chain] of chains) {
    const key = `${table}/${chain}`
    if (!before.includes(key) && now.rules.get(key) === 0) await nft(netns, ['delete', 'chain', 'ip', table, chain])
  }
  now = await ipRuleset(netns)
  for (const table of new Set(chains.map(([t]) => t))) {
    const chainsLeft = [...now.rules.keys()].some((k) => k.startsWith(`${table}/`))
    if (!before.includes(table) && now.tables.has(table) && !chainsLeft)
      await nft(netns, ['delete', 'table', 'ip', table])
  }
}
