import t from 'tap'

import {renderMermaid} from '../../../src/ui/trace/mermaid.js'
import {faultyResult} from '../../helpers/trace-fixture.js'

t.test('mermaid: one box per place, nodes as subgraphs, return dashed, fault marked', async (t) => {
  const out = renderMermaid(faultyResult())
  t.match(out, /^flowchart LR\n/)
  t.match(out, 'subgraph k8s_node_0["node-0"]')
  t.match(out, 'subgraph k8s_node_1["node-1"]')
  // Route + filter hops of a node collapse into its "routing + netfilter" box.
  t.equal(out.match(/n1: routing \+ netfilter/g)?.length, 1)
  t.match(out, /b\d+\["✗ filtered<br\/>n1: routing \+ netfilter/)
  t.match(out, /-- ✗ -->/, 'the edge into the fault is marked')
  t.match(out, /-\.->/, 'return edges are dashed')
  t.match(out, /class [b\d,]+ fail/)
  t.notMatch(out, /"[^"\n]*"[^\]\n]*"/, 'labels carry no raw quotes')
})

t.test('mermaid: an unknown verdict says which node was not read', async (t) => {
  const r = faultyResult()
  r.verdict = 'unknown'
  delete r.fault
  r.unreadable = [{node: 'node-1', what: 'node', reason: 'agent: refused'}]
  t.match(renderMermaid(r), 'unknown: node-1 not read')
})
