// Conntrack lines as conntrack(8) and /proc/net/nf_conntrack print them, and matching a flow either
// way round. (test/agent/server.ts reads a real entry through the agent.)
import t from 'tap'

import {matchesFlow, parseConntrack} from '../../src/kernel/conntrack.js'

const PROC = [
  'ipv4     2 icmp     1 29 src=10.244.0.10 dst=10.244.1.10 type=8 code=0 id=7 src=10.244.1.10 dst=10.244.0.10 type=0 code=0 id=7 mark=0 zone=0 use=2',
  'ipv4     2 tcp      6 117 SYN_SENT src=10.244.0.10 dst=10.244.1.10 sport=40000 dport=8080 [UNREPLIED] src=10.244.1.10 dst=10.244.0.10 sport=8080 dport=40000 mark=0 zone=0 use=2',
].join('\n')
const TOOL =
  'udp      17 29 src=10.244.1.10 dst=10.244.0.10 sport=5000 dport=53 src=10.244.0.10 dst=10.244.1.10 sport=53 dport=5000 [ASSURED] mark=0 use=1\nconntrack v1.4.7 (conntrack-tools): 1 flow entries have been shown.\n'

t.test('both formats', async (t) => {
  const [icmp, tcp] = parseConntrack(PROC)
  t.same(icmp, {
    proto: 'icmp',
    timeout: 29,
    orig: {src: '10.244.0.10', dst: '10.244.1.10', type: 8, code: 0, id: 7},
    reply: {src: '10.244.1.10', dst: '10.244.0.10', type: 0, code: 0, id: 7},
    flags: [],
    mark: 0,
    zone: 0,
  })
  t.match(tcp, {proto: 'tcp', state: 'SYN_SENT', flags: ['UNREPLIED'], orig: {sport: 40000, dport: 8080}})
  const udp = parseConntrack(TOOL)
  t.equal(udp.length, 1, 'the summary line is no entry')
  t.match(udp[0], {proto: 'udp', timeout: 29, flags: ['ASSURED'], reply: {sport: 53}})
})

t.test('a flow matches either way round, by protocol and port', async (t) => {
  const [icmp, tcp] = parseConntrack(PROC)
  const flow = {a: '10.244.1.10', b: '10.244.0.10'}
  t.ok(matchesFlow(icmp!, flow))
  t.ok(matchesFlow(icmp!, {...flow, proto: 'icmp'}))
  t.notOk(matchesFlow(icmp!, {...flow, proto: 'tcp'}))
  t.ok(matchesFlow(tcp!, {...flow, port: 8080}))
  t.notOk(matchesFlow(tcp!, {...flow, port: 9090}))
  t.notOk(matchesFlow(icmp!, {a: '10.244.0.10', b: '10.244.2.10'}))
})
