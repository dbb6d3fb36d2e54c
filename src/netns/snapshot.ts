import {readdirSync, statSync} from 'node:fs'
import {join, relative} from 'node:path'

import {run} from '../process/exec.js'
import {inNetnsArgv} from './enter.js'

/**
 * A comparable picture of one namespace's network state (links, addresses, routes, rules,
 * iptables/nft, tc) and of a state dir, as sorted text lines. Conformance diffs two snapshots,
 * taken before ADD and after DEL, to find what a plugin leaked (P71, P99).
 */
export interface NetnsSnapshot {
  lines: string[]
}

type Exec = (file: string, args: string[]) => Promise<{stdout: string; exitCode: number | null}>

function linkLines(json: string): string[] {
  const links = JSON.parse(json || '[]') as Array<Record<string, unknown>>
  return links.map((l) => {
    const kind =
      ((l.linkinfo as Record<string, unknown> | undefined)?.info_kind as string | undefined) ??
      String(l.link_type ?? '')
    const up = (l.flags as string[] | undefined)?.includes('UP') ? 'up' : 'down'
    return `link ${String(l.ifname)} ${kind} mtu ${String(l.mtu)} ${up}${l.master ? ` master ${String(l.master)}` : ''} ${String(l.address ?? '')}`
  })
}

function addrLines(json: string): string[] {
  const links = JSON.parse(json || '[]') as Array<{
    ifname: string
    addr_info?: Array<{local: string; prefixlen: number; scope: string}>
  }>
  // IPv6 link-local addresses come and go with links; the link lines already cover those.
  return links.flatMap((l) =>
    (l.addr_info ?? [])
      .filter((a) => a.scope !== 'link' || !a.local.startsWith('fe80'))
      .map((a) => `addr ${a.local}/${a.prefixlen} dev ${l.ifname}`),
  )
}

function routeLines(json: string, fam: string): string[] {
  const routes = JSON.parse(json || '[]') as Array<Record<string, unknown>>
  // A multipath route (the kernel merges IPv6 routes to one destination through two interfaces, e.g.
  // a default route via eth0 and net1) is one line per nexthop, with its gateway and dev: the line of
  // eth0's route then stays the same when net1's comes and goes.
  const hops = (r: Record<string, unknown>): Array<Record<string, unknown>> =>
    Array.isArray(r.nexthops) && r.nexthops.length > 0 ? (r.nexthops as Array<Record<string, unknown>>) : [r]
  return routes
    .filter(
      (r) =>
        !(fam === '6' && String(r.dst).startsWith('fe80')) &&
        r.type !== 'multicast' &&
        !(fam === '6' && r.table === 'local'),
    )
    .flatMap((r) =>
      hops(r).map(
        (h) =>
          `route${fam} ${String(r.type ?? 'unicast')} ${String(r.dst)}${h.gateway ? ` via ${String(h.gateway)}` : ''}${h.dev ? ` dev ${String(h.dev)}` : ''} table ${String(r.table ?? 'main')}`,
      ),
    )
}

/** Drops counters and comments-only lines so two iptables-save outputs compare by rules alone. */
function iptablesLines(text: string, fam: string): string[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#') && l !== 'COMMIT')
    .map((l) => `ipt${fam} ${l.replace(/\[\d+:\d+\]/g, '').trim()}`)
}

function nftLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && l !== '}' && !l.startsWith('#'))
    .map((l) => `nft ${l.replace(/counter packets \d+ bytes \d+/g, 'counter')}`)
}

// One shell per namespace, and one `ip` for all it reads through netlink: snapshots run several
// times per conformance case. `addr show -d` holds the links' details as well as their addresses, and
// a route `root` of 0.0.0.0/0 or ::/0 selects one family, as -4 and -6 do (which a batch line can't
// carry). iproute2 prints one JSON line per batch command; -force keeps it going after one that fails.
const IP_BATCH = ['addr show', 'route show table all root 0.0.0.0/0', 'route show table all root ::/0', 'rule show']
const SECTIONS = [
  `printf '${IP_BATCH.join('\\n')}\\n' | ip -j -d -force -batch -`,
  'iptables-save 2>/dev/null',
  'ip6tables-save 2>/dev/null',
  'nft list ruleset 2>/dev/null',
  'tc qdisc show',
]
const SEPARATOR = '@@cnidbg-section@@'

/** Each policy routing rule (`ip -j rule show`) as one line: its priority, then every field it has. */
function ruleLines(json: string): string[] {
  const rules = JSON.parse(json || '[]') as Array<Record<string, unknown>>
  return rules.map(({priority, ...rest}) => {
    const fields = Object.entries(rest).map(([k, v]) => `${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    return `rule ${String(priority)}: ${fields.join(' ')}`
  })
}

/** Takes a snapshot through `exec`, which must run `sh -c` inside the namespace to inspect. */
export async function snapshotNetns(exec: Exec): Promise<NetnsSnapshot> {
  const script = SECTIONS.join(`; echo ${SEPARATOR}; `)
  const {stdout} = await exec('sh', ['-c', script])
  const [ip = '', ipt4 = '', ipt6 = '', nft = '', tc = ''] = stdout.split(`${SEPARATOR}\n`)
  // None when ip could not read the namespace (it is gone): the snapshot is empty, as it was when
  // each part had a process of its own. Some but not all: a command that failed printed no line, and
  // the rest would be read as the wrong ones.
  const json = ip.split('\n').filter((l) => l.startsWith('['))
  if (json.length !== 0 && json.length !== IP_BATCH.length) {
    throw new Error(`snapshot: ip printed ${json.length} of ${IP_BATCH.length} JSON lines: ${ip.slice(0, 300)}`)
  }
  const [links = '', r4 = '', r6 = '', rules = ''] = json
  const lines = [
    ...linkLines(links),
    ...addrLines(links),
    ...routeLines(r4, '4'),
    ...routeLines(r6, '6'),
    ...ruleLines(rules),
    ...iptablesLines(ipt4, '4'),
    ...iptablesLines(ipt6, '6'),
    ...nftLines(nft),
    ...tc
      .split('\n')
      .filter((l) => l && !/qdisc noqueue 0: dev lo/.test(l))
      .map((l) => `tc ${l.replace(/refcnt \d+ ?/, '').trim()}`),
  ]
  return {lines: lines.sort()}
}

/** Snapshot of a namespace given by path, via nsenter. */
export function snapshotNetnsPath(nsPath: string): Promise<NetnsSnapshot> {
  return snapshotNetns((file, args) => {
    const [cmd, ...rest] = inNetnsArgv({path: nsPath}, [file, ...args])
    return run(cmd!, rest, {timeoutMs: 15_000})
  })
}

/** Every file under a dir (relative path and size), for state-dir leak checks. */
export function snapshotDir(root: string, ignore: (rel: string) => boolean = () => false): string[] {
  const out: string[] = []
  const walk = (dir: string) => {
    let entries: string[]
    try {
      entries = readdirSync(dir)
    } catch {
      return
    }
    for (const e of entries) {
      const full = join(dir, e)
      const rel = relative(root, full)
      if (ignore(rel)) continue
      const st = statSync(full, {throwIfNoEntry: false})
      if (!st) continue
      if (st.isDirectory()) walk(full)
      else out.push(`file ${rel}`)
    }
  }
  walk(root)
  return out.sort()
}

/** Lines only in `after` (+) and only in `before` (-). */
export function diffLines(before: string[], after: string[]): string[] {
  const b = new Set(before)
  const a = new Set(after)
  return [
    ...after.filter((l) => !b.has(l)).map((l) => `+ ${l}`),
    ...before.filter((l) => !a.has(l)).map((l) => `- ${l}`),
  ]
}
