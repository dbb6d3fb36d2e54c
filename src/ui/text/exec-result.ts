import chalk from 'chalk'

import {oneLine, visible} from '../../core/text.js'
import type {Invocation} from '../../runtime/invoke.js'
import {valueText} from '../../runtime/json-output.js'
import {toCanonical} from '../../runtime/result.js'
import type {ExecResult} from '../../services/exec.js'

/**
 * Human rendering of `cnidbg exec` results: what the plugins built, where, and what to run next.
 * Everything a plugin printed (its result's names and addresses, its error, its stderr) goes through
 * oneLine or visible (src/core/text.ts): a plugin's escape sequences must not drive the terminal.
 * @example
 *   ✓ ADD mynet (cniVersion 1.0.0) in 41 ms
 *   interfaces  cni0 (host) 6a:…   veth1a2b (host)   eth0 (/run/netns/cnidbg-1a2b3c-ctr) 0a:58:…
 *   addresses   10.22.0.5/16 on eth0 gw 10.22.0.1
 *   routes      0.0.0.0/0 via 10.22.0.1
 */
export function renderExecResult(r: ExecResult): string[] {
  const lines: string[] = []
  const total = r.invocations.reduce((s, i) => s + i.durationMs, 0)
  const head = `${r.verb.toUpperCase()} ${r.attachment?.network ?? ''}`.trim()
  if (r.skipped) lines.push(`${chalk.cyan('•')} ${head}: ${r.skipped}`)
  else if (r.ok) lines.push(`${chalk.green('✓')} ${head} (cniVersion ${r.cniVersion}) in ${Math.round(total)} ms`)
  else lines.push(`${chalk.red('✗')} ${head} failed: ${oneLine(r.failure ?? 'unknown error')}`)
  if (r.result) {
    // The result is what a plugin printed: any field may have the wrong type (valueText never throws).
    const c = toCanonical(r.result)
    const text = (v: unknown) => oneLine(valueText(v))
    const where = (sandbox?: unknown) => (sandbox ? chalk.dim(`(${text(sandbox)})`) : chalk.dim('(host)'))
    if (c.interfaces.length)
      lines.push(
        `  interfaces  ${c.interfaces.map((i) => `${chalk.bold(text(i.name))} ${where(i.sandbox)}${i.mac ? ' ' + text(i.mac) : ''}${i.mtu ? ` mtu ${text(i.mtu)}` : ''}`).join('\n              ')}`,
      )
    if (c.ips.length)
      lines.push(
        `  addresses   ${c.ips.map((ip) => `${chalk.bold(text(ip.address))}${ip.interface === undefined ? '' : ` on ${text((Number.isInteger(ip.interface) ? c.interfaces[ip.interface]?.name : undefined) ?? `#${valueText(ip.interface)}`)}`}${ip.gateway ? ` gw ${text(ip.gateway)}` : ''}`).join('\n              ')}`,
      )
    if (c.routes.length)
      lines.push(
        `  routes      ${c.routes.map((rt) => text(`${valueText(rt.dst)}${rt.gw ? ` via ${valueText(rt.gw)}` : ''}`)).join('\n              ')}`,
      )
    const dns = c.dns
    const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v])
    const nameservers = list(dns.nameservers)
    const search = list(dns.search)
    if (nameservers.length || dns.domain || search.length)
      lines.push(
        `  dns         ${[...nameservers, dns.domain ? `domain ${valueText(dns.domain)}` : '', search.length ? `search ${search.map(valueText).join(',')}` : ''].filter(Boolean).map(text).join('  ')}`,
      )
  }
  if (r.plugins)
    for (const p of r.plugins)
      lines.push(
        `  ${p.supportsConfigVersion ? chalk.green('✓') : chalk.red('✗')} ${chalk.bold(oneLine(p.type).padEnd(12))} ${oneLine(p.supportedVersions.join(', ')) || chalk.red(oneLine(p.failure ?? 'no versions'))}  ${chalk.dim(p.path)}`,
      )
  if (r.deleted?.length)
    lines.push(`  deleted stale attachments: ${r.deleted.map((a) => `${a.containerID}/${a.ifname}`).join(', ')}`)
  if (r.error?.details) lines.push(`  ${chalk.dim('details:')} ${oneLine(valueText(r.error.details))}`)
  const failed = r.invocations.find((i) => i.exitCode !== 0 && i.stderr.trim())
  if (!r.ok && failed)
    lines.push(
      `  ${chalk.dim(`${failed.plugin} stderr:`)} ${visible(failed.stderr.trim()).split('\n').slice(-5).join('\n    ')}`,
    )
  if (r.rolledBack !== undefined)
    lines.push(`  rollback DEL ${r.rolledBack ? chalk.green('done') : chalk.red('failed')}`)
  if (r.attachment) {
    const a = r.attachment
    lines.push(
      chalk.dim(
        `  attachment  ${a.network} ${a.containerId} ${a.ifname} ${a.netns}${a.sandbox ? ` sandbox ${a.sandbox}` : ''}`,
      ),
    )
  }
  if (r.removed) lines.push(chalk.dim('  throwaway namespaces removed'))
  if (r.next?.length) lines.push(chalk.dim('  next:'), ...r.next.map((n) => chalk.dim(`    ${n}`)))
  return lines
}

/** One plugin invocation for --verbose (written to stderr as it happens). */
export function renderInvocation(i: Invocation): string[] {
  const status =
    i.exitCode === 0 ? chalk.green(`exit 0`) : chalk.red(i.timedOut ? 'timed out' : `exit ${i.exitCode ?? i.signal}`)
  const env = Object.entries(i.env)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')
  const out = [
    `${chalk.cyan('▶')} ${i.plugin} ${i.verb}  ${status}  ${Math.round(i.durationMs)} ms  ${chalk.dim(i.path)}`,
    chalk.dim(`  env    ${visible(env)}`),
    chalk.dim(`  stdin  ${visible(i.stdin)}`),
  ]
  if (i.stdout.trim()) out.push(`  stdout ${visible(i.stdout.trim().slice(0, 4000))}`)
  if (i.stderr.trim()) out.push(chalk.yellow(`  stderr ${visible(i.stderr.trim().slice(0, 4000))}`))
  return out
}
