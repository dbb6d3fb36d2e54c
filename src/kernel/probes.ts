/**
 * Live probes injected from the pods' namespaces: ICMP echo both ways, a DF-set full-size echo
 * (path MTU, ping -M do), a TCP connect and a UDP datagram. Each pod gets one script that runs its
 * side of every probe in parallel; the two scripts coordinate through files in a shared temp dir
 * (the UDP sender stops once the listener got a datagram, the destination side tears its
 * listeners down once the source side is done). On a healthy path everything returns within
 * milliseconds; only a broken path waits for a timeout.
 *
 * TCP defaults to a temporary listener in the destination pod (torn down afterwards). The client
 * retries while refused, because that listener may still be starting; a refused connection only
 * means `no-listener` when the user named the port.
 */
import {readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {runInNetns} from '../netns/index.js'
import {runJobsInNetns, tempDir, type NsJob} from './multi-exec.js'

export type ProbeProtocol = 'icmp' | 'tcp' | 'udp'

/** What one probe did, as trace reports it (`TraceProbe` in src/trace/types.ts adds where it was seen). */
export interface ProbeReport {
  protocol: ProbeProtocol
  direction?: 'forward' | 'return'
  /** ICMP payload size (ping -s); DF probes also set `df`. */
  size?: number
  /** Don't-fragment set (ping -M do): a path-MTU probe. */
  df?: boolean
  port?: number
  ok: boolean
  detail: string
  durationMs: number
}

export interface ProbeEndpoint {
  ip: string
  netnsPath: string
  /** The pod interface (for the DF probe's MTU). Default eth0. */
  ifname?: string
}

export interface ProbePlan {
  a: ProbeEndpoint
  b: ProbeEndpoint
  protocols: ProbeProtocol[]
  /** ICMP payload size for the basic pings. */
  size: number
  /** DF probe payload size; undefined: the source pod's MTU − 28, measured by the probe script. */
  dfSize?: number
  /** Send the DF probe at all. */
  df: boolean
  timeoutMs: number
  tcpPort: number
  /** True when the user named the port: then nothing is started in the destination pod. */
  userPort: boolean
  udpPort: number
  /**
   * What the UDP datagram carries, so the listener knows it is ours. Default: from this process's pid
   * and the port; two machines running the two sides (node agents) must agree on one.
   */
  udpToken?: string
  /**
   * How long the UDP sender keeps sending (every 50 ms) when it runs alone and can't see the
   * listener's stop file (a node agent's source side). Default: timeoutMs.
   */
  udpSendMs?: number
}

/** The datagram a plan's UDP probe sends. */
export function udpToken(plan: ProbePlan): string {
  return plan.udpToken ?? `cnidbg-trace-${process.pid}-${plan.udpPort}`
}

export type ProbeKind = 'icmp-forward' | 'icmp-return' | 'icmp-df' | 'tcp' | 'udp'

export interface ProbeOutcome extends ProbeReport {
  kind: ProbeKind
  /** TCP to a user-named port: the destination answered with a RST. */
  refused?: boolean
  /** ICMP DF: the path MTU reported by frag-needed / a local "message too long", if any. */
  reportedMtu?: number
}

function seconds(ms: number): string {
  return String(Math.max(1, Math.round(ms / 1000)))
}

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l) ?? ''
  )
}

export function probeKinds(plan: ProbePlan): ProbeKind[] {
  const kinds: ProbeKind[] = []
  if (plan.protocols.includes('icmp')) kinds.push('icmp-forward', 'icmp-return')
  if (plan.protocols.includes('icmp') && plan.df) kinds.push('icmp-df')
  if (plan.protocols.includes('tcp')) kinds.push('tcp')
  if (plan.protocols.includes('udp')) kinds.push('udp')
  return kinds
}

// ---------------------------------------------------------------------------------------------
// the two scripts

const SRC_HEAD = `D=$1 PEER=$2 SIZE=$3 W=$4 TPORT=$5 TTRIES=$6 UPORT=$7 TOKEN=$8 UTRIES=$9 DFSIZE=\${10} IFN=\${11}`

const SRC_SNIPPET: Record<Exclude<ProbeKind, 'icmp-return'>, string> = {
  'icmp-forward': `( ping -n -c 1 -W "$W" -s "$SIZE" "$PEER" > "$D/icmp-forward.out" 2>&1; echo $? > "$D/icmp-forward.rc" ) &`,
  'icmp-df': `(   if [ -z "$DFSIZE" ]; then
    set -- $(ip -o link show dev "$IFN"); while [ $# -gt 1 ] && [ "$1" != mtu ]; do shift; done; DFSIZE=$(($2 - 28))
  fi
  echo "$DFSIZE" > "$D/icmp-df.size"
  ping -n -c 1 -W "$W" -M do -s "$DFSIZE" "$PEER" > "$D/icmp-df.out" 2>&1; echo $? > "$D/icmp-df.rc" ) &`,
  // Retries while refused (our temporary listener may still be starting), for at most $W seconds:
  // a `sleep` in the background is the clock (kill -0 is a builtin: no fork per check).
  tcp: `( sleep "$W" & clock=$!; i=0
  while :; do
    out=$(nc -z -v -n -w "$W" "$PEER" "$TPORT" 2>&1); rc=$?
    [ $rc -eq 0 ] && break
    case "$out" in *refused*) ;; *) break ;; esac
    i=$((i+1)); [ $i -ge "$TTRIES" ] && break
    kill -0 $clock 2>/dev/null || break
    sleep 0.02
  done
  kill $clock 2>/dev/null
  echo "$out" > "$D/tcp.out"; echo $rc > "$D/tcp.rc" ) &`,
  // Sends every 50 ms until the destination script says its listener got one, for at most $W s.
  udp: `( sleep "$W" & clock=$!; i=0
  while [ $i -lt "$UTRIES" ]; do
    nc -u -n -w 1 -q 0 "$PEER" "$UPORT" 2>/dev/null <<CNIDBG_EOF
$TOKEN
CNIDBG_EOF
    [ -e "$D/udp.stop" ] && break
    kill -0 $clock 2>/dev/null || break
    sleep 0.05; i=$((i+1))
  done
  kill $clock 2>/dev/null
  echo 0 > "$D/udp.rc" ) &`,
}

// The destination side. Listeners run under `timeout` (killing it kills the listener too) and
// publish their pids, so the source side can end them as soon as it is done; whichever side comes
// second sees the other's file (pid written before a.done is checked, a.done before pids are read).
const DST_SCRIPT = `D=$1 PEER=$2 SIZE=$3 W=$4 TPORT=$5 TL=$6 UPORT=$7 UL=$8 MAXS=$9 RET=\${10}
up= tp=
if [ "$UL" = 1 ]; then timeout --foreground "$MAXS" nc -u -l -n -W 1 "$UPORT" > "$D/udp.recv" 2> "$D/udpl.err" & up=$!; echo $up > "$D/udpl.pid"; fi
if [ "$TL" = 1 ]; then timeout --foreground "$MAXS" nc -l -n "$TPORT" > /dev/null 2> "$D/tcpl.err" & tp=$!; echo $tp > "$D/tcpl.pid"; fi
[ -e "$D/a.done" ] && kill $up $tp 2>/dev/null
if [ "$RET" = 1 ]; then
  ( ping -n -c 1 -W "$W" -s "$SIZE" "$PEER" > "$D/icmp-return.out" 2>&1; echo $? > "$D/icmp-return.rc" ) &
fi
# The UDP listener exits after one datagram: tell the sender to stop.
if [ -n "$up" ]; then wait $up; touch "$D/udp.stop"; fi
wait
exit 0`

// The source side's last step: end the destination's listeners (see DST_SCRIPT).
const SRC_TAIL = `wait
touch "$D/a.done"
for f in "$D/udpl.pid" "$D/tcpl.pid"; do
  if [ -e "$f" ]; then read p < "$f"; kill "$p" 2>/dev/null; fi
done`

/**
 * The destination and source jobs for these probe kinds, coordinating through `dir`. Each also runs
 * alone, on another machine with a directory of its own (a node agent runs one side): then the UDP
 * sender sends until its time is up, and the listeners live until they are killed through their pid
 * files (`stopListeners`) or their timeout.
 */
export function probeJobs(plan: ProbePlan, kinds: readonly ProbeKind[], dir: string): NsJob[] {
  const token = udpToken(plan)
  const srcKinds = kinds.filter((k): k is Exclude<ProbeKind, 'icmp-return'> => k !== 'icmp-return')
  const src: NsJob = {
    nsPath: plan.a.netnsPath,
    script: [SRC_HEAD, ...srcKinds.map((k) => SRC_SNIPPET[k]), SRC_TAIL].join('\n'),
    args: [
      dir,
      plan.b.ip,
      String(plan.size),
      seconds(plan.timeoutMs),
      String(plan.tcpPort),
      String(plan.userPort ? 1 : Math.max(1, Math.round(plan.timeoutMs / 20))),
      String(plan.udpPort),
      token,
      String(Math.max(1, Math.round((plan.udpSendMs ?? plan.timeoutMs) / 50))),
      plan.dfSize === undefined ? '' : String(plan.dfSize),
      plan.a.ifname ?? 'eth0',
    ],
  }
  const dst: NsJob = {
    nsPath: plan.b.netnsPath,
    script: DST_SCRIPT,
    args: [
      dir,
      plan.a.ip,
      String(plan.size),
      seconds(plan.timeoutMs),
      String(plan.tcpPort),
      kinds.includes('tcp') && !plan.userPort ? '1' : '0',
      String(plan.udpPort),
      kinds.includes('udp') ? '1' : '0',
      String(Math.ceil((plan.timeoutMs * 3 + 3000) / 1000)),
      kinds.includes('icmp-return') ? '1' : '0',
    ],
  }
  // The destination first: its listeners get a head start.
  return [dst, src]
}

// ---------------------------------------------------------------------------------------------
// reading the results

function readOr(dir: string, name: string): string | undefined {
  try {
    return readFileSync(join(dir, name), 'utf8')
  } catch {
    return undefined
  }
}

function mtime(dir: string, name: string): number {
  try {
    return statSync(join(dir, name)).mtimeMs
  } catch {
    return Date.now()
  }
}

/** ping's output → outcome. Exported for tests. */
export function pingOutcome(
  kind: 'icmp-forward' | 'icmp-return' | 'icmp-df',
  to: string,
  size: number,
  out: string,
  rc: number | null,
  durationMs: number,
  timeoutMs: number,
): ProbeOutcome {
  const ok = rc === 0
  const rtt = /time=([\d.]+) ms/.exec(out)?.[1]
  const mtuMatch = /mtu\s*=\s*(\d+)/i.exec(out)
  const errLine =
    out
      .split('\n')
      .map((l) => l.trim())
      .find((l) => /^From |unreachable|too long|Frag needed|error|Network is|No route|Cannot/i.test(l)) ?? ''
  let detail: string
  if (ok) detail = `reply from ${to}${rtt ? ` in ${rtt} ms` : ''}`
  else if (errLine) detail = errLine
  else if (rc === null) detail = 'ping did not finish'
  else if (/100% packet loss/.test(out)) detail = `no reply within ${seconds(timeoutMs)} s`
  else detail = firstLine(out) || `ping exited ${rc}`
  return {
    kind,
    protocol: 'icmp',
    direction: kind === 'icmp-return' ? 'return' : 'forward',
    size,
    df: kind === 'icmp-df' || undefined,
    ok,
    detail,
    durationMs,
    reportedMtu: mtuMatch ? Number(mtuMatch[1]) : undefined,
  }
}

/** Reads what the scripts left in `dir`. */
export function collectProbes(
  plan: ProbePlan,
  kinds: readonly ProbeKind[],
  dir: string,
  startedAt: number,
): ProbeOutcome[] {
  return kinds.map((kind): ProbeOutcome => {
    const rcText = readOr(dir, `${kind}.rc`)?.trim()
    const rc = rcText === undefined || rcText === '' ? null : Number(rcText)
    // The script writes <kind>.rc when that probe ends: its mtime is the probe's end.
    const ms = Math.max(0, Math.round(mtime(dir, `${kind}.rc`) - startedAt))
    const out = readOr(dir, `${kind}.out`) ?? ''
    switch (kind) {
      case 'icmp-forward':
        return pingOutcome(kind, plan.b.ip, plan.size, out, rc, ms, plan.timeoutMs)
      case 'icmp-return':
        return pingOutcome(kind, plan.a.ip, plan.size, out, rc, ms, plan.timeoutMs)
      case 'icmp-df': {
        const size = Number(readOr(dir, 'icmp-df.size')?.trim() ?? plan.dfSize ?? 0)
        return pingOutcome(kind, plan.b.ip, size, out, rc, ms, plan.timeoutMs)
      }
      case 'tcp': {
        const ok = rc === 0
        const refused = /refused/i.test(out)
        const listenerErr = (readOr(dir, 'tcpl.err') ?? '').trim()
        let detail: string
        if (ok) detail = `connected to ${plan.b.ip}:${plan.tcpPort}${plan.userPort ? '' : ' (temporary listener)'}`
        else if (listenerErr) detail = `the temporary listener on :${plan.tcpPort} failed: ${firstLine(listenerErr)}`
        else if (refused)
          detail = `connection to ${plan.b.ip}:${plan.tcpPort} refused${plan.userPort ? '' : ' although a temporary listener was up'}`
        else if (rc === null) detail = 'the TCP probe did not finish'
        else if (/timed out|in progress/i.test(out))
          detail = `no answer from ${plan.b.ip}:${plan.tcpPort} within ${seconds(plan.timeoutMs)} s`
        else detail = firstLine(out) || `nc exited ${rc}`
        return {
          kind,
          protocol: 'tcp',
          direction: 'forward',
          port: plan.tcpPort,
          ok,
          refused: (refused && plan.userPort) || undefined,
          detail,
          durationMs: ms,
        }
      }
      case 'udp': {
        const ok = (readOr(dir, 'udp.recv') ?? '').includes(udpToken(plan))
        const listenerErr = (readOr(dir, 'udpl.err') ?? '').trim()
        const detail = ok
          ? `datagram received by ${plan.b.ip}:${plan.udpPort}`
          : listenerErr
            ? `the UDP listener on :${plan.udpPort} failed: ${firstLine(listenerErr)}`
            : `datagram not received within ${seconds(plan.timeoutMs)} s`
        return {kind, protocol: 'udp', direction: 'forward', port: plan.udpPort, ok, detail, durationMs: ms}
      }
    }
  })
}

/** What a destination job's listener wrote on stderr ('' when it started fine). */
export function listenerError(dir: string, kind: 'tcp' | 'udp'): string {
  return firstLine(readOr(dir, `${kind}l.err`) ?? '')
}

/** Kills a destination job's listeners (its pid files in `dir`), as the source side would. */
export function stopListeners(dir: string): void {
  for (const f of ['udpl.pid', 'tcpl.pid']) {
    const pid = Number(readOr(dir, f)?.trim())
    if (pid > 0) {
      try {
        process.kill(pid)
      } catch {
        // ended already
      }
    }
  }
}

/** Whether a destination job's listeners have started (their pid files are there). */
export function listenersStarted(plan: ProbePlan, kinds: readonly ProbeKind[], dir: string): boolean {
  const want = [
    ...(kinds.includes('udp') ? ['udpl.pid'] : []),
    ...(kinds.includes('tcp') && !plan.userPort ? ['tcpl.pid'] : []),
  ]
  return want.every((f) => readOr(dir, f) !== undefined)
}

/** Runs these probes (both pods' sides in parallel, from one spawned process). */
export async function runProbes(
  plan: ProbePlan,
  kinds: readonly ProbeKind[] = probeKinds(plan),
): Promise<ProbeOutcome[]> {
  const dir = tempDir('cnidbg-probe-')
  try {
    const startedAt = Date.now()
    await runJobsInNetns(probeJobs(plan, kinds, dir.path), {timeoutMs: plan.timeoutMs * 4 + 6000})
    return collectProbes(plan, kinds, dir.path, startedAt)
  } finally {
    dir.remove()
  }
}

/** What listens on a TCP port in a namespace (evidence for no-listener). */
export async function tcpListeners(nsPath: string, port: number): Promise<string[]> {
  const r = await runInNetns(nsPath, 'ss', ['-Hltn', `sport = :${port}`], {timeoutMs: 3000})
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
}
