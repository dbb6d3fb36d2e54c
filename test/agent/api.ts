// The agent API's request validation (src/agent/api.ts), without a server: every body parses to
// what was sent, absent optional fields stay absent, and a malformed one is a 400 naming the field.
import t, {type Test} from 'tap'

import {
  parseConntrackBody,
  parseListenBody,
  parseListenStopBody,
  parseNetfilterBody,
  parseObserveBody,
  parseProbeBody,
  parsePodsQuery,
  parseSnapshotBody,
  parseSocketsBody,
} from '../../src/agent/api.js'
import {HttpError} from '../../src/core/http.js'

const refused = (t: Test, f: () => unknown, message: RegExp) => {
  try {
    f()
    t.fail(`accepted, expected ${message}`)
  } catch (error) {
    t.ok(error instanceof HttpError && error.status === 400, 'a 400')
    t.match((error as Error).message, message)
  }
}

t.test('well-formed bodies parse to what was sent', async (t) => {
  const snap = {target: {pod: '10.0.0.1'}, parts: ['links'], routeGets: [{dst: '10.0.0.2', iifFor: '10.0.0.3'}]}
  t.same(parseSnapshotBody(snap), snap)
  t.same(parseSnapshotBody({}), {}, 'nothing absent is added')
  const packet = {src: '1.1.1.1', dst: '2.2.2.2', proto: 'tcp', ctstate: 'NEW', dport: 80, tcpFlags: ['SYN']}
  t.same(parseNetfilterBody({packet, hooks: ['forward']}), {packet, hooks: ['forward']})
  t.same(parseSocketsBody({port: 8080}), {port: 8080})
  t.same(parseConntrackBody({flow: {a: '1.1.1.1', b: '2.2.2.2'}}), {flow: {a: '1.1.1.1', b: '2.2.2.2'}})
  t.same(
    parseProbeBody({from: '10.0.0.1', to: '10.0.0.2', kinds: ['tcp', 'tcp', 'udp'], tcpPort: 80, udpPort: 53}),
    {from: '10.0.0.1', to: '10.0.0.2', kinds: ['tcp', 'udp'], tcpPort: 80, udpPort: 53},
    'each kind once',
  )
  t.same(parseListenBody({pod: '10.0.0.2', peer: '10.0.0.1', kinds: ['icmp-return']}), {
    pod: '10.0.0.2',
    peer: '10.0.0.1',
    kinds: ['icmp-return'],
  })
  t.same(parseListenStopBody({id: '0123456789abcdef'}), {id: '0123456789abcdef'})
  t.same(
    parseObserveBody({
      points: [{device: 'eth0', label: 'node-1/eth0', encapsulated: 'yes'}],
      spec: {a: '1.1.1.1', b: '2.2.2.2', protocol: 'icmp'},
      counters: [{target: {pod: '10.0.0.1'}, label: 'c0'}],
      dropReasons: true,
    }),
    {
      points: [{device: 'eth0', label: 'node-1/eth0', encapsulated: false}],
      spec: {a: '1.1.1.1', b: '2.2.2.2', protocol: 'icmp'},
      counters: [{target: {pod: '10.0.0.1'}, label: 'c0'}],
      dropReasons: true,
    },
    'a flag is on only when true',
  )
  t.same(parsePodsQuery(new URLSearchParams('ip=10.0.0.1&ip=10.0.0.2')), ['10.0.0.1', '10.0.0.2'])
})

t.test('a malformed body is a 400 that names the field', async (t) => {
  refused(t, () => parseSnapshotBody([]), /^the body must be a JSON object$/)
  refused(t, () => parseSnapshotBody({surprise: 1}), /^the body: unknown field "surprise"$/)
  refused(t, () => parseSnapshotBody({target: {pod: '10.0.0.1', path: '/etc'}}), /^target: unknown field "path"$/)
  refused(t, () => parseSnapshotBody({parts: ['links', 'secrets']}), /^parts: "secrets" is none of links, /)
  refused(t, () => parseSnapshotBody({routeGets: [{dst: 'not-an-ip'}]}), /^routeGets\[0\]\.dst must be an IPv4/)
  refused(
    t,
    () => parseSnapshotBody({routeGets: [{dst: '10.0.0.1', iif: 'eth0;reboot'}]}),
    /^routeGets\[0\]\.iif must be an interface name$/,
  )
  refused(
    t,
    () => parseSnapshotBody({routeGets: [{dst: '10.0.0.1', iif: 'eth0', iifFor: '10.0.0.2'}]}),
    /iif and iifFor exclude each other/,
  )
  refused(
    t,
    () => parseSnapshotBody({routeGets: Array.from({length: 65}, () => ({dst: '10.0.0.1'}))}),
    /^routeGets: at most 64 entries$/,
  )
  const packet = {src: '1.1.1.1', dst: '2.2.2.2', proto: 'gre', ctstate: 'NEW'}
  refused(t, () => parseNetfilterBody({packet, hooks: []}), /^packet\.proto must be icmp, tcp or udp$/)
  refused(t, () => parseNetfilterBody({packet: {...packet, proto: 'tcp'}, hooks: ['x']}), /^hooks: "x" is no hook$/)
  refused(t, () => parseConntrackBody({flow: {a: '1.1.1.1'}}), /^flow\.b must be an IPv4 address$/)
  refused(t, () => parseSocketsBody({port: 0}), /^port must be 1–65535$/)
  refused(t, () => parseProbeBody({from: '10.0.0.1', to: '10.0.0.2', kinds: ['tcp']}), /^tcp needs tcpPort$/)
  refused(t, () => parseProbeBody({from: '10.0.0.1', to: '10.0.0.2', kinds: []}), /^kinds: at least one$/)
  refused(
    t,
    () => parseProbeBody({from: '10.0.0.1', to: '10.0.0.2', kinds: ['icmp-forward'], userPort: 1}),
    /^userPort must be true or false$/,
  )
  refused(
    t,
    () => parseListenBody({pod: '10.0.0.2', peer: '10.0.0.1', kinds: ['icmp-forward']}),
    /^kinds: "icmp-forward"/,
  )
  refused(t, () => parseListenStopBody({id: 'zz'}), /^id: a session id/)
  refused(t, () => parsePodsQuery(new URLSearchParams('ip=10.0.0.1%3Bx')), /^ip must be an IPv4 address$/)
})
