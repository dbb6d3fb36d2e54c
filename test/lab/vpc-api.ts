// Who may use the lab's VPC route-table API (src/lab/vpc-api.ts), in-process with a stand-in
// reviewer: no token or one the API server does not know is a 401, every time (the review is
// cached); a known identity that is neither the daemons' ServiceAccount nor a cluster admin, such as
// a kubelet's, is a 403; the daemons and admins are served. The table is an empty namespace's.
import {randomBytes} from 'node:crypto'
import {request} from 'node:http'
import type {AddressInfo} from 'node:net'

import t from 'tap'

import type {Reviewer, TokenReviewAnswer} from '../../src/kube/node-proxy-gate.js'
import {createVpcApiServer} from '../../src/lab/vpc-api.js'
import {createNetns, deleteNetns} from '../../src/netns/index.js'

const DAEMON = 'system:serviceaccount:cnidbg:cnidbg-daemon'
const identities: Record<string, TokenReviewAnswer> = {
  'daemon-token': {authenticated: true, user: {username: DAEMON, groups: ['system:serviceaccounts']}},
  'admin-token': {authenticated: true, user: {username: 'admin', groups: ['system:masters']}},
  'kubelet-token': {authenticated: true, user: {username: 'system:node:node1', groups: ['system:nodes']}},
}
const reviews: string[] = []
const reviewer: Reviewer = {
  async reviewToken(token) {
    reviews.push(token)
    return identities[token] ?? {authenticated: false}
  },
  async reviewAccess() {
    throw new Error('the route-table API decides by identity, not by SubjectAccessReview')
  },
}

const netns = `cnidbg-vpcapi-${randomBytes(3).toString('hex')}`
await createNetns(netns)
t.teardown(() => deleteNetns(netns))
const server = createVpcApiServer({
  netns,
  iface: 'eth0',
  clusterCIDR: '10.244.0.0/16',
  nodes: [{name: 'node1', nodeIP: '198.18.0.1'}],
  quota: 10,
  reviewer,
  allowedUsers: [DAEMON],
  log: () => {},
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
t.teardown(() => {
  server.closeAllConnections()
  return new Promise((resolve) => server.close(resolve))
})
const port = (server.address() as AddressInfo).port

/** GET /v1/routes with this token (none: no Authorization header). */
const list = (token?: string) =>
  new Promise<{status: number; body: any}>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/routes',
        agent: false,
        headers: token ? {authorization: `Bearer ${token}`} : {},
      },
      (res) => {
        let text = ''
        res.on('data', (c) => (text += c))
        res.on('end', () => resolve({status: res.statusCode ?? 0, body: JSON.parse(text)}))
      },
    )
    req.on('error', reject)
    req.end()
  })

t.test('no token, or one the API server does not know: 401, also when the review is cached', async (t) => {
  t.equal((await list()).status, 401, 'no token')
  for (const attempt of ['first', 'cached']) {
    const r = await list('not-a-token')
    t.equal(r.status, 401, `unknown token, ${attempt}`)
    t.match(r.body, {error: /invalid token/})
  }
  t.same(
    reviews.filter((r) => r === 'not-a-token'),
    ['not-a-token'],
    'reviewed once, answered from the cache after',
  )
})

t.test("a lab identity that may not edit routes (a kubelet's): 403, also when cached", async (t) => {
  for (const attempt of ['first', 'cached']) {
    const r = await list('kubelet-token')
    t.equal(r.status, 403, `kubelet, ${attempt}`)
    t.match(r.body, {error: /may not edit the route table/})
  }
})

t.test("the daemons' ServiceAccount and a cluster admin are served", async (t) => {
  for (const token of ['daemon-token', 'admin-token', 'daemon-token']) {
    const r = await list(token)
    t.equal(r.status, 200, token)
    t.same(r.body, {routes: [], quota: 10}, `${token}: the empty table`)
  }
})
