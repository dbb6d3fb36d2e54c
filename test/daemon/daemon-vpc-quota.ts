/**
 * The node daemon in vpc mode against the lab's route-table API (src/lab/vpc-api.ts) with a small
 * route quota: a CreateRoute beyond it is refused with RouteLimitExceeded, the refused node's daemon
 * says so (its log, /healthz, /diag) and tries again with a growing delay; a raised quota, or an entry
 * deleted, lets it converge. The "router" is the daemon lab's underlay namespace, whose bridge gets an
 * address on the nodes' subnet so the table's entries can point at the nodes.
 */
import type http from 'node:http'
import type {AddressInfo} from 'node:net'

import t from 'tap'

import {VPC_ROUTE_PROTO} from '../../src/daemon/backends/vpc.js'
import type {NodeDaemon} from '../../src/daemon/daemon.js'
import type {Reviewer} from '../../src/kube/node-proxy-gate.js'
import {createVpcApiServer} from '../../src/lab/vpc-api.js'
import {ip, ipJson} from '../../src/netns/index.js'
import {type DaemonLab, eventually, httpGet, startDaemonLab} from '../helpers/daemon-lab.js'

let quota = 2
let lab: DaemonLab
let server: http.Server
let url: string
const apiLog: string[] = []

/** The lab's token is the cluster admin's; any other is unknown. */
const reviewer = (token: string): Reviewer => ({
  async reviewToken(tok) {
    return tok === token
      ? {authenticated: true, user: {username: 'admin', groups: ['system:masters']}}
      : {authenticated: false}
  },
  async reviewAccess() {
    return {allowed: true}
  },
})

type Row = {dst: string; gateway?: string}
const table = async (): Promise<Row[]> =>
  ipJson<Row[]>(['route', 'show', 'proto', String(VPC_ROUTE_PROTO)], lab.underlayNs)
const cidrs = async (): Promise<string[]> => (await table()).map((r) => r.dst).sort()

t.before(async () => {
  lab = await startDaemonLab({nodes: 3})
  await ip(['addr', 'add', '198.18.0.254/15', 'dev', 'br0'], lab.underlayNs)
  server = createVpcApiServer({
    netns: lab.underlayNs,
    iface: 'br0',
    clusterCIDR: '10.244.0.0/16',
    nodes: lab.nodes.map((n) => ({name: n.name, nodeIP: n.ip})),
    quota: () => quota,
    reviewer: reviewer(lab.token),
    allowedUsers: [],
    log: (l) => apiLog.push(l),
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

t.teardown(async () => {
  server?.closeAllConnections()
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)))
  await lab?.dispose()
})

const diag = async (d: NodeDaemon) => (await httpGet(d.address!, '/diag', lab.token)).body

t.test('beyond the quota: refused, reported, tried again later; a raised quota converges', async (t) => {
  const daemons: NodeDaemon[] = []
  for (const i of [0, 1, 2]) daemons.push(await lab.startDaemon(i, {mode: 'vpc', vpcApi: url}))
  await eventually('two entries, the quota', async () => (await table()).length === 2)
  t.same(
    daemons.map((d) => d.health().kernelWatch.state),
    ['off', 'off', 'off'],
    'the route table is the router’s, not in the kernel: checked on the timer, no ip monitor',
  )
  // Which daemon came third is the machine's choice: the one whose CIDR is not in the table.
  const have = await cidrs()
  const loser = lab.nodes.findIndex((n) => !have.includes(n.podCIDR))
  t.not(loser, -1, 'one node has no entry')
  const n = lab.nodes[loser]!
  const d = daemons[loser]!
  // Any attempt's: by the time it is read, the next may have come.
  const refusal = new RegExp(
    `^CreateRoute ${n.podCIDR.replace(/[./]/g, '\\$&')} → ${n.name}: refused, the route table is full \\(POST /v1/routes: 409 RouteLimitExceeded: the route table holds its quota of 2 routes\\); trying again in \\d+ s \\(attempt \\d+\\): raise the table's route quota or delete an entry no node uses$`,
  )
  await eventually('the refusal in the last reconcile', () => d.lastReconcile?.errors.some((e) => refusal.test(e)))
  const probe = await httpGet(d.address!, '/healthz')
  t.same([probe.status, probe.body], [503, {ok: false}], '/healthz: not ok, and no more without credentials')
  const health = await httpGet(d.address!, '/healthz', lab.token)
  t.equal(health.status, 503, '/healthz: not ok')
  t.match(health.body.lastReconcile.errors, [refusal], '/healthz says why to a caller the gate lets in')
  const dg = await diag(d)
  t.match(dg.lastReconcile.ops, [{command: `CreateRoute ${n.podCIDR} → ${n.name}`, error: /route table is full/}])
  t.ok(
    lab.logs.some((l) => l.includes(`${n.name} error CreateRoute ${n.podCIDR}`) && l.includes('in 2 s (attempt 1)')),
    'logged, with when it is tried again',
  )
  // Tried again after the delay, which grows: the second refusal waits twice as long.
  await eventually('a second refusal', () =>
    lab.logs.some((l) => l.includes(`${n.name} error`) && l.includes('trying again in 4 s (attempt 2)')),
  )
  t.pass('the second refusal comes with a doubled delay')
  const others = daemons.filter((_, i) => i !== loser)
  t.ok(
    await eventually('the others healthy', () => others.every((x) => x.lastReconcile?.ok)),
    'the two nodes in the table are healthy',
  )

  quota = 3
  await eventually('all three entries', async () => (await table()).length === 3, 60_000)
  t.match(
    (await table()).find((r) => r.dst === n.podCIDR),
    {gateway: n.ip},
    `${n.podCIDR} via ${n.ip}`,
  )
  await eventually('healthy again', () => d.lastReconcile?.ok)
  t.same(d.lastReconcile?.errors, [], 'no error left')
})

t.test('a full table with an entry no node uses: deleting that entry lets the node converge', async (t) => {
  // A dead node's entry (the route controller's job to remove, which nobody does here) fills the last
  // slot; then node-1's entry is lost.
  const n = lab.nodes[1]!
  await ip(
    ['route', 'add', '10.244.200.0/24', 'via', '198.18.0.200', 'dev', 'br0', 'proto', String(VPC_ROUTE_PROTO)],
    lab.underlayNs,
  )
  await ip(['route', 'del', n.podCIDR, 'proto', String(VPC_ROUTE_PROTO)], lab.underlayNs)
  const d = lab.daemon(1)!
  await eventually('node-1 refused', () => d.lastReconcile?.errors.some((e) => /route table is full/.test(e)))
  t.notOk((await cidrs()).includes(n.podCIDR), 'node-1 has no entry')
  const res = await fetch(`${url}/v1/routes?destinationCIDR=10.244.200.0/24`, {
    method: 'DELETE',
    headers: {authorization: `Bearer ${lab.token}`},
  })
  t.equal(res.status, 200, 'DeleteRoute of the stale entry')
  await eventually('node-1 back', async () => (await cidrs()).includes(n.podCIDR), 60_000)
  await eventually('healthy again', () => d.lastReconcile?.ok)
  t.same(await cidrs(), lab.nodes.map((x) => x.podCIDR).sort())
})
