import t from 'tap'

import {renderDot} from '../../../src/ui/trace/dot.js'
import {faultyResult} from '../../helpers/trace-fixture.js'

t.test('dot: clusters per node, fault red, return dashed', async (t) => {
  const out = renderDot(faultyResult())
  t.match(out, /^digraph trace \{/)
  t.match(out, 'label="shop/client → shop/web (vxlan): unreachable: filtered"')
  t.match(out, /subgraph cluster_0 \{\n\s+label="node-0"/)
  t.match(out, /\[label="✗ filtered\\nn1: routing \+ netfilter[^\]]*penwidth=3\]/)
  t.match(out, /style=dashed/)
  t.match(out, /-> b\d+ \[color="#cc0000", penwidth=2, label="✗"\]/)
  t.match(out, /\}\n$/)
})
