/**
 * Watching a probe cross the path: one short tcpdump per path interface, all in parallel, filtered
 * to the probe's addresses (on a VXLAN underlay, to the *inner* addresses at their fixed offsets in
 * the encapsulated frame), plus interface and netfilter counter deltas. The last hop that saw the
 * packet is where to look; a DROP rule whose counter moved is proof.
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {parseIP} from '../core/ip.js'
import {runJobsInNetns, tempDir, type NsJobResult} from './multi-exec.js'
import {iptablesCounters, nftCounters, parseIptablesSave} from './netfilter.js'
import type {KernelSnapshot, LinkInfo, LocalKernelReader, NeighEntry} from './reader.js'
import type {ProbeProtocol} from './probes.js'

export interface CapturePoint {
  netnsPath: string
  device: string
  /** Label for evidence, e.g. `node-a/cnidbg.1`. */
  label: string
  /** The device carries VXLAN-encapsulated probe packets (a node's underlay in vxlan mode). */
  encapsulated: boolean
}

export interface CaptureSpec {
  a: string
  b: string
  protocol: ProbeProtocol
  port?: number
  vxlanPort: number
}

export interface CaptureResult {
  point: CapturePoint
  /** The capture ran (tcpdump started and listened). */
  ok: boolean
  error?: string
  /** Packets seen a→b and b→a. */
  aToB: number
  bToA: number
  lines: string[]
}

const PROTO_NUM: Record<ProbeProtocol, number> = {icmp: 1, tcp: 6, udp: 17}

function hex(ip: string): string {
  const a = parseIP(ip)
  if (a?.family !== 4) throw new Error(`not an IPv4 address: ${ip}`)
  return `0x${a.value.toString(16).padStart(8, '0')}`
}

/** The BPF filter for one capture point. Exported for tests. */
export function captureFilter(point: CapturePoint, spec: CaptureSpec): string {
  if (point.encapsulated) {
    // Outer IPv4 + UDP, then VXLAN (8) + inner Ethernet (14): the inner IP header starts at udp[30].
    const a = hex(spec.a)
    const b = hex(spec.b)
    return (
      `udp dst port ${spec.vxlanPort} and udp[39] = ${PROTO_NUM[spec.protocol]} and ` +
      `((udp[42:4] = ${a} and udp[46:4] = ${b}) or (udp[42:4] = ${b} and udp[46:4] = ${a}))`
    )
  }
  const l4 = spec.protocol === 'icmp' ? 'icmp' : `${spec.protocol}${spec.port ? ` port ${spec.port}` : ''}`
  return `host ${spec.a} and host ${spec.b} and ${l4}`
}

/** Counts packets per direction from tcpdump -nn output (the innermost `IP x > y` of each packet). */
export function countDirections(text: string, a: string, b: string): {aToB: number; bToA: number; lines: string[]} {
  const records: string[] = []
  for (const line of text.split('\n')) {
    if (/^\d{2}:\d{2}:\d{2}\.\d+ /.test(line)) records.push(line)
    else if (line.trim() && records.length) records[records.length - 1] += ` ${line.trim()}`
  }
  let aToB = 0
  let bToA = 0
  for (const rec of records) {
    // The innermost `a.b.c.d[.port] > e.f.g.h[.port]:` (also after "IP truncated-ip - N bytes missing!").
    const all = [...rec.matchAll(/(\d+\.\d+\.\d+\.\d+)(?:\.\d+)? > (\d+\.\d+\.\d+\.\d+)(?:\.\d+)?:/g)]
    const last = all[all.length - 1]
    if (!last) continue
    const src = last[1]!
    const dst = last[2]!
    if (src === a && dst === b) aToB++
    else if (src === b && dst === a) bToA++
  }
  return {aToB, bToA, lines: records}
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * A set of running captures, all launched from one spawned process. start() resolves once every
 * tcpdump listens (or failed); stop() SIGINTs them (tcpdump flushes and exits) and reads the output.
 */
export class Captures {
  private done?: Promise<NsJobResult[]>
  private readonly dir: {path: string; remove: () => void}

  constructor(
    private readonly points: CapturePoint[],
    private readonly spec: CaptureSpec,
  ) {
    this.dir = tempDir('cnidbg-capture-')
  }

  private file(i: number, ext: string): string {
    return join(this.dir.path, `cap${i}.${ext}`)
  }

  /**
   * Starts every capture and resolves once each listens (or failed). It only waits as long as that
   * takes, so the bound is generous: on a loaded node tcpdump can take seconds to start, and a probe
   * sent before a capture listens looks like a drop at that hop.
   */
  async start(maxWaitMs = 8000): Promise<void> {
    if (!this.points.length) return
    // The shell records its pid, then becomes tcpdump: we can SIGINT it the moment the probe is done
    // instead of waiting for a timeout. --immediate-mode hands each packet over as it comes (not in
    // blocks of up to a second), and the output goes to a file we can watch grow.
    const script = 'echo $$ > "$1"; exec tcpdump -nn -l --immediate-mode -i "$3" -c 200 "$4" 2> "$2" > "$5"'
    const jobs = this.points.map((point, i) => ({
      nsPath: point.netnsPath,
      script,
      args: [
        this.file(i, 'pid'),
        this.file(i, 'err'),
        point.device,
        captureFilter(point, this.spec),
        this.file(i, 'out'),
      ],
    }))
    let finished = false
    this.done = runJobsInNetns(jobs, {dir: this.dir.path, timeoutMs: 60_000}).finally(() => (finished = true))
    const started = performance.now()
    while (performance.now() - started < maxWaitMs && !finished) {
      if (this.points.every((_, i) => this.listening(i) || this.failed(i))) return
      await sleep(10)
    }
  }

  private read(path: string): string {
    try {
      return readFileSync(path, 'utf8')
    } catch {
      return ''
    }
  }

  private listening(i: number): boolean {
    return this.read(this.file(i, 'err')).includes('listening on')
  }

  private failed(i: number): boolean {
    return /tcpdump: /.test(this.read(this.file(i, 'err')).replace(/tcpdump: verbose output suppressed[^\n]*/, ''))
  }

  /** Bytes each capture has written so far. */
  private sizes(): number[] {
    return this.points.map((_, i) => this.read(this.file(i, 'out')).length)
  }

  /**
   * Stops the captures once their output has settled: at least `graceMs` after the probe, then until
   * no capture has written anything for two looks in a row (a loaded node may take a while to hand
   * tcpdump the last packets), at most `maxMs`.
   */
  async stop(graceMs = 60, maxMs = 3000): Promise<CaptureResult[]> {
    try {
      if (!this.done) return []
      await sleep(graceMs)
      const until = performance.now() + maxMs
      let last = this.sizes()
      for (let quiet = 0; quiet < 2 && performance.now() < until;) {
        await sleep(40)
        const now = this.sizes()
        quiet = now.every((n, i) => n === last[i]) ? quiet + 1 : 0
        last = now
      }
      this.points.forEach((_, i) => {
        const pid = Number(this.read(this.file(i, 'pid')).trim())
        if (pid > 0) {
          try {
            process.kill(pid, 'SIGINT')
          } catch {
            // exited already
          }
        }
      })
      const results = await this.done
      return this.points.map((point, i): CaptureResult => {
        const err = this.read(this.file(i, 'err'))
        const started = err.includes('listening on')
        const counts = countDirections(this.read(this.file(i, 'out')), this.spec.a, this.spec.b)
        const last = err
          .trim()
          .split('\n')
          .filter((l) => !/verbose output suppressed/.test(l))
          .pop()
        return {
          point,
          ok: started,
          error: started ? undefined : last || results[i]?.stderr.trim() || 'tcpdump did not start',
          ...counts,
        }
      })
    } finally {
      this.dir.remove()
    }
  }
}

// ---------------------------------------------------------------------------------------------
// counters

export interface CounterSnapshot {
  links: Map<string, LinkInfo>
  rules: Map<string, number>
  /** Neighbour entries, to see resolutions the probe left incomplete or failed. */
  neigh: NeighEntry[]
}

const COUNTER_PARTS = ['links', 'neigh', 'iptables', 'nft'] as const

function toCounters(snap: KernelSnapshot): CounterSnapshot {
  const rules = new Map<string, number>()
  if (snap.iptables)
    for (const [k, v] of iptablesCounters(parseIptablesSave(snap.iptables))) rules.set(`iptables ${k}`, v)
  if (snap.nft) for (const [k, v] of nftCounters(snap.nft)) rules.set(`nft ${k}`, v)
  return {links: new Map(snap.links.map((l) => [l.ifname, l])), rules, neigh: snap.neigh}
}

/** Interface and rule counters of several local namespaces, from one spawned process. */
export async function readCounters(readers: readonly LocalKernelReader[]): Promise<CounterSnapshot[]> {
  const req = {parts: COUNTER_PARTS}
  const dir = tempDir('cnidbg-counters-')
  try {
    const jobs = readers.map((r) => r.job(req, dir.path))
    const results = await runJobsInNetns(jobs, {dir: dir.path})
    return readers.map((r, i) => toCounters(r.parse(req, results[i]!, jobs[i]!.errFile)))
  } finally {
    dir.remove()
  }
}

/** Lines for counters that moved: drops on links, and DROP/REJECT rules that matched. */
export function counterDeltas(label: string, before: CounterSnapshot, after: CounterSnapshot): string[] {
  const out: string[] = []
  for (const [name, l] of after.links) {
    const b = before.links.get(name)
    if (!b) continue
    const rxd = (l.stats64?.rx?.dropped ?? 0) - (b.stats64?.rx?.dropped ?? 0)
    const txd = (l.stats64?.tx?.dropped ?? 0) - (b.stats64?.tx?.dropped ?? 0)
    if (rxd > 0 || txd > 0)
      out.push(`${label} ${name}: ${rxd > 0 ? `rx_dropped +${rxd} ` : ''}${txd > 0 ? `tx_dropped +${txd}` : ''}`.trim())
  }
  for (const [rule, n] of after.rules) {
    const d = n - (before.rules.get(rule) ?? 0)
    if (d > 0 && /(-j (DROP|REJECT)|drop|reject)/.test(rule)) out.push(`${label} ${rule}: +${d} packets`)
  }
  return out
}
