/**
 * The trace engine against a real 2-node VXLAN cluster in namespaces (flannel's layout): healthy
 * pairs must come out reachable with no false fault; each injected fault (plain ip/bridge/iptables/
 * nft/sysctl commands in the node, pod or underlay namespaces) must come out unreachable with the
 * right reason, node and direction. Faults are injected and healed one after another on each of
 * four copies of the topology, the copies side by side (runFaultCases); most are healed by running
 * the trace's own fix hint, which proves the hints are exact.
 */
import {createServer} from 'node:http'
import type {AddressInfo} from 'node:net'

import t from 'tap'

import {RemoteDiagReader} from '../../src/trace/diag-reader.js'
import {dropRuleHits, kernelReasons, traceBetween} from '../../src/trace/engine.js'
import {LocalKernelReader, type KernelReader} from '../../src/kernel/reader.js'
import type {TraceResult} from '../../src/trace/types.js'
import {runFaultCases, summary} from '../helpers/trace-assert.js'
import {vxlanFaultCases} from '../helpers/trace-faults.js'
import {buildTraceLabs, type LabPod} from '../helpers/trace-topology.js'

const COPIES = 4

t.test("a failed probe's kernel drop reasons are those its protocol can meet", async (t) => {
  // As the engine-agents run saw them when a pod's INPUT dropped echo requests: replies to the other
  // pings and the TCP and UDP probes' stray packets found no socket, more often than the one drop.
  const drops = [
    {reason: 'NO_SOCKET', location: 'ping_rcv', comm: 'ping', count: 12},
    {reason: 'NO_SOCKET', location: '__udp4_lib_rcv', comm: 'nc', count: 4},
    {reason: 'NO_SOCKET', location: 'tcp_v4_rcv', comm: 'nc', count: 2},
    {reason: 'NETFILTER_DROP', location: 'nft_do_chain', comm: 'ping', count: 1},
  ]
  const reasons = (p?: 'icmp' | 'udp' | 'tcp') => kernelReasons(drops, p).map((d) => `${d.reason}@${d.location}`)
  t.same(reasons('icmp'), ['NETFILTER_DROP@nft_do_chain'], 'an echo request is never lost for want of a socket')
  t.same(reasons('udp'), ['NO_SOCKET@__udp4_lib_rcv', 'NETFILTER_DROP@nft_do_chain'])
  t.same(reasons('tcp'), ['NO_SOCKET@tcp_v4_rcv', 'NETFILTER_DROP@nft_do_chain'])
})

t.test('the DROP rules that counted a probe are those of its namespace', async (t) => {
  const deltas = [
    'cnidbg-x-p1a iptables filter -A INPUT -p icmp -j DROP: +1 packets',
    'cnidbg-x-p1a eth0: rx_dropped +3',
    'cnidbg-x-p1 iptables filter -A FORWARD -j DROP: +2 packets',
    'default/pod-1a nft ip filter INPUT handle 4 drop: +1 packets',
  ]
  t.same(
    dropRuleHits(deltas, 'cnidbg-x-p1a'),
    [deltas[0]],
    'a rule, not a link drop, and not a namespace whose name it starts',
  )
  t.same(dropRuleHits(deltas, 'default/pod-1a'), [deltas[3]])
  t.same(dropRuleHits(deltas, 'cnidbg-x-n1'), [])
})

/** A kernel reader that could read nothing of its node, saying why in `missing`. */
const unreadableReader = (describe: string, missing: string[]) => ({
  describe,
  local: false,
  snapshot: async (req: {routeGets?: unknown[]} = {}) => ({
    links: [],
    routes: [],
    neigh: [],
    fdb: [],
    sysctls: {},
    routeGets: (req.routeGets ?? []).map(() => ({ok: false as const, error: 'n/a', unavailable: true})),
    missing,
    readMs: 0,
  }),
})

t.test('trace over a vxlan cluster', async (t) => {
  const labs = await buildTraceLabs(t, COPIES, 'vxlan', {pods: [2, 1]})
  const lab = labs[0]!
  const n1 = lab.nodes[1]!
  const a = lab.pods['0a']!
  const a2 = lab.pods['0b']!
  const b = lab.pods['1a']!
  const trace = (x = a, y = b, opts = {}) => traceBetween(lab.topology, x, y, opts)

  await t.test('healthy cross-node pair is reachable, both directions, no false fault', async (t) => {
    const r = await trace()
    t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
    t.equal(r.fault, undefined)
    t.same(
      r.hops.filter((h) => h.status === 'fail' || h.status === 'warn'),
      [],
      'no hop fails or warns',
    )
    const stages = r.hops.filter((h) => h.direction === 'forward').map((h) => h.stage)
    t.same(stages, [
      'pod-egress',
      'host-veth-ingress',
      'route',
      'filter',
      'neighbor',
      'fdb',
      'encap',
      'underlay-tx',
      'underlay-rx',
      'decap',
      'route',
      'filter',
      'host-veth-egress',
      'pod-ingress',
    ])
    t.equal(r.hops.filter((h) => h.direction === 'return').length, stages.length, 'the return path is walked too')
    const ret = r.hops.filter((h) => h.direction === 'return')
    t.equal(ret[0]!.netns, b.ns, 'the return path starts in the destination pod')
    t.equal(ret.find((h) => h.stage === 'host-veth-ingress')!.device, b.hostVeth, 'host veth found by its peer index')
    t.ok(r.hops.find((h) => h.stage === 'fdb' && h.direction === 'forward')!.detail.includes(n1.nodeIP))
    t.same(
      r.probes.map((p) => [p.protocol, p.direction, p.df ?? false, p.ok]),
      [
        ['icmp', 'forward', false, true],
        ['icmp', 'return', false, true],
        ['icmp', 'forward', true, true],
        ['tcp', 'forward', false, true],
        ['udp', 'forward', false, true],
      ],
    )
    t.equal(r.probes.find((p) => p.df)!.size, 1450 - 28, 'the DF probe fills the pod MTU')
    t.ok(r.hops.every((h, i) => h.index === i + 1))
  })

  await t.test('healthy same-node pair is reachable', async (t) => {
    const r = await trace(a, a2)
    t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
    t.equal(r.fault, undefined)
    t.same(
      r.hops.filter((h) => h.direction === 'forward').map((h) => h.stage),
      ['pod-egress', 'host-veth-ingress', 'route', 'filter', 'host-veth-egress', 'pod-ingress'],
    )
    t.ok(
      r.hops.every((h) => h.status === 'ok'),
      'every hop ok',
      {trace: summary(r)},
    )
  })

  await t.test('observed on a healthy path, every tapped hop sees the probe both ways', async (t) => {
    const r = await trace(a, b, {observe: 'always'})
    t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
    const tapped = r.hops.filter((h) => h.seen !== undefined)
    t.ok(tapped.length >= 14, `${tapped.length} hops tapped`)
    t.same(
      tapped.filter((h) => !h.seen).map((h) => `${h.index} ${h.stage} ${h.netns}/${h.device}`),
      [],
      'no tapped hop missed it (the inner-address filter on the VXLAN underlay works)',
    )
    t.equal(
      r.probes.find((p) => p.protocol === 'icmp' && p.direction === 'forward' && !p.df)?.lastSeenHop,
      r.hops.length,
    )
  })

  /**
   * node-1 read as it was a moment before: its first read, the static one, shows the destination
   * pod's neighbour entry in `state`; the probes then run on the real, working path. The kernel can't
   * be held in those states (an entry added INCOMPLETE is never resolved, one FAILED is resolved again
   * by the next packet), so the read is what is changed.
   */
  const traceWithNeighbour = async (state: string) => {
    let reads = 0
    const earlier = (path: string): KernelReader => {
      const local = new LocalKernelReader(path)
      return {
        describe: local.describe,
        local: true,
        netnsPath: path,
        snapshot: async (req) => {
          const snap = await local.snapshot(req)
          if (reads++ > 0) return snap
          const caught = {dst: b.ip, dev: b.hostVeth, state: [state]}
          return {...snap, neigh: [...snap.neigh.filter((e) => !(e.dst === b.ip && e.dev === b.hostVeth)), caught]}
        },
      }
    }
    const r = await trace(a, b, {
      readerFor: (n: {name: string; netns?: {path: string}}) =>
        n.name === n1.name ? earlier(n.netns!.path) : new LocalKernelReader(n.netns!.path),
    })
    return {r, reads}
  }

  await t.test('a destination neighbour caught being resolved is no fault', async (t) => {
    // What a read a moment after node-1 forwarded the pod a packet can see: INCOMPLETE while ARP is
    // under way. (A pod that never answers ARP is a case of vxlanFaultCases.)
    const {r, reads} = await traceWithNeighbour('INCOMPLETE')
    t.ok(reads > 0, 'node-1 was read through the wrapper')
    t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
    t.equal(r.fault, undefined)
    const egress = r.hops.find((h) => h.direction === 'forward' && h.stage === 'host-veth-egress')!
    t.equal(egress.status, 'ok', egress.detail)
    t.match(egress.detail, /INCOMPLETE/, 'the state read is shown')
  })

  await t.test(
    'a destination neighbour left FAILED by an earlier failure is stale once a probe reaches the pod',
    async (t) => {
      // As after a pod got its address back: the entry stays FAILED until traffic resolves it again.
      const {r} = await traceWithNeighbour('FAILED')
      t.equal(r.verdict, 'reachable', 'verdict', {trace: summary(r)})
      t.equal(r.fault, undefined)
      const egress = r.hops.find((h) => h.direction === 'forward' && h.stage === 'host-veth-egress')!
      t.equal(egress.status, 'warn', 'flagged, as what was read')
      t.match(egress.detail, /FAILED.*stale: a live probe reached the pod since/)
    },
  )

  await t.test('a stale destination neighbour does not hide the fault the probes met', async (t) => {
    // The return route missing on node-1: the forward probes still reach the pod (UDP), so the FAILED
    // entry read on the way in is stale, and the fault is the missing route back.
    const n0 = lab.nodes[0]!
    const n1ns = lab.nodes[1]!.ns
    await lab.sh(n1ns, `ip route del ${n0.podCIDR}`)
    t.teardown(() => lab.sh(n1ns, `ip route replace ${n0.podCIDR} via 10.244.0.0 dev cnidbg.1 onlink`))
    const {r} = await traceWithNeighbour('FAILED')
    t.equal(r.verdict, 'unreachable', 'verdict', {trace: summary(r)})
    t.match(r.fault, {reason: 'no-route', node: n1.name, direction: 'return'}, 'the route back', {trace: summary(r)})
  })

  await t.test('static-only reads state and injects nothing', async (t) => {
    // A counting rule (no target) in the destination pod: every packet from the source pod that
    // reaches it is counted, whatever the engine says it sent.
    const count = `INPUT -s ${a.ip}/32 -m comment --comment cnidbg-static-count`
    await lab.sh(b.ns, `iptables -I ${count}`)
    t.teardown(() => lab.sh(b.ns, `iptables -D ${count}`))
    const r = await trace(a, b, {staticOnly: true})
    t.equal(r.verdict, 'reachable')
    t.same(r.probes, [])
    const rules = await lab.sh(b.ns, 'iptables-save -c -t filter')
    const line = rules.split('\n').find((l) => l.includes('cnidbg-static-count'))
    t.match(line, /^\[0:0\] /, 'no packet from the source pod reached the destination', {rules})
  })

  await t.test('a node read through /diag: the note names only what /diag did not give', async (t) => {
    // node-1's own /diag, as its daemon serves it: links, routes, neighbours, FDB and sysctls.
    const server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(
        JSON.stringify({
          node: n1.name,
          sysctls: {'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '0'},
        }),
      )
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    t.teardown(() => new Promise<void>((r) => server.close(() => r())))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const r = await trace(a, b, {
      staticOnly: true,
      readerFor: (n: {name: string; netns?: {path: string}}) =>
        n.name === n1.name ? new RemoteDiagReader(url) : new LocalKernelReader(n.netns!.path),
    })
    const note = r.notes.find((x) => x.startsWith(`${n1.name} is read through diag`))
    t.equal(note, `${n1.name} is read through diag ${url}: route lookups and netfilter are unknown`)
  })

  await t.test('static-only: a node not read through /diag makes the verdict unknown', async (t) => {
    const down = unreadableReader('the daemon /diag of node-1', ['all', 'diag: connect ECONNREFUSED'])
    const r = await trace(a, b, {
      staticOnly: true,
      readerFor: (n: {name: string; netns?: {path: string}}) =>
        n.name === n1.name ? down : new LocalKernelReader(n.netns!.path),
    })
    t.equal(r.verdict, 'unknown', 'verdict', {trace: summary(r)})
    t.match(r.unreadable, [{node: n1.name, what: 'node', reason: /diag: connect ECONNREFUSED/}])
  })

  await t.test('a node that cannot be read gives unknown hops, not a false fault', async (t) => {
    const unreadable = unreadableReader('nothing', ['all'])
    const r = await trace(a, b, {
      readerFor: (n: {name: string; netns?: {path: string}}) =>
        n.name === n1.name ? unreadable : new LocalKernelReader(n.netns!.path),
    })
    t.equal(r.verdict, 'reachable', 'the live probes decide', {trace: summary(r)})
    const n1Hops = r.hops.filter((h) => h.node === n1.name && !h.netns.startsWith(b.ns))
    t.ok(n1Hops.length > 0)
    t.same(
      n1Hops.filter((h) => h.status === 'fail' || h.status === 'warn'),
      [],
      'no fail/warn where nothing could be read',
    )
    t.ok(n1Hops.some((h) => h.status === 'unknown'))
    t.match(r.notes.join('\n'), 'node-1 is read through nothing')
  })

  await runFaultCases(
    t,
    labs,
    (lab) => vxlanFaultCases(lab),
    async (t, lab, c) => {
      const trace = (x: LabPod, y: LabPod, opts = {}) => traceBetween(lab.topology, x, y, opts)
      await c.inject()
      let r: TraceResult | undefined
      try {
        const [x, y] = c.pair ? [lab.pods[c.pair[0]]!, lab.pods[c.pair[1]]!] : [lab.pods['0a']!, lab.pods['1a']!]
        r = await trace(x, y, c.opts ?? {})
        const diag = {trace: summary(r)}
        t.equal(r.verdict, 'unreachable', 'verdict', diag)
        t.equal(r.fault?.reason, c.expect.reason, 'fault reason', diag)
        const where = `${r.fault?.node} ${r.fault?.direction}`
        const wanted = [c.expect, ...(c.either ?? [])].map((e) => `${e.node} ${e.direction}`)
        t.ok(wanted.includes(where), `fault at ${where} (wanted ${wanted.join(' or ')})`, diag)
        if (c.expect.device) t.equal(r.fault?.device, c.expect.device, 'fault device', diag)
        t.ok(r.fault!.evidence.length > 0, 'evidence given')
        t.ok(r.fault!.hint.length > 0, 'fix hint given')
        t.ok(
          r.probes.some((p) => !p.ok),
          'a live probe failed too',
        )
      } finally {
        await c.heal(r)
      }
    },
  )

  await t.test('after healing every fault every copy of the cluster traces clean again', async (t) => {
    for (const [i, copy] of labs.entries()) {
      const r = await traceBetween(copy.topology, copy.pods['0a']!, copy.pods['1a']!)
      t.equal(r.verdict, 'reachable', `copy ${i + 1}: verdict`, {trace: summary(r)})
      t.same(
        r.hops.filter((h) => h.status !== 'ok').map((h) => `${h.index} ${h.stage}: ${h.detail}`),
        [],
        `copy ${i + 1}: every hop ok`,
      )
    }
  })
})
