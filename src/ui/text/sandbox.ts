import chalk from 'chalk'

import type {SandboxGcResult, SandboxListResult} from '../../services/sandbox.js'

const STATE_COLOR: Record<string, (s: string) => string> = {stale: chalk.red, kept: chalk.cyan, live: chalk.green}

/** `sandbox ls`: a line per sandbox (id, state, label, age, namespaces), then unclaimed namespaces. */
export function formatSandboxList(result: SandboxListResult): string {
  if (result.sandboxes.length === 0 && result.orphans.length === 0) return 'No cnidbg sandboxes.'
  const lines = result.sandboxes.map((s) => {
    const color = STATE_COLOR[s.state] ?? chalk.green
    return `${s.id}  ${color(s.state.padEnd(5))}  ${s.label.padEnd(12)} ${s.createdAt}  ${s.netns.join(' ')}`
  })
  for (const o of result.orphans) lines.push(`${chalk.red('orphan')}  netns ${o}`)
  return lines.join('\n')
}

/** `sandbox gc`: what went, or that nothing was stale, and what waits for its `exec del`. */
export function formatSandboxGc(result: SandboxGcResult): string {
  const lines = result.removed.map((r) => `removed ${r}`)
  if (result.removed.length === 0) lines.push('Nothing stale to remove.')
  if (result.kept.length > 0)
    lines.push(`kept ${result.kept.length} sandbox(es) waiting for exec del (use --all to remove)`)
  return lines.join('\n')
}
