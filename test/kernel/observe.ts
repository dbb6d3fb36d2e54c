import t from 'tap'

import {captureFilter, countDirections, counterDeltas, type CounterSnapshot} from '../../src/kernel/observe.js'

const spec = {a: '10.244.0.10', b: '10.244.1.10', protocol: 'icmp' as const, vxlanPort: 8472}

t.test('capture filters: inner addresses on pod-side devices, at fixed offsets inside VXLAN', async (t) => {
  const inner = {netnsPath: '/run/netns/x', device: 'eth0', label: 'x/eth0', encapsulated: false}
  t.equal(captureFilter(inner, spec), 'host 10.244.0.10 and host 10.244.1.10 and icmp')
  t.equal(
    captureFilter(inner, {...spec, protocol: 'tcp', port: 8080}),
    'host 10.244.0.10 and host 10.244.1.10 and tcp port 8080',
  )
  const outer = captureFilter({...inner, encapsulated: true}, spec)
  t.match(outer, /^udp dst port 8472 and udp\[39\] = 1 and /)
  t.match(outer, /udp\[42:4\] = 0x0af4000a and udp\[46:4\] = 0x0af4010a/)
})

t.test('countDirections reads the innermost addresses, also of truncated frames', async (t) => {
  const out = [
    '03:31:10.319290 IP 198.18.0.10.47807 > 198.18.0.11.8472: OTV, flags [I] (0x08), overlay 0, instance 1',
    'IP truncated-ip - 104 bytes missing! 10.244.0.10 > 10.244.1.10: ICMP echo request, id 1, seq 1, length 1430',
    '03:31:10.319330 IP 198.18.0.11.47807 > 198.18.0.10.8472: OTV, flags [I] (0x08), overlay 0, instance 1',
    'IP 10.244.1.10 > 10.244.0.10: ICMP echo reply, id 1, seq 1, length 1430',
    '03:31:10.4 IP 10.244.0.10.40000 > 10.244.1.10.8080: Flags [S], seq 1, length 0',
    '03:31:10.5 IP 10.9.9.9 > 10.244.1.10: ICMP echo request',
    '',
  ].join('\n')
  const c = countDirections(out, spec.a, spec.b)
  t.equal(c.aToB, 2)
  t.equal(c.bToA, 1)
  t.equal(c.lines.length, 4)
})

t.test('counterDeltas reports drops and matching DROP rules only', async (t) => {
  const link = (rx: number, tx: number) => ({
    ifindex: 1,
    ifname: 'eth0',
    flags: [],
    mtu: 1500,
    operstate: 'UP',
    stats64: {rx: {dropped: rx}, tx: {dropped: tx}},
  })
  const before: CounterSnapshot = {
    links: new Map([['eth0', link(0, 0)]]),
    rules: new Map([
      ['iptables filter -A INPUT -p udp -j DROP', 3],
      ['iptables filter -A FORWARD -j ACCEPT', 10],
    ]),
    neigh: [],
  }
  const after: CounterSnapshot = {
    links: new Map([['eth0', link(2, 0)]]),
    rules: new Map([
      ['iptables filter -A INPUT -p udp -j DROP', 4],
      ['iptables filter -A FORWARD -j ACCEPT', 12],
    ]),
    neigh: [],
  }
  t.same(counterDeltas('n1', before, after), [
    'n1 eth0: rx_dropped +2',
    'n1 iptables filter -A INPUT -p udp -j DROP: +1 packets',
  ])
})
