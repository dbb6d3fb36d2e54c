/**
 * NetworkPolicy drops mapped back to their policies, against what the node daemon's compiler writes:
 * the chains of src/daemon/policy-compile.ts as iptables-save prints them, walked by the evaluator
 * trace uses (kernel/netfilter.ts, which must carry the allow mark a policy chain sets), then mapped
 * by trace/netfilter-objects.ts. Pure: no kernel.
 */
import t from 'tap'

import type {V1NetworkPolicy, V1Pod} from '../../src/kube/client.js'
import {compilePolicies} from '../../src/daemon/policy-compile.js'
import {CHAIN_PREFIX, ruleLine} from '../../src/daemon/policy-rules.js'
import {JUMP_RULE} from '../../src/daemon/policy-apply.js'
import {evaluateNetfilter, parseIptablesSave, type NfPacket} from '../../src/kernel/netfilter.js'
import {POLICY_CHAIN_PREFIX, policyHint, policyOfDrop, policyRuleOfDelta} from '../../src/trace/netfilter-objects.js'
import {policyFaultFromDeltas} from '../../src/trace/policy.js'
import type {TraceHop} from '../../src/trace/types.js'

const NODE = 'node-0'
const WEB = '10.244.0.10'
const CLIENT = '10.244.1.10'
const OTHER = '10.244.1.11'

function pod(name: string, ip: string, node: string, labels: Record<string, string>): V1Pod {
  return {
    metadata: {namespace: 'default', name, labels},
    spec: {nodeName: node, containers: [{name: 'c'}]},
    status: {phase: 'Running', podIP: ip, podIPs: [{ip}]},
  }
}
const PODS = [
  pod('web', WEB, NODE, {app: 'web'}),
  pod('client', CLIENT, 'node-1', {app: 'client'}),
  pod('other', OTHER, 'node-1', {app: 'other'}),
]
const np = (name: string, spec: V1NetworkPolicy['spec']): V1NetworkPolicy => ({
  metadata: {namespace: 'default', name},
  spec,
})
const DENY_ALL = np('deny-all', {podSelector: {}, policyTypes: ['Ingress']})
const ALLOW_CLIENT = np('allow-client', {
  podSelector: {matchLabels: {app: 'web'}},
  ingress: [{_from: [{podSelector: {matchLabels: {app: 'client'}}}]}],
})
const DENY_EGRESS = np('deny-egress', {podSelector: {matchLabels: {app: 'web'}}, policyTypes: ['Egress']})

/** The node's filter table as `iptables-save -c` prints it after the daemon wrote these policies. */
function filterTable(policies: V1NetworkPolicy[], dropCount = 7): string {
  const compiled = compilePolicies({nodeName: NODE, policies, pods: PODS, namespaces: []})
  const lines = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]']
  for (const c of compiled.chains) lines.push(`:${c.name} - [0:0]`)
  lines.push(`[0:0] ${['-A', 'FORWARD', ...JUMP_RULE].join(' ')}`)
  for (const c of compiled.chains)
    for (const r of c.rules) lines.push(`[${r.target[1] === 'DROP' ? dropCount : 0}:0] ${ruleLine(c.name, r)}`)
  lines.push('COMMIT', '')
  return lines.join('\n')
}

const icmp = (src: string, dst: string, oif = 'cnidbgvp0'): NfPacket => ({
  src,
  dst,
  proto: 'icmp',
  icmpType: 8,
  ctstate: 'NEW',
  iif: 'vxlan0',
  oif,
})

t.test('the trace repeats the daemon layout it reads', async (t) => {
  t.equal(POLICY_CHAIN_PREFIX, CHAIN_PREFIX)
})

t.test('deny-all ingress: the DROP is mapped to the policy, with its counters', async (t) => {
  const ipt = parseIptablesSave(filterTable([DENY_ALL]))
  const v = evaluateNetfilter(ipt, undefined, ['forward'], icmp(CLIENT, WEB))
  t.equal(v.verdict, 'drop')
  const drop = policyOfDrop(ipt, v.by!)
  t.same(drop?.policies, ['default/deny-all'])
  t.equal(drop?.direction, 'ingress')
  t.equal(drop?.pod, 'default/web')
  t.match(drop?.evidence[0], /-j DROP \[7 pkts\]$/, 'the DROP rule with its packet counter')
  t.match(drop?.evidence[0], /cnidbg-policy default-deny ingress default\/web by default\/deny-all/)
  t.match(drop?.evidence[1], /^NetworkPolicy default\/deny-all: chain CNIDBG-NP-I-\w+ allows no ingress at all$/)
  const hint = policyHint(drop!, icmp(CLIENT, WEB))
  t.match(hint, 'NetworkPolicy default/deny-all selects default/web and allows no ingress from 10.244.1.10 (icmp)')
  t.match(hint, 'kubectl -n default edit networkpolicy deny-all')
  t.match(hint, 'kubectl -n default delete networkpolicy deny-all')
  // A comment is node state, not a Kubernetes name: an odd one is pasted back as one word.
  const odd = policyHint({...drop!, policies: ['default/x;touch /tmp/p']}, icmp(CLIENT, WEB))
  t.match(odd, "kubectl -n default delete networkpolicy 'x;touch /tmp/p'")
})

t.test('the allow mark lets the labelled client through; every other client is denied by both', async (t) => {
  const ipt = parseIptablesSave(filterTable([DENY_ALL, ALLOW_CLIENT]))
  t.equal(evaluateNetfilter(ipt, undefined, ['forward'], icmp(CLIENT, WEB)).verdict, 'accept', 'client allowed')
  const v = evaluateNetfilter(ipt, undefined, ['forward'], icmp(OTHER, WEB))
  t.equal(v.verdict, 'drop', 'other denied')
  const drop = policyOfDrop(ipt, v.by!)
  t.same(drop?.policies, ['default/allow-client', 'default/deny-all'], 'every selecting policy, in chain order')
  t.match(
    drop?.evidence.join('\n'),
    /NetworkPolicy default\/allow-client: chain \S+ has 1 allow rule .*-s 10\.244\.1\.10\/32/,
  )
  t.match(policyHint(drop!, icmp(OTHER, WEB)), /^none of the NetworkPolicies selecting default\/web/)
  // Replies of an allowed connection pass whatever the policies say.
  const reply = {...icmp(WEB, OTHER), icmpType: 0, ctstate: 'ESTABLISHED' as const}
  t.equal(evaluateNetfilter(ipt, undefined, ['forward'], reply).verdict, 'accept')
})

t.test('egress deny names the source-side policy', async (t) => {
  const ipt = parseIptablesSave(filterTable([DENY_EGRESS]))
  const out = {...icmp(WEB, CLIENT, 'vxlan0'), iif: 'cnidbgvp0'}
  const v = evaluateNetfilter(ipt, undefined, ['forward'], out)
  t.equal(v.verdict, 'drop')
  const drop = policyOfDrop(ipt, v.by!)
  t.same(drop?.policies, ['default/deny-egress'])
  t.equal(drop?.direction, 'egress')
  t.match(policyHint(drop!, out), 'allows no egress to 10.244.1.10')
  t.equal(evaluateNetfilter(ipt, undefined, ['forward'], icmp(CLIENT, WEB)).verdict, 'accept', 'ingress is open')
})

t.test('a drop outside the policy chains is no policy', async (t) => {
  const ipt = parseIptablesSave('*filter\n:FORWARD ACCEPT [0:0]\n[3:0] -A FORWARD -j DROP\nCOMMIT\n')
  const v = evaluateNetfilter(ipt, undefined, ['forward'], icmp(CLIENT, WEB))
  t.equal(v.verdict, 'drop')
  t.equal(policyOfDrop(ipt, v.by!), undefined)
})

t.test('a counter delta of a policy DROP gives policy-denied on that namespace filter hop', async (t) => {
  const text = filterTable([DENY_ALL, ALLOW_CLIENT])
  const ipt = parseIptablesSave(text)
  const dropText = text
    .split('\n')
    .find((l) => l.endsWith('-j DROP'))!
    .replace(/^\[\d+:\d+\] /, '')
  const line = `cnidbg-lab-node-0 filter ${dropText}: +2 packets`
  t.equal(policyRuleOfDelta(line)?.chain.startsWith('CNIDBG-NP-PI-'), true)
  t.equal(policyRuleOfDelta('cnidbg-lab-node-0 filter -A FORWARD -j DROP: +2 packets'), undefined)
  const hop = (index: number, netns: string, stage: TraceHop['stage']): TraceHop => ({
    index,
    direction: 'forward',
    node: netns.replace('cnidbg-lab-', ''),
    netns,
    device: 'x',
    stage,
    status: 'ok',
    detail: '',
  })
  const hops = [
    hop(1, 'cnidbg-lab-node-1', 'filter'),
    hop(2, 'cnidbg-lab-node-0', 'route'),
    hop(3, 'cnidbg-lab-node-0', 'filter'),
  ]
  const f = policyFaultFromDeltas(
    ['re-sent icmp-forward probe: …', line],
    hops,
    (l) => (l === 'cnidbg-lab-node-0' ? ipt : undefined),
    icmp(OTHER, WEB),
    'forward',
    ['probe icmp-forward: no reply'],
  )
  t.match(f, {hop: 3, node: 'node-0', reason: 'policy-denied', policy: 'default/allow-client'})
  t.match(f?.evidence.at(-1), 'probe icmp-forward: no reply')
})
