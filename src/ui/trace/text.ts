/**
 * The human view of a trace: the verdict first, then both directions hop by hop (✓/✗/!/?), the
 * fault highlighted with its evidence and fix under it, then the probes. Pure: color is decided by
 * the caller (`color: false` for pipes and tests), nothing is printed here.
 */
import {Chalk} from 'chalk'

import type {HopStatus, TraceDirection, TraceHop, TraceResult, TraceService} from '../../trace/types.js'
import {visibleStrings} from '../../core/text.js'

export interface TextOptions {
  /** ANSI colors. Default false. */
  color?: boolean
  /** Show evidence of every hop, not only the fault's. */
  verbose?: boolean
  /** Wrap nothing, but cut hop details to this width (0: no cut). Default 0. */
  width?: number
}

const SYMBOL: Record<HopStatus, string> = {ok: '✓', fail: '✗', warn: '!', unknown: '?'}

export function renderText(raw: TraceResult, opts: TextOptions = {}): string {
  // What agents, daemons and the kernel reported (a drop's process name is whatever a pod set) must
  // not drive the terminal: every string is made visible before it is laid out (src/core/text.ts).
  const r = visibleStrings(raw)
  const c = new Chalk({level: opts.color ? 1 : 0})
  const paint: Record<HopStatus, (s: string) => string> = {
    ok: c.green,
    fail: c.red.bold,
    warn: c.yellow,
    unknown: c.gray,
  }
  const out: string[] = []
  const src = `${r.source.namespace}/${r.source.name} (${r.source.ip} on ${r.source.node})`
  const dst = `${r.destination.namespace}/${r.destination.name} (${r.destination.ip} on ${r.destination.node})`
  const via = r.service
    ? `svc ${r.service.namespace}/${r.service.name} (${r.service.clusterIP}:${r.service.port}) → `
    : ''
  out.push(`${c.bold('trace')} ${src} → ${via}${dst}  ${c.dim(`[${r.mode}]`)}`)
  if (r.verdict === 'reachable') {
    out.push(`${c.green.bold('✓ reachable')}${r.probes.length ? '' : c.dim(' (static checks only)')}`)
  } else if (r.verdict === 'unknown') {
    out.push(`${c.yellow.bold('? unknown')}: a node on the path could not be read`)
    for (const u of r.unreadable ?? []) out.push(`  ${c.yellow('?')} ${u.node} (${u.what}): ${u.reason}`)
  } else {
    const f = r.fault
    out.push(
      f
        ? `${c.red.bold('✗ unreachable')}: ${c.bold(f.reason)}${f.policy ? ` (NetworkPolicy ${c.bold(f.policy)})` : ''} at hop ${f.hop} (${f.direction}, ${f.node}, ${f.netns} ${f.device})${f.service ? ` Service ${f.service}` : ''}`
        : c.red.bold('✗ unreachable'),
    )
  }
  if (r.service) out.push(...serviceLines(r.service, c))

  const cut = (s: string) => (opts.width && s.length > opts.width ? `${s.slice(0, opts.width - 1)}…` : s)
  const idxWidth = String(r.hops.length).length
  const stageWidth = Math.max(...r.hops.map((h) => h.stage.length), 5)
  const nodeWidth = Math.max(...r.hops.map((h) => h.node.length), 4)
  const whereWidth = Math.max(...r.hops.map((h) => `${h.netns} ${h.device}`.length), 5)

  const section = (dir: TraceDirection, from: string, to: string) => {
    const hops = r.hops.filter((h) => h.direction === dir)
    if (!hops.length) return
    out.push('', c.bold(`${dir === 'forward' ? 'forward' : 'return '}  ${from} → ${to}`))
    for (const h of hops) out.push(...hopLines(h))
  }

  const hopLines = (h: TraceHop): string[] => {
    const isFault = r.fault?.hop === h.index
    const sym = paint[h.status](SYMBOL[h.status])
    const seen = h.seen === undefined ? '' : h.seen ? c.dim(' [seen]') : c.dim(' [not seen]')
    const line =
      `  ${sym} ${String(h.index).padStart(idxWidth)} ${h.node.padEnd(nodeWidth)}  ${h.stage.padEnd(stageWidth)}  ` +
      `${`${h.netns} ${h.device}`.padEnd(whereWidth)}  ${cut(h.detail)}${seen}`
    const lines = [isFault ? c.red(line) : line]
    if (isFault && r.fault) {
      const ev = r.fault.evidence
      ev.forEach((e, i) => lines.push(`      ${c.red(i === ev.length - 1 && !r.fault!.hint ? '└' : '├')} ${e}`))
      if (r.fault.hint) lines.push(`      ${c.red('└')} ${c.bold('fix:')} ${r.fault.hint}`)
    } else if (opts.verbose && h.evidence?.length) {
      for (const e of h.evidence) lines.push(`      ${c.dim('·')} ${c.dim(e)}`)
    }
    return lines
  }

  section('forward', r.source.ip, r.destination.ip)
  section('return', r.destination.ip, r.source.ip)

  if (r.probes.length) {
    out.push('', c.bold('probes'))
    for (const p of r.probes) {
      const what = [
        p.protocol,
        p.direction ?? '',
        p.df ? `DF ${p.size} B` : p.protocol === 'icmp' && p.size !== undefined ? `${p.size} B` : '',
        p.port !== undefined ? `:${p.port}` : '',
      ]
        .filter(Boolean)
        .join(' ')
      const seen = p.lastSeenHop !== undefined ? c.dim(` (last seen at hop ${p.lastSeenHop})`) : ''
      out.push(
        `  ${p.ok ? c.green('✓') : c.red('✗')} ${what.padEnd(22)} ${p.detail} ${c.dim(`${p.durationMs} ms`)}${seen}`,
      )
    }
  }
  if (r.drops?.length) {
    out.push('', c.bold('kernel drop reasons (skb:kfree_skb, during the re-sent probe)'))
    for (const d of r.drops.slice(0, 6)) out.push(`  ${d.reason} ×${d.count} at ${d.location} (${d.comm})`)
  }
  if (r.notes.length) {
    out.push('', c.bold('notes'))
    for (const n of r.notes) out.push(`  ${c.dim('·')} ${n}`)
  }
  out.push('', c.dim(`${r.durationMs} ms`))
  return out.join('\n') + '\n'
}

/** The Service part of a trace to `svc/NAME`: the port, its endpoints, the DNAT hop and the endpoint chosen. */
function serviceLines(s: TraceService, c: InstanceType<typeof Chalk>): string[] {
  const out = [
    '',
    c.bold(
      `service ${s.namespace}/${s.name} ${s.clusterIP}:${s.port}/${s.protocol}${s.portName ? ` (${s.portName})` : ''} → targetPort ${s.targetPort}`,
    ),
    `  selector  ${s.selector || '(none)'}`,
  ]
  if (!s.endpoints.length) out.push(`  endpoints ${c.red('none')}`)
  for (const e of s.endpoints) {
    const mark = e.ready ? c.green('✓') : c.yellow('!')
    const chosen =
      s.chosen && s.chosen.ip === e.ip && s.chosen.port === e.port ? c.bold(` ← chosen (${s.chosen.how})`) : ''
    out.push(
      `  endpoint  ${mark} ${e.ip}:${e.port}${e.pod ? ` ${e.pod}` : ''}${e.node ? ` on ${e.node}` : ''}${e.ready ? '' : ' (not ready)'}${chosen}`,
    )
  }
  out.push(`  dnat      ${SYMBOL[s.dnat.status]} ${s.dnat.node}: ${s.dnat.detail}`)
  if (s.probe)
    out.push(`  probe     ${s.probe.ok ? c.green('✓') : c.red('✗')} tcp ${s.clusterIP}:${s.port}: ${s.probe.detail}`)
  if (s.probe?.conntrack) out.push(`            ${c.dim(s.probe.conntrack)}`)
  return out
}
