/**
 * Finding network namespaces on this machine: every distinct one reachable by path, in /run/netns
 * (named: ip netns, CNI runtimes, our lab) and /proc/<pid>/ns/net (containers), deduplicated by
 * namespace inode; and which of them holds given IPv4 addresses, checked in one spawned process.
 */
import {readdirSync, readlinkSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {isIPv4} from '../core/ip.js'
import {runJobsInNetns} from './multi-exec.js'

export interface NetnsCandidate {
  path: string
  name?: string
  inode: number
}

export interface NetnsScanOptions {
  /** Directories of named namespaces. Default /run/netns and /var/run/netns. */
  netnsDirs?: string[]
  /** Also look at every process's namespace. Default true. */
  procs?: boolean
  /** Skip the namespace this process runs in (the host's). Default true. */
  skipOwn?: boolean
  /**
   * Only the named namespaces this accepts, and none found through /proc: for a lab, its own. Every
   * lab holds the same addresses (pod CIDR 10.244.0.0/16, node IPs 198.18.0.x), so with two labs on
   * one machine a plain scan can find the other lab's pod or node.
   */
  only?: (name: string) => boolean
}

function inodeOf(path: string): number | undefined {
  try {
    return statSync(path).ino
  } catch {
    return undefined
  }
}

/** Every distinct network namespace reachable by path, named ones first. */
export function listNetnsCandidates(opts: NetnsScanOptions = {}): NetnsCandidate[] {
  const seen = new Set<number>()
  const out: NetnsCandidate[] = []
  const own = opts.skipOwn === false ? undefined : inodeOf('/proc/self/ns/net')
  const add = (path: string, name?: string) => {
    const inode = inodeOf(path)
    if (inode === undefined || seen.has(inode) || inode === own) return
    seen.add(inode)
    out.push({path, name, inode})
  }
  for (const dir of opts.netnsDirs ?? ['/run/netns', '/var/run/netns']) {
    let names: string[] = []
    try {
      names = readdirSync(dir).sort()
    } catch {
      continue
    }
    for (const n of names) if (!opts.only || opts.only(n)) add(join(dir, n), n)
  }
  if (opts.procs !== false && !opts.only) {
    let pids: string[] = []
    try {
      pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p))
    } catch {
      pids = []
    }
    for (const pid of pids) {
      const path = `/proc/${pid}/ns/net`
      try {
        // net:[4026532xxx]: cheaper than stat, and tells a fresh inode from one we have.
        const m = /\[(\d+)\]/.exec(readlinkSync(path))
        if (m && seen.has(Number(m[1]))) continue
      } catch {
        continue
      }
      add(path)
    }
  }
  return out
}

/** `ip -o -4 addr show` lines → address → interface. */
export function parseAddrLines(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+(\S+?)(?:@\S+)?\s+inet\s+(\d+\.\d+\.\d+\.\d+)\//.exec(line)
    if (m) out.set(m[2]!, m[1]!)
  }
  return out
}

export interface NetnsMatch {
  path: string
  /** Its name under /run/netns, when it has one. */
  name?: string
  /** The interface that holds the address. */
  ifname: string
  inode: number
}

/**
 * Finds, for each IP, the network namespace that holds it on an interface. One spawned process
 * checks every candidate namespace in parallel. IPs held by no namespace are absent from the map;
 * an IP held by several (a misconfiguration) maps to the first, named namespaces first.
 */
export async function findNetnsByIPs(
  ips: readonly string[],
  opts: NetnsScanOptions = {},
): Promise<Map<string, NetnsMatch>> {
  const wanted = new Set(ips.filter(isIPv4))
  const out = new Map<string, NetnsMatch>()
  if (!wanted.size) return out
  const candidates = listNetnsCandidates(opts)
  const results = await runJobsInNetns(
    candidates.map((c) => ({nsPath: c.path, script: 'ip -o -4 addr show'})),
    {timeoutMs: 20_000},
  )
  candidates.forEach((c, i) => {
    for (const [ip, ifname] of parseAddrLines(results[i]?.stdout ?? '')) {
      if (!wanted.has(ip) || out.has(ip)) continue
      out.set(ip, {path: c.path, name: c.name ?? netnsName(c.path), ifname, inode: c.inode})
    }
  })
  return out
}

export async function findNetnsByIP(ip: string, opts: NetnsScanOptions = {}): Promise<NetnsMatch | undefined> {
  return (await findNetnsByIPs([ip], opts)).get(ip)
}

const NAMED = /^\/(?:var\/)?run\/netns\/([^/]+)$/

/** The name of a namespace whose path is under /run/netns or /var/run/netns (`ip netns` names it so). */
export function netnsName(path: string): string | undefined {
  return NAMED.exec(path)?.[1]
}
