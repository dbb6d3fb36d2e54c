import chalk from 'chalk'

import type {LogLevel, RunDaemonResult} from '../../services/daemon.js'

const LEVEL_COLOR: Partial<Record<LogLevel, (s: string) => string>> = {
  error: chalk.red,
  warn: chalk.yellow,
  debug: chalk.dim,
}

/**
 * The daemon's log on stderr: one JSON object per line under --json (for log shippers), else a
 * coloured line. Debug lines only with --verbose.
 */
export function daemonLogger(opts: {json: boolean; verbose: boolean; node: string}) {
  return (level: LogLevel, msg: string): void => {
    if (level === 'debug' && !opts.verbose) return
    const time = new Date().toISOString()
    if (opts.json) {
      process.stderr.write(JSON.stringify({time, level, node: opts.node, msg}) + '\n')
      return
    }
    const color = LEVEL_COLOR[level] ?? ((s: string) => s)
    process.stderr.write(`${chalk.dim(time)} ${color(level.padEnd(5))} ${msg}\n`)
  }
}

/** The node's state when the daemon stops: its own addresses, then a line per peer. */
export function formatDaemonResult(result: RunDaemonResult): string {
  const d = result.diag
  const lines = [
    `${d.node} ${d.mode}: node IP ${d.nodeIP ?? '?'}, podCIDR ${d.podCIDR ?? '?'}, pod MTU ${d.podMTU ?? '?'}`,
  ]
  for (const p of d.peers)
    lines.push(
      `  ${p.status === 'ok' ? chalk.green('ok') : chalk.red(p.status)}  ${p.node} ${p.podCIDR} via ${p.nodeIP}`,
    )
  for (const s of d.skippedPeers) lines.push(`  ${chalk.yellow('skip')}  ${s.name}: ${s.reason}`)
  return lines.join('\n')
}
