/**
 * Human renderings of the lab commands' results (their --json is the result itself). Pure: each
 * returns lines; the commands print them.
 */
import chalk from 'chalk'

import type {FaultCatalogEntry, AppliedFault, LabHealResult} from '../../lab/break.js'
import type {LabDownResult} from '../../lab/down.js'
import {DEFAULT_LAB_NAME} from '../../lab/names.js'
import type {PodInfo, PodRmResult} from '../../lab/pods.js'
import type {LabStatusResult} from '../../lab/status.js'
import type {LabUpResult} from '../../lab/up.js'
import {visibleStrings} from '../../core/text.js'

const nameFlag = (name: string): string => (name === DEFAULT_LAB_NAME ? '' : ` --name ${name}`)

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => stripAnsi(r[i] ?? '').length)))
  return rows.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - stripAnsi(c).length)))
      .join('  ')
      .trimEnd(),
  )
}

function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[[0-9;]*m/g, '')
}

/**
 * @example
 * renderUp(result)
 * // Lab "lab" is up (vxlan, 3 nodes, 6 pods) in 21.4s.
 * //   NODE   NODE IP     POD CIDR       NAMESPACE
 * //   node1  198.18.0.2  10.244.1.0/24  cnidbg-lab-lab-node1 …
 */
export function renderUp(r: LabUpResult): string[] {
  const lines = [
    chalk.bold(
      `Lab "${r.name}" is up (${r.mode}, ${r.nodes.length} node${r.nodes.length > 1 ? 's' : ''}, ${r.pods.length} pod${r.pods.length === 1 ? '' : 's'}) in ${(r.durationMs / 1000).toFixed(1)}s.`,
    ),
    '',
    ...table([
      ['NODE', 'NODE IP', 'POD CIDR', 'NAMESPACE'],
      ...r.nodes.map((n) => [n.name, n.nodeIP, n.podCIDR, n.netns]),
    ]).map((l) => `  ${l}`),
    '',
    ...(r.pods.length > 0
      ? table([['POD', 'NODE', 'IP', 'NETNS'], ...r.pods.map((p) => [p.name, p.node, p.ip, p.netnsPath])]).map(
          (l) => `  ${l}`,
        )
      : ['  (no pods)']),
    '',
    `API server ${r.apiserver}; kubeconfig ${r.kubeconfig}`,
    chalk.dim(`  kubectl --kubeconfig ${r.kubeconfig} get pods -o wide`),
  ]
  if (r.pods.length >= 2)
    lines.push(
      chalk.dim(
        `  cnidbg lab exec ${r.pods[0]!.name}${nameFlag(r.name)} -- ping -c 3 ${r.pods[r.pods.length - 1]!.ip}`,
      ),
    )
  lines.push(
    chalk.dim(`  cnidbg lab break --list; cnidbg lab status${nameFlag(r.name)}; cnidbg lab down${nameFlag(r.name)}`),
  )
  for (const x of r.reaped)
    lines.push(chalk.yellow(`Removed crashed lab ${x.name} first (${x.removed.length} things).`))
  return lines
}

export function renderDown(r: LabDownResult): string[] {
  const lines = r.found
    ? [
        `Lab "${r.name}" removed${r.was === 'crashed' ? ' (it had crashed)' : ''}: ${r.removed.length} thing${r.removed.length === 1 ? '' : 's'}.`,
      ]
    : [`No lab named "${r.name}"; nothing to remove.`]
  for (const x of r.reaped) lines.push(`Also removed crashed lab ${x.name}.`)
  return lines
}

const ok = (b: boolean, good = 'ok', bad = 'down'): string => (b ? chalk.green(good) : chalk.red(bad))

export function renderStatus(raw: LabStatusResult): string[] {
  // Health and log lines come from the lab's processes: no escape sequence of theirs reaches the terminal.
  const s = visibleStrings(raw)
  const health =
    s.health === 'running'
      ? chalk.green(s.health)
      : s.health === 'crashed'
        ? chalk.red(s.health)
        : chalk.yellow(s.health)
  const lines = [
    `${chalk.bold(`Lab "${s.name}"`)}: ${health}, mode ${s.mode}, since ${s.createdAt}`,
    `  API server   ${ok(s.apiserver.reachable, 'ok', s.apiserver.running ? 'not answering' : 'dead')}  pid ${s.apiserver.pid ?? '-'}  ${s.apiserver.url ?? ''}`,
    `  supervisor   ${ok(s.supervisor.reachable, 'ok', s.supervisor.running ? 'not answering' : 'dead')}  pid ${s.supervisor.pid ?? '-'}  ${s.supervisor.log ?? ''}`,
    `  kubeconfig   ${s.kubeconfig}`,
    ...(s.nodeKubeconfig ? [`  on a node    ${s.nodeKubeconfig}`] : []),
    `  topology     ${s.topology || '(not written yet)'}`,
    ...(s.router ? [`  VPC router   ${s.router.netns}, between the nodes; route-table API ${s.router.apiUrl}`] : []),
    '',
    ...table([
      ['NODE', 'NODE IP', 'POD CIDR', 'NAMESPACE', 'DAEMON', 'AGENT', 'KUBELET'],
      ...s.nodes.map((n) => [
        n.name,
        n.nodeIP,
        n.podCIDR,
        n.netnsExists ? n.netns : chalk.red(`${n.netns} (missing)`),
        n.daemon.healthy
          ? `${chalk.green('healthy')} pid ${n.daemon.pid} ${n.daemon.url ?? ''}`
          : chalk.red(n.daemon.problem ?? 'unhealthy'),
        n.agent.healthy
          ? `${chalk.green('healthy')} pid ${n.agent.pid} ${n.agent.url ?? ''}`
          : chalk.red(n.agent.problem ?? 'unhealthy'),
        ok(n.kubelet.synced, 'synced', n.kubelet.running ? 'not synced' : 'down'),
      ]),
    ]).map((l) => `  ${l}`),
    '',
  ]
  if (s.pods.length === 0) lines.push('  (no pods)')
  else
    lines.push(
      ...table([
        ['POD', 'NODE', 'IP', 'PHASE', 'NETNS'],
        ...s.pods.map((p) => [
          p.namespace === 'default' ? p.name : `${p.namespace}/${p.name}`,
          p.node,
          p.ip ?? '-',
          p.phase,
          p.netnsExists ? p.netnsPath : chalk.red(`${p.netnsPath} (missing)`),
        ]),
      ]).map((l) => `  ${l}`),
    )
  if (s.faults.length > 0) {
    lines.push('', chalk.bold('Active faults') + chalk.dim(` (cnidbg lab heal${nameFlag(s.name)})`))
    for (const f of s.faults) lines.push(`  ${chalk.yellow(f.fault)} [${f.id}] ${f.summary}`)
  }
  if (s.problems.length > 0) {
    lines.push('', chalk.bold('Problems'))
    for (const p of s.problems) lines.push(`  ${chalk.red('✗')} ${p}`)
  }
  return lines
}

export function renderPodAdd(p: PodInfo): string[] {
  return [
    `Pod ${p.namespace === 'default' ? '' : `${p.namespace}/`}${p.name} runs on ${p.node} with IP ${p.ip} (netns ${p.netnsPath}).`,
  ]
}

export function renderPodRm(p: PodRmResult): string[] {
  return [`Pod ${p.name} deleted${p.netns ? `; ${p.netns} removed by the kubelet on ${p.node}` : ''}.`]
}

export function renderCatalog(list: FaultCatalogEntry[]): string[] {
  const lines: string[] = []
  for (const f of list) {
    const scope = {node: '--node', pod: '--pod (or --node)', peer: '--node --peer', underlay: '[--node]'}[f.scope] ?? ''
    lines.push(
      `${chalk.bold(f.id)}  ${chalk.dim(`${scope}; ${f.modes.join(', ')}${f.stopsDaemon ? '; stops the node daemon' : ''}`)}`,
    )
    lines.push(`  ${f.title}. ${f.description}`)
    lines.push(`  ${chalk.dim('Symptom:')} ${f.symptom}`, '')
  }
  return lines
}

export function renderBreak(f: AppliedFault, lab: string): string[] {
  return [
    `${chalk.yellow('Broke')} ${f.fault} [${f.id}]: ${f.summary}`,
    ...(f.daemonStopped
      ? [chalk.dim(`  The daemon of ${f.node} is stopped so it can't repair this; heal starts it again.`)]
      : []),
    `  ${chalk.dim('Expect:')} ${f.symptom}`,
    chalk.dim(`  Undo: cnidbg lab heal ${f.fault}${nameFlag(lab)}`),
  ]
}

export function renderHeal(r: LabHealResult): string[] {
  const lines = r.healed.length === 0 && r.failed.length === 0 ? ['No active faults matched; nothing to heal.'] : []
  for (const f of r.healed) lines.push(`${chalk.green('Healed')} ${f.fault} [${f.id}]: ${f.summary}`)
  for (const f of r.failed) lines.push(`${chalk.red('Could not heal')} ${f.fault} [${f.id}]: ${f.error}`)
  if (r.daemonsStarted.length > 0) lines.push(`Started the daemon again on ${r.daemonsStarted.join(', ')}.`)
  if (r.remaining > 0) lines.push(chalk.dim(`${r.remaining} fault${r.remaining > 1 ? 's' : ''} still active.`))
  return lines
}
