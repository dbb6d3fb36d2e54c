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
  return routes
    .filter(
      (r) =>
        !(fam === '6' && String(r.dst).startsWith('fe80')) &&
        r.type !== 'multicast' &&
        !(fam === '6' && r.table === 'local'),
    )
    .map(
      (r) =>
        `route${fam} ${String(r.type ?? 'unicast')} ${String(r.dst)}${r.gateway ? ` via ${String(r.gateway)}` : ''}${r.dev ? ` dev ${String(r.dev)}` : ''} table ${String(r.table ?? 'main')}`,
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

// One shell per namespace instead of nine processes: snapshots run several times per conformance case.
const SECTIONS = [
  'ip -j -d link show',
  'ip -j addr show',
  'ip -j -4 route show table all',
  'ip -j -6 route show table all',
  'ip rule show',
  'iptables-save 2>/dev/null',
  'ip6tables-save 2>/dev/null',
  'nft list ruleset 2>/dev/null',
  'tc qdisc show',
]
const SEPARATOR = '@@cnidbg-section@@'

/** Takes a snapshot through `exec`, which must run `sh -c` inside the namespace to inspect. */
export async function snapshotNetns(exec: Exec): Promise<NetnsSnapshot> {
  const script = SECTIONS.join(`; echo ${SEPARATOR}; `)
  const {stdout} = await exec('sh', ['-c', script])
  const [links = '', addrs = '', r4 = '', r6 = '', rules = '', ipt4 = '', ipt6 = '', nft = '', tc = ''] = stdout.split(
    `${SEPARATOR}\n`,
  )
  const lines = [
    ...linkLines(links.trim()),
    ...addrLines(addrs.trim()),
    ...routeLines(r4.trim(), '4'),
    ...routeLines(r6.trim(), '6'),
    ...rules
      .split('\n')
      .filter(Boolean)
      .map((l) => `rule ${l.trim()}`),
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
