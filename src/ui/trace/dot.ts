/** A Graphviz (dot) picture of the traced path, the fault marked. Pure. */
import type {TraceResult} from '../../trace/types.js'
import {buildGraph} from './graph.js'

function q(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
}

const FILL = {ok: '#eefbee', warn: '#fff4d6', unknown: '#eeeeee', fail: '#ffdddd'} as const

export function renderDot(r: TraceResult): string {
  const g = buildGraph(r)
  const out: string[] = [
    'digraph trace {',
    `  label=${q(g.title)};`,
    '  labelloc=t; rankdir=LR; fontname="Helvetica";',
    '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ]
  g.nodes.forEach((node, i) => {
    out.push(`  subgraph cluster_${i} {`, `    label=${q(node)}; style=dashed; color="#888888";`)
    for (const b of g.boxes.filter((x) => x.node === node)) {
      const label = b.fault
        ? `✗ ${r.fault!.reason}${r.fault!.policy ? ` ${r.fault!.policy}` : ''}\\n${b.label}\\n${b.stages.join(', ')}`
        : `${b.label}\\n${b.stages.join(', ')}`
      const attrs = [`label="${label.replace(/"/g, '\\"')}"`, `fillcolor="${FILL[b.fault ? 'fail' : b.status]}"`]
      if (b.fault) attrs.push('color="#cc0000"', 'penwidth=3')
      out.push(`    ${b.id} [${attrs.join(', ')}];`)
    }
    out.push('  }')
  })
  for (const e of g.edges) {
    const attrs: string[] = []
    if (e.direction === 'return') attrs.push('style=dashed', 'color="#555555"')
    if (e.broken) attrs.push('color="#cc0000"', 'penwidth=2', 'label="✗"')
    out.push(`  ${e.from} -> ${e.to}${attrs.length ? ` [${attrs.join(', ')}]` : ''};`)
  }
  out.push('}')
  return out.join('\n') + '\n'
}
