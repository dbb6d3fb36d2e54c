// The vpc backend without a router: its route-table client against a local HTTP double (retries with
// exponential backoff on 5xx and network errors, none on 4xx), and the backend's plan and read (only
// this node's entry is its own).
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import t, {type Test} from 'tap'

import {VpcApiError, VpcBackend, VpcRouteClient, type VpcApiRoute} from '../../../src/daemon/backends/vpc.js'

interface Seen {
  method: string
  url: string
  auth?: string
  body: string
}

/** A route-table double answering each request with the next status of `script` (then 200). */
async function double(t: Test, script: number[], routes: VpcApiRoute[] = []) {
  const seen: Seen[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => (body += d.toString()))
    req.on('end', () => {
      seen.push({method: req.method!, url: req.url!, auth: req.headers.authorization, body})
      const status = script.shift() ?? 200
      res.writeHead(status, {'content-type': 'application/json'})
      res.end(JSON.stringify(status === 200 ? {routes} : {error: `status ${status}`}))
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  return {url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen}
}

function client(url: string, sleeps: number[], attempts = 4): VpcRouteClient {
  return new VpcRouteClient({
    url,
    authorization: async () => 'Bearer tok',
    attempts,
    backoffInitialMs: 100,
    backoffMaxMs: 300,
    sleep: async (ms) => {
      sleeps.push(ms)
    },
  })
}

/** The backend's local step as node1 (198.18.0.2, pod CIDR 10.244.1.0/24), which plan and read use. */
const asNode1 = (b: VpcBackend) =>
  b.ensureLocal({
    nodeName: 'node1',
    netns: undefined,
    podCIDR: '10.244.1.0/24',
    underlay: {iface: 'eth0', ip: '198.18.0.2', prefix: 24, mtu: 1500} as never,
    links: [],
    ownAnnotations: {},
    log: () => {},
  })

t.test('5xx and 429 are retried with doubling, capped delays; the token goes with every call', async (t) => {
  const d = await double(t, [503, 500, 429])
  const sleeps: number[] = []
  t.same(await client(d.url, sleeps).listRoutes(), [])
  t.same(sleeps, [100, 200, 300])
  t.equal(d.seen.length, 4)
  t.ok(d.seen.every((s) => s.auth === 'Bearer tok'))
})

t.test('attempts are bounded: the last error is thrown', async (t) => {
  const d = await double(t, [500, 500, 500, 500, 500])
  const sleeps: number[] = []
  await t.rejects(client(d.url, sleeps, 3).listRoutes(), {name: 'VpcApiError', status: 500})
  t.equal(d.seen.length, 3)
  t.same(sleeps, [100, 200])
})

t.test('4xx is not retried', async (t) => {
  const d = await double(t, [403])
  const sleeps: number[] = []
  const err = await client(d.url, sleeps)
    .createRoute('node1', '10.244.1.0/24')
    .catch((e: unknown) => e)
  t.ok(err instanceof VpcApiError && err.status === 403)
  t.same(sleeps, [])
  t.same(JSON.parse(d.seen[0]!.body), {targetNode: 'node1', destinationCIDR: '10.244.1.0/24'})
})

t.test('a refused connection is retried, then reported', async (t) => {
  const d = await double(t, [])
  const sleeps: number[] = []
  // Port 1: nothing listens there.
  const url = d.url.replace(/:\d+$/, ':1')
  await t.rejects(client(url, sleeps, 2).listRoutes(), {name: 'VpcApiError', status: undefined})
  t.same(sleeps, [100])
})

t.test('the backend plans its own CIDR only, and reads only entries about itself', async (t) => {
  const routes: VpcApiRoute[] = [
    {name: 'a', targetNode: 'node1', targetIP: '198.18.0.2', destinationCIDR: '10.244.1.0/24', blackhole: false},
    {name: 'b', targetNode: 'node2', targetIP: '198.18.0.3', destinationCIDR: '10.244.2.0/24', blackhole: false},
    {name: 'c', targetNode: 'node1', targetIP: '198.18.0.2', destinationCIDR: '10.244.9.0/24', blackhole: false},
  ]
  const d = await double(t, [], routes)
  const b = new VpcBackend({nodeName: 'node1', url: d.url, client: client(d.url, [])})
  await asNode1(b)
  const self = {name: 'node1', podCIDR: '10.244.1.0/24', nodeIP: '198.18.0.2', underlay: {} as never}
  const peer = {name: 'node2', podCIDR: '10.244.2.0/24', nodeIP: '198.18.0.3', backendType: 'vpc', annotations: {}}
  const {plans, skipped} = b.plan(self, [peer])
  t.same(
    plans.flatMap((p) => p.routes),
    [{dst: '10.244.1.0/24', via: '198.18.0.2', dev: '', onlink: false, metric: 0}],
  )
  t.same(skipped, [])
  const actual = await b.programmer.read()
  t.same(
    actual.routes.map((r) => r.dst).sort(),
    ['10.244.1.0/24', '10.244.9.0/24'],
    'node2’s entry is not node1’s to change',
  )
})

t.test('a CreateRoute refused for the quota waits before the next try, twice as long each time', async (t) => {
  // 409 three times, then the table has room.
  const d = await double(t, [409, 409, 409])
  let now = 0
  const b = new VpcBackend({
    nodeName: 'node1',
    url: d.url,
    client: client(d.url, []),
    quotaBackoff: {initialMs: 1000, maxMs: 3000, now: () => now},
  })
  await asNode1(b)
  const op = {
    kind: 'route',
    action: 'replace',
    reason: 'missing',
    route: {dst: '10.244.1.0/24', via: '198.18.0.2', dev: '', onlink: false, metric: 0},
  } as never
  const posts = () => d.seen.filter((s) => s.method === 'POST').length
  /** One pass at time `at`: its error, and how many POSTs the API has seen by then. */
  const pass = async (at: number) => {
    now = at
    const r = await b.programmer.apply([op])
    return {error: r.errors[0]?.error, posts: posts(), applied: r.applied}
  }
  t.match(await pass(0), {posts: 1, applied: 0, error: /route table is full .*409.*trying again in 1 s \(attempt 1\)/})
  t.match(await pass(500), {posts: 1, error: /attempt 1/}, 'within the delay: not asked, the same error')
  t.match(await pass(1000), {posts: 2, error: /trying again in 2 s \(attempt 2\)/})
  t.match(await pass(2500), {posts: 2}, 'the delay doubled')
  t.match(await pass(3000), {posts: 3, error: /trying again in 3 s \(attempt 3\)/}, 'capped')
  t.match(await pass(5999), {posts: 3})
  t.match(await pass(6000), {posts: 4, applied: 1, error: undefined}, 'room again: created')
  t.match(await pass(6001), {posts: 5, applied: 1}, 'and no delay left behind')
})
