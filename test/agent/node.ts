// AgentNode, the NodeAccess trace's engine uses for a node read through its agent: an agent that
// can't be connected to is tried once, and every later read, pod lookup or probe gives the same
// reason at once (a node whose agent is down costs one wait, not one per call).
import net from 'node:net'

import t from 'tap'

import {AgentClient, AgentError, AgentNode} from '../../src/agent/client.js'

t.test('an agent that cannot be connected to is tried once, and named with why', async (t) => {
  let connections = 0
  // Accepts and hangs up at once: the TLS handshake never completes.
  const server = net.createServer((s) => {
    connections++
    s.destroy()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`
  const node = AgentNode.remote(new AgentClient({url, token: 'secret-token', fingerprint: 'AA:BB'}))

  const first = await node.findPods(['10.244.1.2']).then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(first instanceof AgentError && first.unconnected, 'a connection failure', {first})
  t.match((first as Error).message, url)
  const snap = await node.reader('10.244.1.2').snapshot({routeGets: [{dst: '10.244.2.2'}]})
  t.same(snap.missing, ['all', `agent: ${(first as Error).message}`], 'the read says why')
  t.same(snap.routeGets, [{ok: false, error: 'agent unreachable', unavailable: true}])
  await t.rejects(node.probe({from: '10.244.1.2', to: '10.244.2.2', kinds: ['icmp-forward']}), first as Error)
  t.equal(connections, 1, 'one connection attempt in all')
  t.notMatch((first as Error).message, 'secret-token', 'no token in the reason')
})
