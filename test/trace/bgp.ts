// trace in bgp mode, the pure part (src/trace/bgp.ts): a missing pod route becomes bgp-peer-down or
// route-not-advertised from the sessions the node daemons report, with the state as evidence. The
// lab test (test/lab/bgp.ts) produces each with a real fault.
import t from 'tap'

import {type BgpDiagView, explainMissingRoute, refineBgpHops} from '../../src/trace/bgp.js'
import type {TraceHop, TraceNode} from '../../src/trace/types.js'

const node1: TraceNode = {
  name: 'node1',
  nodeIP: '198.18.0.2',
  podCIDR: '10.244.1.0/24',
  netns: {name: 'n1', path: '/run/netns/n1'},
}
const node3: TraceNode = {
  name: 'node3',
  nodeIP: '198.18.0.4',
  podCIDR: '10.244.3.0/24',
  netns: {name: 'n3', path: '/run/netns/n3'},
}

function hop(): TraceHop {
  return {
    index: 3,
    direction: 'forward',
    node: 'node1',
    netns: 'n1',
    device: 'eth0',
    stage: 'route',
    status: 'fail',
    detail: 'node1 has no route to 10.244.3.2',
    evidence: ['ip route get 10.244.3.2: Network is unreachable'],
    reason: 'no-route',
    hint: 'ip route replace …',
  }
}

const view = (state: string, extra: Partial<NonNullable<BgpDiagView['sessions']>[number]> = {}): BgpDiagView => ({
  speaker: {running: true, socket: '/run/x/bird.ctl'},
  sessions: [
    {
      protocol: 'peer_198_18_0_4',
      peerIP: '198.18.0.4',
      peerNode: 'node3',
      role: 'mesh',
      state,
      established: state === 'Established',
      ...extra,
    },
  ],
  protocolsError: null,
})

t.test('session not Established: bgp-peer-down, with both ends and the last error', async (t) => {
  const h = hop()
  const there: BgpDiagView = {
    speaker: {running: true, socket: '/run/y/bird.ctl'},
    sessions: [
      {
        protocol: 'peer_198_18_0_2',
        peerIP: '198.18.0.2',
        peerNode: 'node1',
        role: 'mesh',
        state: 'Connect',
        lastError: 'BGP Error: Hold timer expired',
      },
    ],
  }
  t.ok(explainMissingRoute(h, node1, node3, view('Active', {lastError: 'Socket: Connection refused'}), there))
  t.equal(h.reason, 'bgp-peer-down')
  t.match(h.detail, /session with node3 \(198\.18\.0\.4\) is Active, not Established/)
  t.match(h.evidence!.join('\n'), /last error: Socket: Connection refused/)
  t.match(h.evidence!.join('\n'), /node3 sees peer_198_18_0_2 .*Connect; last error: BGP Error: Hold timer expired/)
  t.match(h.hint, /birdc -s \/run\/y\/bird\.ctl show protocols all/)
})

t.test("the owner's daemon gone: still bgp-peer-down, and the evidence says so", async (t) => {
  const h = hop()
  t.ok(explainMissingRoute(h, node1, node3, view('Active'), {error: 'node3 /diag unreachable'}))
  t.equal(h.reason, 'bgp-peer-down')
  t.match(h.evidence!.join('\n'), /node3: node3 \/diag unreachable/)
})

t.test('session Established, nothing imported: route-not-advertised', async (t) => {
  const h = hop()
  t.ok(explainMissingRoute(h, node1, node3, view('Established', {routesImported: 0, routesExported: 1}), undefined))
  t.equal(h.reason, 'route-not-advertised')
  t.match(h.detail, /Established, but node3 does not announce 10\.244\.3\.0\/24/)
  t.match(h.evidence!.join('\n'), /0 imported, 1 exported/)
  t.match(h.hint, /enable pod_cidr/)
})

t.test('session Established with routes imported: not route-not-advertised', async (t) => {
  const h = hop()
  t.ok(explainMissingRoute(h, node1, node3, view('Established', {routesImported: 1, routesExported: 1}), undefined))
  t.equal(h.reason, 'no-route', 'the route is missing from the kernel, not from the announcements')
  t.match(h.detail, /Established and imported 1 route, but none for 10\.244\.3\.0\/24 is in the kernel/)
  t.match(h.evidence!.join('\n'), /1 imported, 1 exported/)
  t.match(h.hint, /birdc -s \/run\/x\/bird\.ctl show route for 10\.244\.3\.0\/24 all/)
  const unknown = hop()
  t.ok(explainMissingRoute(unknown, node1, node3, view('Established'), undefined))
  t.equal(unknown.reason, 'unknown', 'no route counts: not known whether node3 announces it')
  t.match(unknown.detail, /route counts are unknown/)
})

t.test('with route reflectors the reflector session decides; no session at all is peer-down', async (t) => {
  const rr: BgpDiagView = {
    sessions: [
      {
        protocol: 'peer_198_18_0_9',
        peerIP: '198.18.0.9',
        peerNode: 'rr1',
        role: 'reflector',
        state: 'Idle',
        established: false,
      },
    ],
  }
  const h = hop()
  t.ok(explainMissingRoute(h, node1, node3, rr, undefined))
  t.equal(h.reason, 'bgp-peer-down')
  t.match(h.detail, /rr1 \(198\.18\.0\.9\) is Idle/)
  const h2 = hop()
  t.ok(explainMissingRoute(h2, node1, node3, {sessions: []}, undefined))
  t.match(h2.detail, /no BGP session with node3/)
})

t.test('unknown state leaves the hop as no-route; only route hops to another node are refined', async (t) => {
  const h = hop()
  t.notOk(explainMissingRoute(h, node1, node3, {error: 'node1 /diag unreachable'}, undefined))
  t.equal(h.reason, 'no-route')
  const other = {...hop(), stage: 'neighbor' as const}
  const local = {...hop(), node: 'node3'}
  const hops = [hop(), other, local]
  const read = async (n: TraceNode) => (n.name === 'node1' ? view('Active') : view('Established'))
  await refineBgpHops(hops, [node1, node3], () => node3, read)
  t.same(
    hops.map((x) => x.reason),
    ['bgp-peer-down', 'no-route', 'no-route'],
  )
})
