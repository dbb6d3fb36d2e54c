// The token file (kube-apiserver --token-auth-file format), bearer-token authentication and the
// access rules, without HTTP. The rules over HTTP, with kubectl and client-node, are in server-auth.ts.
import fs from 'node:fs'
import path from 'node:path'

import t from 'tap'

import {
  ADMIN_GROUP,
  Authenticator,
  authorize,
  daemonUser,
  formatTokenFile,
  nodeUser,
  parseTokenFile,
  readTokenFile,
  verbOf,
} from '../../../src/lab/apiserver/auth.js'
import type {K8sObject} from '../../../src/lab/apiserver/resources.js'

t.test('parses token,user,uid,"groups" lines; errors name the line, never the token', async (t) => {
  const text = [
    '# the lab',
    'tok-a,admin,1,system:masters',
    '',
    'tok-b,system:node:node1,2,"system:nodes, extra"',
    ' tok-c , bob , 3',
    '"tok,d",carol,4,""',
  ].join('\n')
  t.same(parseTokenFile(text), [
    {token: 'tok-a', user: {name: 'admin', uid: '1', groups: ['system:masters']}},
    {token: 'tok-b', user: {name: 'system:node:node1', uid: '2', groups: ['system:nodes', 'extra']}},
    {token: 'tok-c', user: {name: 'bob', uid: '3', groups: []}},
    {token: 'tok,d', user: {name: 'carol', uid: '4', groups: []}},
  ])
  const bad: Array<[string, RegExp]> = [
    ['secret1,onlyuser', /line 1: needs at least token, user name and uid/],
    [',user,1', /line 1: empty token/],
    ['secret1,,1', /line 1: empty user name/],
    ['ok,a,1\nsecret1,b,2\nsecret1,c,3', /line 3: the same token as an earlier line/],
    ['"secret1,a,1', /line 1: unterminated quoted field/],
    ['"secret1"x,a,1', /line 1: text after a quoted field/],
    ['sec"ret1,a,1', /line 1: a quote inside an unquoted field/],
  ]
  for (const [line, re] of bad) {
    const e = t.throws(() => parseTokenFile(line)) as Error
    t.match(e.message, re, line)
    t.notMatch(e.message, 'secret1', 'the token is not in the error')
  }
  const entries = parseTokenFile(text)
  t.same(parseTokenFile(formatTokenFile(entries)), entries, 'formatTokenFile round-trips')
  t.throws(() => formatTokenFile([{token: 'a\nb', user: {name: 'x', uid: '1', groups: []}}]), /line break/)
})

t.test('readTokenFile refuses a file others could read or write, a symlink, a FIFO', async (t) => {
  const dir = t.testdir({'tokens.csv': 'tok-a,admin,1,system:masters\n'})
  const file = path.join(dir, 'tokens.csv')
  fs.chmodSync(file, 0o600)
  t.equal(readTokenFile(file)[0]!.user.name, 'admin')
  fs.chmodSync(file, 0o640)
  t.throws(() => readTokenFile(file), /accessible by group or others \(mode 640\)/)
  fs.chmodSync(file, 0o602)
  t.throws(() => readTokenFile(file), /accessible by group or others/)
  fs.chmodSync(file, 0o600)
  fs.symlinkSync(file, path.join(dir, 'link'))
  t.throws(() => readTokenFile(path.join(dir, 'link')), {code: 'ELOOP'})
  fs.mkdirSync(path.join(dir, 'd'), {mode: 0o700})
  t.throws(() => readTokenFile(path.join(dir, 'd')), /not a regular file/)
  if (process.geteuid?.() === 0) {
    fs.chownSync(file, 65534, 65534)
    t.throws(() => readTokenFile(file), /not owned by uid 0/)
  }
})

t.test('authenticate: Bearer scheme, exact token, every entry compared', async (t) => {
  const a = new Authenticator([
    {token: 'short', user: {name: 'one', uid: '1', groups: []}},
    {token: 'a-much-longer-token-value', user: {name: 'two', uid: '2', groups: []}},
  ])
  t.equal(a.authenticate('Bearer short')?.name, 'one')
  t.equal(a.authenticate('bearer a-much-longer-token-value')?.name, 'two')
  for (const h of [undefined, '', 'Bearer', 'Bearer ', 'Bearer shor', 'Bearer shortx', 'short', 'Basic short'])
    t.equal(a.authenticate(h), undefined, JSON.stringify(h))
  t.throws(() => a.requestUser(undefined, '/api/v1/pods'), {code: 401, reason: 'Unauthorized'})
  t.equal(a.requestUser(undefined, '/healthz'), undefined, 'a public path is served anonymously')
  t.equal(a.requestUser('Bearer short', '/healthz')?.name, 'one')
  t.throws(() => a.requestUser('Bearer wrong', '/healthz'), {code: 401}, 'a failed token is a 401 even there')
  t.match(new Authenticator([]).requestUser(undefined, '/api/v1/pods'), {groups: [ADMIN_GROUP]}, 'no tokens: open')
})

t.test('verbs, as RBAC names them', async (t) => {
  t.equal(verbOf('GET', false, false), 'list')
  t.equal(verbOf('GET', true, false), 'get')
  t.equal(verbOf('GET', false, true), 'watch')
  t.equal(verbOf('POST', false, false), 'create')
  t.equal(verbOf('PUT', true, false), 'update')
  t.equal(verbOf('PATCH', true, false), 'patch')
  t.equal(verbOf('DELETE', true, false), 'delete')
  t.equal(verbOf('DELETE', false, false), 'deletecollection')
  t.equal(verbOf('OPTIONS', true, false), undefined)
})

t.test('the node and daemon rules on objects', async (t) => {
  const pod = (node: string): K8sObject => ({metadata: {name: 'p', namespace: 'default'}, spec: {nodeName: node}})
  const n1 = nodeUser('node1')
  const admitPod = authorize(n1, {verb: 'patch', resource: 'pods', namespace: 'default', name: 'p'})!
  t.doesNotThrow(() => admitPod(pod('node1'), pod('node1')))
  t.throws(() => admitPod(pod('node2'), pod('node2')), {code: 403, message: /bound to "node2"/})
  t.throws(() => admitPod(pod('node1'), pod('node2')), {code: 403}, 'moving its pod away')
  t.throws(() => admitPod(pod('node2'), pod('node1')), {code: 403}, 'taking a pod over')
  t.throws(() => admitPod(undefined, pod('')), {code: 403, message: /bound to no node/})
  t.throws(() => authorize(n1, {verb: 'patch', resource: 'nodes', name: 'node2'}), {
    code: 403,
    message:
      /^nodes "node2" is forbidden: User "system:node:node1" cannot patch resource "nodes" in API group "" at the cluster scope/,
  })
  const admitNode = authorize(n1, {verb: 'create', resource: 'nodes'})!
  t.throws(() => admitNode(undefined, {metadata: {name: 'node2'}}), {code: 403})
  t.doesNotThrow(() => admitNode(undefined, {metadata: {name: 'node1'}}))
  // A user that merely claims the node name without the group, or the group without a node name.
  t.throws(() => authorize({name: 'system:node:node1', uid: 'x', groups: []}, {verb: 'delete', resource: 'pods'}), {
    code: 403,
    message: /may only read/,
  })
  t.throws(
    () => authorize({name: 'system:node:', uid: 'x', groups: ['system:nodes']}, {verb: 'delete', resource: 'pods'}),
    {code: 403},
  )

  const d1 = daemonUser('node1')
  const node = (annotations: Record<string, string>, labels: Record<string, string> = {}): K8sObject => ({
    metadata: {name: 'node1', annotations, labels},
    spec: {podCIDR: '10.244.1.0/24'},
  })
  const admitD = authorize(d1, {verb: 'patch', resource: 'nodes', name: 'node1'})!
  t.doesNotThrow(() => admitD(node({'cnidbg.dev/vtep-mac': 'a'}), node({'cnidbg.dev/vtep-mac': 'b'})))
  t.doesNotThrow(() => admitD(node({}), node({'cnidbg.dev/node-ip': '198.18.0.2'})))
  t.throws(() => admitD(node({}), node({'x.io/y': 'z'})), {code: 403})
  t.throws(() => admitD(node({}), node({}, {a: 'b'})), {code: 403})
  t.throws(() => authorize(d1, {verb: 'patch', resource: 'nodes', name: 'node1', subresource: 'status'}), {code: 403})
  t.throws(() => authorize(d1, {verb: 'patch', resource: 'nodes', name: 'node2'}), {code: 403})
  t.throws(() => authorize(d1, {verb: 'create', resource: 'pods', namespace: 'default'}), {code: 403})
  t.equal(authorize(d1, {verb: 'watch', resource: 'pods'}), undefined, 'reads need no object check')
  t.throws(() => authorize(undefined, {verb: 'get', resource: 'pods'}), {code: 401})
})
