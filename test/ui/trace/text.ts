import t from 'tap'

import {renderDot} from '../../../src/ui/trace/dot.js'
import {renderMermaid} from '../../../src/ui/trace/mermaid.js'
import {renderText} from '../../../src/ui/trace/text.js'
import {faultyResult} from '../../helpers/trace-fixture.js'

t.test('text: verdict, both directions, fault with evidence and fix', async (t) => {
  const out = renderText(faultyResult())
  t.notOk(out.includes('\u001b['), 'no ANSI codes without color')
  const lines = out.split('\n')
  t.match(lines[0], 'shop/client (10.244.0.10 on node-0) → shop/web (10.244.1.10 on node-1)')
  t.match(lines[1], '✗ unreachable: filtered at hop 5 (forward, node-1, cnidbg-lab-abc123-n1 cnidbg.1 → cni1a)')
  t.ok(lines.some((l) => l.startsWith('forward  10.244.0.10 → 10.244.1.10')))
  t.ok(lines.some((l) => l.startsWith('return   10.244.1.10 → 10.244.0.10')))
  const fault = lines.findIndex((l) => /^\s+✗ 5 node-1/.test(l))
  t.ok(fault > 0, 'the failing hop has ✗')
  t.match(lines[fault + 1], /├ iptables -t filter: -A FORWARD -j DROP \[3 pkts\]/)
  t.match(lines[fault + 3], /└ fix: ip netns exec n1 iptables -t filter -D FORWARD -j DROP/)
  t.ok(lines.some((l) => /^\s+✓ 1 node-0\s+pod-egress/.test(l)))
  t.ok(
    lines.some((l) => /^\s+! 4 /.test(l)),
    'warn symbol',
  )
  t.ok(
    lines.some((l) => /^\s+\? 6 /.test(l)),
    'unknown symbol',
  )
  t.match(out, '[not seen]')
  t.match(out, /✗ icmp forward 56 B\s+no reply within 1 s 1003 ms \(last seen at hop 2\)/)
  t.match(out, 'icmp forward DF 1422 B')
  t.match(out, 'NETFILTER_DROP ×1 at nft_do_chain (ping)')
})

t.test('text: colors when asked, a reachable verdict, verbose evidence', async (t) => {
  const r = faultyResult()
  t.ok(renderText(r, {color: true}).includes('\u001b[31m'), 'ANSI red with color')
  const ok = {
    ...r,
    verdict: 'reachable' as const,
    fault: undefined,
    probes: [],
    hops: r.hops.map((h) => ({...h, status: 'ok' as const})),
  }
  const out = renderText(ok, {verbose: true})
  t.match(out.split('\n')[1], '✓ reachable (static checks only)')
  t.match(out, '· ip route get …')
})

t.test('text: an unknown verdict names each node that could not be read, and why', async (t) => {
  const r = faultyResult()
  r.verdict = 'unknown'
  delete r.fault
  r.unreadable = [{node: 'node-1', what: 'node', reason: 'agent: https://10.0.0.2:10265: connect ECONNREFUSED'}]
  const lines = renderText(r).split('\n')
  t.equal(lines[1], '? unknown: a node on the path could not be read')
  t.equal(lines[2], '  ? node-1 (node): agent: https://10.0.0.2:10265: connect ECONNREFUSED')
  t.notOk(
    lines.some((l) => l.includes('unreachable')),
    'no fault is claimed',
  )
})

t.test('text, mermaid and dot: a policy-denied fault names its NetworkPolicy', async (t) => {
  const r = faultyResult()
  const p = {...r, fault: {...r.fault!, reason: 'policy-denied' as const, policy: 'shop/deny-all'}}
  t.match(
    renderText(p).split('\n')[1],
    '✗ unreachable: policy-denied (NetworkPolicy shop/deny-all) at hop 5 (forward, node-1,',
  )
  t.notMatch(renderText(r).split('\n')[1], 'NetworkPolicy', 'no policy, no name')
  t.match(renderMermaid(p), '✗ policy-denied shop/deny-all<br/>')
  t.match(renderDot(p), '✗ policy-denied shop/deny-all\\n')
})

t.test('text: a trace to a Service shows its port, endpoints, DNAT hop and the endpoint chosen', async (t) => {
  const r = faultyResult()
  const out = renderText({
    ...r,
    fault: r.fault && {...r.fault, service: 'shop/web'},
    service: {
      namespace: 'shop',
      name: 'web',
      clusterIP: '10.96.0.10',
      port: 80,
      protocol: 'TCP',
      portName: 'http',
      targetPort: 8080,
      selector: 'app=web',
      endpoints: [
        {ip: '10.244.1.10', port: 8080, ready: true, pod: 'shop/web', node: 'node-1'},
        {ip: '10.244.2.10', port: 8080, ready: false},
      ],
      dnat: {
        node: 'node-0',
        netns: 'n0',
        status: 'ok',
        chains: ['PREROUTING', 'KUBE-SERVICES', 'KUBE-SVC-X'],
        targets: [{chain: 'KUBE-SEP-Y', destination: '10.244.1.10:8080'}],
        evidence: [],
        detail: '10.96.0.10:80 DNAT via PREROUTING → KUBE-SERVICES → KUBE-SVC-X to 10.244.1.10:8080',
      },
      chosen: {ip: '10.244.1.10', port: 8080, ready: true, how: 'conntrack'},
      probe: {ok: true, detail: 'connected', durationMs: 3, conntrack: 'conntrack: tcp … reply src=10.244.1.10'},
    },
  })
  const lines = out.split('\n')
  t.match(lines[0], 'shop/client (10.244.0.10 on node-0) → svc shop/web (10.96.0.10:80) → shop/web (10.244.1.10')
  t.match(lines[1], /filtered at hop 5 .* Service shop\/web$/)
  t.match(out, 'service shop/web 10.96.0.10:80/TCP (http) → targetPort 8080')
  t.match(out, /endpoint\s+✓ 10\.244\.1\.10:8080 shop\/web on node-1 ← chosen \(conntrack\)/)
  t.match(out, /endpoint\s+! 10\.244\.2\.10:8080 \(not ready\)/)
  t.match(out, /dnat\s+✓ node-0: 10\.96\.0\.10:80 DNAT via PREROUTING → KUBE-SERVICES → KUBE-SVC-X/)
  t.match(out, /probe\s+✓ tcp 10\.96\.0\.10:80: connected/)
})

t.test('text: what agents, daemons and the kernel reported never drives the terminal', async (t) => {
  const r = faultyResult()
  // A pod's process may name itself anything (prctl), and its name shows in the drops; an agent's
  // answer fills hop details and notes.
  r.drops = [{...r.drops![0]!, comm: 'x\u001b]52;c;aGVsbG8=\u0007\u001b[2K'}]
  r.hops[0] = {...r.hops[0]!, detail: 'ok \u001b[1A\u001b[32mALL GOOD\r'}
  r.notes = ['note \u0000\u009b']
  const out = renderText(r, {verbose: true})
  // eslint-disable-next-line no-control-regex -- those characters are what this looks for
  t.notMatch(out, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/, 'no control character but newline and tab')
  t.match(out, 'NETFILTER_DROP ×1 at nft_do_chain (x)')
  t.match(out, 'ok ALL GOOD\\x0d')
  t.match(out, 'note \\x00\\x9b')
})
