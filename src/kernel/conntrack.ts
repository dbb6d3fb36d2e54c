/**
 * Conntrack entries of one namespace for a flow: `conntrack -L` when conntrack-tools is installed,
 * else /proc/net/nf_conntrack (which shows the namespace of the process that reads it). Both print
 * one entry per line: the protocol, its number, the seconds left, a TCP state, then the original
 * tuple's `src= dst= sport= dport=` (or ICMP `type= code= id=`), the reply tuple's, and flags such as
 * `[UNREPLIED]` and `[ASSURED]`. No entry for a probe's flow while a packet was sent means conntrack
 * never saw it (dropped before, or in another namespace).
 */
import {runInNetns} from '../netns/index.js'

export interface ConntrackTuple {
  src?: string
  dst?: string
  sport?: number
  dport?: number
  type?: number
  code?: number
  id?: number
}

export interface ConntrackEntry {
  proto: string
  /** Seconds until the entry expires. */
  timeout?: number
  /** TCP's state (ESTABLISHED, SYN_SENT…). */
  state?: string
  orig: ConntrackTuple
  reply: ConntrackTuple
  /** UNREPLIED, ASSURED… */
  flags: string[]
  mark?: number
  zone?: number
}

export interface ConntrackFlow {
  /** The two ends; an entry matches in either direction. */
  a: string
  b: string
  proto?: 'icmp' | 'tcp' | 'udp'
  /** A port of either end (TCP/UDP). */
  port?: number
}

const NUMERIC = new Set(['sport', 'dport', 'type', 'code', 'id'])

/** Parses `conntrack -L` or /proc/net/nf_conntrack text. Exported for tests. */
export function parseConntrack(text: string): ConntrackEntry[] {
  const out: ConntrackEntry[] = []
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/).filter(Boolean)
    // /proc/net/nf_conntrack starts with the L3 protocol and its number: `ipv4 2 tcp 6 …`.
    if (words[0] === 'ipv4' || words[0] === 'ipv6') words.splice(0, 2)
    if (words.length < 3 || !/^\d+$/.test(words[1] ?? '')) continue
    const e: ConntrackEntry = {proto: words[0]!, orig: {}, reply: {}, flags: []}
    let tuple = 0
    for (const w of words.slice(2)) {
      const eq = w.indexOf('=')
      if (eq < 0) {
        if (/^\[.+\]$/.test(w)) e.flags.push(w.slice(1, -1))
        else if (/^\d+$/.test(w) && e.timeout === undefined) e.timeout = Number(w)
        else if (/^[A-Z_]+$/.test(w)) e.state = w
        continue
      }
      const k = w.slice(0, eq)
      const v = w.slice(eq + 1)
      // A second `src=` starts the reply tuple.
      if (k === 'src') tuple++
      if (k === 'mark') e.mark = Number(v)
      else if (k === 'zone') e.zone = Number(v)
      else if (['src', 'dst', ...NUMERIC].includes(k) && tuple >= 1 && tuple <= 2) {
        const t = tuple === 1 ? e.orig : e.reply
        ;(t as Record<string, unknown>)[k] = NUMERIC.has(k) ? Number(v) : v
      }
    }
    out.push(e)
  }
  return out
}

/** Whether an entry is the flow's, either way round. */
export function matchesFlow(e: ConntrackEntry, f: ConntrackFlow): boolean {
  if (f.proto && e.proto !== f.proto) return false
  const t = e.orig
  const ends = (t.src === f.a && t.dst === f.b) || (t.src === f.b && t.dst === f.a)
  if (!ends) return false
  return f.port === undefined || t.sport === f.port || t.dport === f.port
}

export interface ConntrackRead {
  /** False when neither conntrack(8) nor /proc/net/nf_conntrack could be read in the namespace. */
  available: boolean
  entries: ConntrackEntry[]
}

/** The namespace's conntrack entries of the flow. */
export async function readConntrack(nsPath: string, flow: ConntrackFlow): Promise<ConntrackRead> {
  const r = await runInNetns(
    nsPath,
    'sh',
    [
      '-c',
      'conntrack -L -f ipv4 2>/dev/null && exit 0; [ -r /proc/net/nf_conntrack ] || exit 3; cat /proc/net/nf_conntrack',
    ],
    {timeoutMs: 5000},
  )
  if (r.exitCode !== 0) return {available: false, entries: []}
  return {available: true, entries: parseConntrack(r.stdout).filter((e) => matchesFlow(e, flow))}
}
