// Pure, beside test/trace/service.ts (which runs on a lab): the Service behind a rule of a KUBE-* chain (src/trace/netfilter-objects.ts), and what trace
// makes of a node's nat table for a Service (src/trace/service.ts's analyzeNat, invalidDropRules and the
// API-side helpers), on iptables-save text in the layout the lab's service proxy writes (kube-proxy's).
import t from 'tap'

import {parseIptablesSave} from '../../src/kernel/netfilter.js'
import type {V1EndpointSlice, V1Service} from '../../src/kube/client.js'
import {
  serviceOfComment,
  serviceOfEvidence,
  serviceOfRule,
  withNetfilterObject,
} from '../../src/trace/netfilter-objects.js'
import {
  analyzeNat,
  invalidDropRules,
  nonTcpOpts,
  parseServiceRef,
  pickServicePort,
  sliceEndpoints,
} from '../../src/trace/service.js'

const VIP = '10.96.0.10'
const SAVE = `*nat
:PREROUTING ACCEPT [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]
:KUBE-SEP-4EX2N4PG4ASNZOBF - [0:0]
:KUBE-SEP-ZZZZZZZZZZZZZZZZ - [0:0]
[27:1620] -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
[0:0] -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
[3:180] -A KUBE-SERVICES -d ${VIP}/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL
[0:0] -A KUBE-SVC-CDGGSHYLG3RE2FKL ! -s 10.244.0.0/16 -d ${VIP}/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ
[2:120] -A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.2.2:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-4EX2N4PG4ASNZOBF
[1:60] -A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.3.2:8080" -j KUBE-SEP-ZZZZZZZZZZZZZZZZ
[0:0] -A KUBE-SEP-4EX2N4PG4ASNZOBF -s 10.244.2.2/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
[2:120] -A KUBE-SEP-4EX2N4PG4ASNZOBF -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.2.2:8080
[0:0] -A KUBE-SEP-ZZZZZZZZZZZZZZZZ -s 10.244.3.2/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ
[1:60] -A KUBE-SEP-ZZZZZZZZZZZZZZZZ -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.3.2:8080
COMMIT
*filter
:FORWARD ACCEPT [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-SERVICES - [0:0]
[5:300] -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
[4:240] -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
[0:0] -A KUBE-FORWARD -m conntrack ! --ctstate INVALID -j ACCEPT
[1:60] -A KUBE-SERVICES -d 10.96.0.11/32 -p tcp -m comment --comment "default/nobody has no endpoints" -m tcp --dport 81 -j REJECT --reject-with icmp-port-unreachable
COMMIT
`
const SVC = {namespace: 'default', name: 'web', clusterIP: VIP, port: 80, protocol: 'TCP' as const}
const READY = [
  {ip: '10.244.2.2', port: 8080, ready: true},
  {ip: '10.244.3.2', port: 8080, ready: true},
]
const WHERE = {node: 'node1', netns: 'cnidbg-lab-x-node1', cmd: (c: string) => c}

t.test("kube-proxy's comments name their Service", async (t) => {
  t.same(serviceOfComment('default/web:http cluster IP'), {namespace: 'default', name: 'web', port: 'http'})
  t.same(serviceOfComment('kube-system/dns:dns-tcp -> 10.244.1.5:53'), {
    namespace: 'kube-system',
    name: 'dns',
    port: 'dns-tcp',
  })
  t.same(serviceOfComment('default/nobody has no endpoints'), {namespace: 'default', name: 'nobody'})
  t.equal(serviceOfComment('kubernetes service portals'), undefined)
  t.equal(serviceOfComment('cnidbg-policy default/deny ingress'), undefined, 'not a kube-proxy comment')
  const rs = parseIptablesSave(SAVE)
  t.same(serviceOfRule('-A KUBE-SEP-4EX2N4PG4ASNZOBF -p tcp -m comment --comment "default/web:http" -j DNAT'), {
    namespace: 'default',
    name: 'web',
    port: 'http',
  })
  t.equal(serviceOfRule('-A FORWARD -m comment --comment "default/web:http" -j DROP'), undefined, 'only KUBE-* chains')
  t.equal(serviceOfRule('-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP', rs, 'filter'), undefined)
  t.same(
    serviceOfRule('-A KUBE-SEP-ZZZZZZZZZZZZZZZZ -j DROP', rs),
    {namespace: 'default', name: 'web', port: 'http'},
    'a rule without a comment: through the rule that jumps to its chain',
  )
  const dropped = [
    'iptables -t filter: -A KUBE-SERVICES -d 10.96.0.11/32 -p tcp -m comment --comment "default/nobody has no endpoints" -m tcp --dport 81 -j REJECT [1 pkts]',
  ]
  t.same(serviceOfEvidence(dropped), {namespace: 'default', name: 'nobody'})
  const fault = {hop: 3, direction: 'forward', node: 'n', netns: 'n', device: 'd', evidence: dropped, hint: ''} as const
  t.equal(withNetfilterObject({...fault, reason: 'filtered'}).service, 'default/nobody', 'a filtered fault names it')
  t.equal(withNetfilterObject({...fault, reason: 'filtered', evidence: ['-A FORWARD -j DROP']}).service, undefined)
})

t.test('the DNAT hop: KUBE-SERVICES → KUBE-SVC → every KUBE-SEP and its DNAT', async (t) => {
  const d = analyzeNat(SAVE, SVC, '10.244.1.2', READY, WHERE)
  t.equal(d.status, 'ok', d.detail)
  t.equal(d.reason, undefined)
  t.same(d.chains, ['PREROUTING', 'KUBE-SERVICES', 'KUBE-SVC-CDGGSHYLG3RE2FKL'])
  t.same(d.targets, [
    {chain: 'KUBE-SEP-4EX2N4PG4ASNZOBF', destination: '10.244.2.2:8080', probability: '0.50000000000'},
    {chain: 'KUBE-SEP-ZZZZZZZZZZZZZZZZ', destination: '10.244.3.2:8080'},
  ])
  t.match(d.evidence[0], /^iptables -t nat: -A KUBE-SERVICES -d 10\.96\.0\.10\/32 .* \[3 pkts\]$/)

  const fewer = analyzeNat(SAVE, SVC, '10.244.1.2', [...READY, {ip: '10.244.4.2', port: 8080, ready: true}], WHERE)
  t.equal(fewer.status, 'warn', 'a ready endpoint the node does not DNAT to')
})

t.test('service-not-programmed: no rule, a chain without endpoints, a bypass, stale DNATs', async (t) => {
  const other = analyzeNat(SAVE, {...SVC, port: 443}, '10.244.1.2', READY, WHERE)
  t.match(other, {reason: 'service-not-programmed', status: 'fail', detail: /no nat rule takes 10\.96\.0\.10:443/})
  const noSvcChain = SAVE.replace(/^.*-A KUBE-SVC-CDGGSHYLG3RE2FKL .*KUBE-SEP.*\n/gm, '')
  t.match(analyzeNat(noSvcChain, SVC, '10.244.1.2', READY, WHERE), {
    reason: 'service-not-programmed',
    detail: /jumps to no KUBE-SEP chain/,
  })
  const bypass = SAVE.replace(
    '[27:1620] -A PREROUTING',
    '[9:540] -A PREROUTING -d 10.96.0.0/12 -m comment --comment cnidbg-lab-fault-abc -j ACCEPT\n[27:1620] -A PREROUTING',
  )
  const b = analyzeNat(bypass, SVC, '10.244.1.2', READY, WHERE)
  t.match(b, {reason: 'service-not-programmed', detail: /leave before KUBE-SERVICES/})
  t.match(b.evidence[0], /-j ACCEPT \[9 pkts\]/, 'the rule that bypasses it first')
  const stale = analyzeNat(SAVE, SVC, '10.244.1.2', [{ip: '10.244.9.9', port: 8080, ready: true}], WHERE)
  t.match(stale, {reason: 'service-not-programmed', detail: /none of the ready endpoints/})
  t.match(analyzeNat('*filter\nCOMMIT\n', SVC, '10.244.1.2', READY, WHERE), {reason: 'service-not-programmed'})
})

t.test("INVALID drops: kube-proxy's KUBE-FORWARD rule and its counter", async (t) => {
  t.same(
    [...invalidDropRules(parseIptablesSave(SAVE)).entries()],
    [['-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP', 4]],
    'the negated ACCEPT is not one',
  )
})

t.test('Service references, ports and slices from the API', async (t) => {
  t.same(parseServiceRef('svc/web', 'default'), {namespace: 'default', name: 'web'})
  t.same(parseServiceRef('svc/kube-system/dns', 'default'), {namespace: 'kube-system', name: 'dns'})
  t.same(parseServiceRef('service/web', 'ns1'), {namespace: 'ns1', name: 'web'})
  t.equal(parseServiceRef('pod-b', 'default'), undefined)
  t.equal(parseServiceRef('default/pod-b', 'default'), undefined)
  t.throws(() => parseServiceRef('svc/', 'default'), /svc\/NAME or svc\/NAMESPACE\/NAME/)
  t.throws(() => parseServiceRef('svc/a/b/c', 'default'), /svc\/NAME/)

  const svc: V1Service = {
    metadata: {namespace: 'default', name: 'two'},
    spec: {
      ports: [
        {name: 'a', port: 80, protocol: 'TCP'},
        {name: 'b', port: 90, protocol: 'TCP'},
      ],
    },
  }
  t.equal(pickServicePort(svc, 90).name, 'b')
  t.throws(() => pickServicePort(svc, undefined), /2 ports \(a 80\/TCP, b 90\/TCP\): say which with --port/)
  t.throws(() => pickServicePort(svc, 99), /no port 99; its ports: a 80\/TCP, b 90\/TCP/)
  t.equal(pickServicePort({...svc, spec: {ports: [{port: 53, protocol: 'UDP'}]}}, undefined).port, 53)

  const slices: V1EndpointSlice[] = [
    {
      addressType: 'IPv4',
      metadata: {namespace: 'default', name: 'two-x'},
      ports: [
        {name: 'a', port: 8080},
        {name: 'b', port: 9090},
      ],
      endpoints: [
        {addresses: ['10.244.2.2'], conditions: {ready: true}, nodeName: 'node2', targetRef: {kind: 'Pod', name: 'p'}},
        {addresses: ['10.244.3.2'], conditions: {ready: false}},
        {addresses: ['10.244.4.2']},
      ],
    },
    {
      addressType: 'IPv6',
      metadata: {name: 'v6'},
      ports: [{name: 'b', port: 9090}],
      endpoints: [{addresses: ['fd00::1']}],
    },
  ]
  t.same(sliceEndpoints(slices, {name: 'b', port: 90}), [
    {ip: '10.244.2.2', port: 9090, ready: true, pod: 'default/p', node: 'node2'},
    {ip: '10.244.3.2', port: 9090, ready: false},
    {ip: '10.244.4.2', port: 9090, ready: true},
  ])
  t.same(sliceEndpoints(slices, {name: 'c', port: 100}), [], 'a port the slices do not list')
})

t.test('a UDP or SCTP endpoint is never TCP-probed on its target port', async (t) => {
  t.same(nonTcpOpts({port: 5353, protocols: ['icmp', 'tcp']}, 'UDP'), {protocols: ['icmp', 'udp']}, 'tcp becomes udp')
  t.same(nonTcpOpts({port: 5353}, 'UDP'), {protocols: ['icmp', 'udp']}, 'the default protocols')
  t.same(nonTcpOpts({port: 5353, protocols: ['tcp'], staticOnly: true}, 'UDP'), {protocols: ['udp'], staticOnly: true})
  t.same(nonTcpOpts({port: 3868, protocols: ['icmp', 'tcp', 'udp']}, 'SCTP'), {protocols: ['icmp']}, 'sctp: icmp')
  t.same(nonTcpOpts({protocols: ['tcp']}, 'SCTP'), {protocols: ['icmp']}, 'never no probe at all')
})
