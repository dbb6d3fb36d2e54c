// The node agent's bounds: a bounded number of operations at once (429 beyond), an answer within the
// operation time limit (503 after it, while the slot stays taken until the operation ends), and
// against malformed and stalled requests the 4xx every cnidbg server gives, after which the next
// request is served. Operations are stand-ins that end when the test says, so nothing here is timed.
import t from 'tap'

import {AgentClient, type AgentError} from '../../src/agent/client.js'
import {Gate, type Reviewer} from '../../src/kube/node-proxy-gate.js'
import type {AgentOps} from '../../src/agent/ops.js'
import {startAgentServer} from '../../src/agent/server.js'
import {selfSignedCert} from '../../src/agent/tls.js'
import type {KernelSnapshot} from '../../src/kernel/reader.js'
import {good, hostileCases, raw, stall, stallCases, type Target} from '../helpers/raw-http.js'

const TOKEN = 'limits-test-token-0123456789'
const AUTH = `Authorization: Bearer ${TOKEN}\r\n`
const reviewer: Reviewer = {
  async reviewToken(token) {
    return token === TOKEN ? {authenticated: true, user: {username: 'tester', groups: []}} : {authenticated: false}
  },
  async reviewAccess() {
    return {allowed: true}
  },
}

const EMPTY: KernelSnapshot = {
  links: [],
  routes: [],
  neigh: [],
  fdb: [],
  sysctls: {},
  routeGets: [],
  missing: [],
  readMs: 0,
}

/** Snapshots that end when released, one by one, in order. */
function heldOps() {
  const waiting: Array<() => void> = []
  const ops = {
    nodeReader: {describe: 'netns /held'},
    snapshot: () => new Promise<KernelSnapshot>((resolve) => waiting.push(() => resolve(EMPTY))),
  } as unknown as AgentOps
  return {ops, waiting}
}

async function started(
  t: Tap,
  o: {maxInFlight?: number; opTimeoutMs?: number; maxBodyBytes?: number; limits?: object} = {},
) {
  const cert = await selfSignedCert('limits', ['127.0.0.1'])
  const held = heldOps()
  const logged: string[] = []
  const s = await startAgentServer({
    node: 'n1',
    ops: held.ops,
    gate: new Gate(reviewer, {node: 'n1'}),
    host: '127.0.0.1',
    port: 0,
    tls: cert,
    log: (l) => logged.push(l),
    ...o,
  })
  t.teardown(() => {
    for (const release of held.waiting) release()
    return s.close()
  })
  const client = new AgentClient({url: s.url, token: TOKEN, fingerprint: cert.fingerprint})
  return {s, client, held, logged, target: {port: s.port, tls: true} as Target}
}

type Tap = {teardown: (fn: () => unknown) => void}

/**
 * Resolves once `n` operations are waiting to be released. The bound is only how long a failure
 * takes to report (never reached on a pass).
 */
async function until(held: {waiting: unknown[]}, n: number): Promise<void> {
  const give = Date.now() + 60_000
  while (held.waiting.length < n) {
    if (Date.now() > give) throw new Error(`${held.waiting.length} operations waiting, not ${n}`)
    await new Promise((r) => setImmediate(r))
  }
}

t.test('at most maxInFlight operations at once; more get a 429', async (t) => {
  const {s, client, held} = await started(t, {maxInFlight: 2})
  const first = client.snapshot({})
  const second = client.snapshot({})
  await until(held, 2)
  t.equal(s.stats().inFlight, 2)
  const third = await client.snapshot({}).catch((e: AgentError) => e)
  t.match(third, {status: 429, message: /busy: 2 operations/})
  t.match(await client.node(), {node: 'n1'}, 'the node info takes no slot')
  held.waiting.shift()!()
  await first
  const fourth = client.snapshot({})
  await until(held, 2)
  for (const release of held.waiting.splice(0)) release()
  await Promise.all([second, fourth])
  t.equal(s.stats().inFlight, 0)
})

t.test('an operation over the time limit is a 503; its slot is held until it ends', async (t) => {
  const {s, client, held} = await started(t, {maxInFlight: 1, opTimeoutMs: 50})
  const late = await client.snapshot({}).catch((e: AgentError) => e)
  t.match(late, {status: 503, message: /longer than 0.05 s/})
  t.equal(s.stats().inFlight, 1, 'still running')
  t.match(await client.snapshot({}).catch((e: AgentError) => e), {status: 429})
  held.waiting.shift()!()
  const give = Date.now() + 60_000
  while (s.stats().inFlight > 0 && Date.now() < give) await new Promise((r) => setImmediate(r))
  const next = client.snapshot({})
  await until(held, 1)
  held.waiting.shift()!()
  t.match(await next, {links: []}, 'the slot is free again')
})

t.test('every malformed request gets a 4xx and the next request is served', async (t) => {
  // A small body limit, so that the over-the-limit cases are over it.
  const {target, logged} = await started(t, {maxBodyBytes: 1024})
  for (const c of hostileCases('/v1/node', '/v1/snapshot', AUTH)) {
    const got = await raw(target, c.data)
    t.ok(c.expect.includes(got.status), `${c.name}: ${got.status || got.error} (want ${c.expect.join(' or ')})`)
    t.equal((await good(target, '/v1/node', AUTH)).status, 200, `${c.name}: the next request is served`)
  }
  // Refused before routing, even with a body the agent will never read.
  const anon = await raw(
    target,
    'POST /v1/snapshot HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{',
  )
  t.equal(anon.status, 401)
  t.match(anon.text, /www-authenticate: Bearer realm="cnidbg-agent"/i)
  t.equal((await good(target, '/healthz')).status, 200)
  t.notMatch(logged.join('\n'), / 5\d\d /, 'none of them was a 5xx')
  t.notMatch(logged.join('\n'), TOKEN)
})

t.test('a stalled client is cut off and does not hold up others', async (t) => {
  const {target} = await started(t, {
    limits: {headersTimeout: 300, requestTimeout: 600, connectionsCheckingInterval: 50},
  })
  for (const c of stallCases('/v1/node', '/v1/snapshot', AUTH)) {
    const stalled = stall(target, c.data)
    t.equal((await good(target, '/v1/node', AUTH)).status, 200, `${c.name}: served while a client stalls`)
    const got = await stalled
    t.equal(got.status, 408, `${c.name}: the stalled connection is closed with 408`)
  }
})
