/** A Mermaid flowchart of the traced path, the fault marked. Pure. */
import type {TraceResult} from '../../trace/types.js'
import {buildGraph} from './graph.js'

function esc(s: string): string {
  return s.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;')
}

function sid(s: string): string {
  return s.replace(/[^A-Za-z0-9_]/g, '_')
}

export function renderMermaid(r: TraceResult): string {
  const g = buildGraph(r)
  const out: string[] = ['flowchart LR', `  %% ${esc(g.title)}`]
  for (const node of g.nodes) {
    out.push(`  subgraph ${sid(`k8s_${node}`)}["${esc(node)}"]`)
    for (const b of g.boxes.filter((x) => x.node === node)) {
      const mark = b.fault ? `✗ ${r.fault!.reason}${r.fault!.policy ? ` ${esc(r.fault!.policy)}` : ''}<br/>` : ''
      out.push(`    ${b.id}["${mark}${esc(b.label)}<br/><small>${esc(b.stages.join(', '))}</small>"]`)
    }
    out.push('  end')
  }
  for (const e of g.edges) {
    const arrow = e.direction === 'forward' ? (e.broken ? '-- ✗ -->' : '-->') : e.broken ? '-. ✗ .->' : '-.->'
    out.push(`  ${e.from} ${arrow} ${e.to}`)
  }
  out.push(
    '  classDef fail fill:#fdd,stroke:#c00,stroke-width:3px',
    '  classDef warn fill:#fff4d6,stroke:#c90',
    '  classDef ok fill:#eefbee,stroke:#393',
    '  classDef unknown fill:#eee,stroke:#999',
  )
  for (const status of ['ok', 'warn', 'unknown'] as const) {
    const ids = g.boxes.filter((b) => !b.fault && b.status === status).map((b) => b.id)
    if (ids.length) out.push(`  class ${ids.join(',')} ${status}`)
  }
  const failed = g.boxes.filter((b) => b.fault || b.status === 'fail').map((b) => b.id)
  if (failed.length) out.push(`  class ${failed.join(',')} fail`)
  return out.join('\n') + '\n'
}
