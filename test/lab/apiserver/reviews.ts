// TokenReview, SubjectAccessReview, SelfSubjectAccessReview and ServiceAccount tokens on the lab
// apiserver, over TLS, as kubectl and @kubernetes/client-node (through src/kube) use them: RBAC
// objects applied with kubectl, a token minted with `kubectl create token`, a node agent's two
// questions (whose token is this? may they get nodes/proxy?), audiences, revocation by deleting the
// ServiceAccount, and tokens that survive a restart with the same signing key.
import fs from 'node:fs'
import path from 'node:path'

import t from 'tap'

import {
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
} from '../../../src/kube/client.js'
import {startApiServer, type ApiServer} from '../../../src/lab/apiserver/server.js'
import {readSigningKey, writeSigningKey} from '../../../src/lab/apiserver/sa-tokens.js'
import {nodeObject} from './helpers/fixtures.js'
import {kubectl as runKubectl, selfSignedApiCert} from '../../helpers/apiserver.js'

const TOKENS = {admin: 'admin-0123456789abcdef', reader: 'reader-0123456789abcdef'}
const ENTRIES = [
  {token: TOKENS.admin, user: {name: 'lab-admin', uid: '1', groups: ['system:masters']}},
  {token: TOKENS.reader, user: {name: 'system:cnidbg:supervisor', uid: '5', groups: []}},
]

const RBAC_YAML = `apiVersion: v1
kind: Namespace
metadata: {name: cnidbg}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: cnidbg-agent, namespace: cnidbg}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: tracer, namespace: cnidbg}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cnidbg-agent}
rules:
- apiGroups: [authentication.k8s.io]
  resources: [tokenreviews]
  verbs: [create]
- apiGroups: [authorization.k8s.io]
  resources: [subjectaccessreviews]
  verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: cnidbg-agent}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cnidbg-agent}
subjects:
- {kind: ServiceAccount, name: cnidbg-agent, namespace: cnidbg}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cnidbg-tracer}
rules:
- apiGroups: [""]
  resources: [nodes/proxy]
  verbs: [get, create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: cnidbg-tracer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cnidbg-tracer}
subjects:
- {kind: ServiceAccount, name: tracer, namespace: cnidbg}
- {kind: Group, name: net-debuggers, apiGroup: rbac.authorization.k8s.io}
`

function kubeConfig(s: ApiServer, dir: string, name: string, token: string): {file: string; kc: KubeConfig} {
  const file = path.join(dir, `${name}.kubeconfig`)
  s.writeKubeconfig(file, {token})
  const kc = new KubeConfig()
  kc.loadFromFile(file)
  return {file, kc}
}

t.test('RBAC applied with kubectl; a node agent reviews tokens and access through client-node', async (t) => {
  const dir = t.testdir()
  const lines: string[] = []
  const s = await startApiServer({tokens: ENTRIES, tls: await selfSignedApiCert(dir), log: (l) => lines.push(l)})
  t.teardown(() => s.close())
  s.store.create('nodes', undefined, nodeObject('node1', '198.18.0.2'))
  const admin = kubeConfig(s, dir, 'admin', TOKENS.admin)
  const kubectl = (file: string, args: string[], input?: string) =>
    runKubectl(file, path.join(dir, 'cache'), args, input)
  const ok = async (file: string, args: string[], input?: string) => {
    const r = await kubectl(file, args, input)
    t.equal(r.exitCode, 0, `kubectl ${args.join(' ')}${r.exitCode ? `: ${r.stderr}` : ''}`)
    return r.stdout
  }

  await ok(admin.file, ['apply', '-f', '-'], RBAC_YAML)
  await ok(admin.file, ['apply', '-f', '-'], RBAC_YAML) // a second apply patches nothing
  t.match(s.store.get('clusterrolebindings', undefined, 'cnidbg-tracer'), {
    subjects: [{kind: 'ServiceAccount'}, {kind: 'Group', name: 'net-debuggers'}],
  })
  const wide = await ok(admin.file, ['get', 'clusterrolebindings', '-o', 'wide'])
  t.match(wide, /cnidbg-tracer\s+ClusterRole\/cnidbg-tracer/)
  t.match(await ok(admin.file, ['get', 'clusterroles']), /cnidbg-agent/)
  t.match(await ok(admin.file, ['-n', 'cnidbg', 'get', 'sa']), /tracer/)

  // Tokens for both ServiceAccounts, as a user or a kubelet would get them.
  const agentToken = (await ok(admin.file, ['-n', 'cnidbg', 'create', 'token', 'cnidbg-agent'])).trim()
  const tracerToken = (await ok(admin.file, ['-n', 'cnidbg', 'create', 'token', 'tracer', '--duration', '10m'])).trim()
  const boundToken = (
    await ok(admin.file, ['-n', 'cnidbg', 'create', 'token', 'tracer', '--audience', 'cnidbg-agent'])
  ).trim()
  t.match(agentToken, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a JWT')

  // The agent's identity: it may review, and nothing else.
  const agent = kubeConfig(s, dir, 'agent', agentToken)
  const authn = agent.kc.makeApiClient(AuthenticationV1Api)
  const authz = agent.kc.makeApiClient(AuthorizationV1Api)
  const review = await authn.createTokenReview({body: {spec: {token: tracerToken}}})
  t.match(review.status, {
    authenticated: true,
    user: {
      username: 'system:serviceaccount:cnidbg:tracer',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:cnidbg', 'system:authenticated'],
    },
    audiences: ['https://kubernetes.default.svc.cluster.local'],
  })
  t.notMatch(JSON.stringify(review), tracerToken, 'the answer does not repeat the token')
  t.match((await authn.createTokenReview({body: {spec: {token: TOKENS.reader}}})).status, {
    authenticated: true,
    user: {username: 'system:cnidbg:supervisor', groups: ['system:authenticated']},
  })
  t.match((await authn.createTokenReview({body: {spec: {token: 'not-a-token'}}})).status, {authenticated: false})
  t.match((await authn.createTokenReview({body: {spec: {token: `${tracerToken}x`}}})).status, {authenticated: false})

  // Audiences: a token minted for the agents is good there only, and the API's own tokens are not.
  const forAgents = {spec: {audiences: ['cnidbg-agent']}}
  t.match((await authn.createTokenReview({body: {spec: {...forAgents.spec, token: boundToken}}})).status, {
    authenticated: true,
    audiences: ['cnidbg-agent'],
  })
  for (const token of [tracerToken, TOKENS.reader])
    t.match((await authn.createTokenReview({body: {spec: {...forAgents.spec, token}}})).status, {authenticated: false})
  const bound = kubeConfig(s, dir, 'bound', boundToken)
  const boundList = await bound.kc
    .makeApiClient(CoreV1Api)
    .listNode()
    .then(
      () => 200,
      (e: {code?: number}) => e.code,
    )
  t.equal(boundList, 401, 'an agent-audience token is no API credential')

  // SubjectAccessReviews for what TokenReview said.
  const sar = (user: string, groups: string[], verb: string, name = 'node1') =>
    authz
      .createSubjectAccessReview({
        body: {spec: {user, groups, resourceAttributes: {verb, resource: 'nodes', subresource: 'proxy', name}}},
      })
      .then((r) => r.status)
  const tracerUser = review.status!.user!
  t.match(await sar(tracerUser.username!, tracerUser.groups!, 'get'), {
    allowed: true,
    reason: /ClusterRoleBinding "cnidbg-tracer" of ClusterRole "cnidbg-tracer" to ServiceAccount "cnidbg\/tracer"/,
  })
  t.match(await sar(tracerUser.username!, tracerUser.groups!, 'create'), {allowed: true})
  t.match(await sar('alice', ['net-debuggers', 'system:authenticated'], 'get'), {allowed: true}, 'bound by group')
  t.match(await sar('system:serviceaccount:cnidbg:cnidbg-agent', ['system:serviceaccounts'], 'get'), {
    allowed: false,
  })
  t.match(
    await sar('system:cnidbg:daemon:node1', ['system:cnidbg:daemons', 'system:authenticated'], 'get'),
    {allowed: false},
    'reading every stored object does not imply nodes/proxy',
  )
  // The supervisor reads the daemons' whole /healthz reports, which their gates guard with get.
  t.match(
    await sar('system:cnidbg:supervisor', ['system:authenticated'], 'get'),
    {allowed: true, reason: "the supervisor reads the daemons' health"},
    'the supervisor may get nodes/proxy',
  )
  t.match(await sar('system:cnidbg:supervisor', ['system:authenticated'], 'create'), {allowed: false}, 'not create')
  t.match(await sar('lab-admin', ['system:masters'], 'create'), {allowed: true})
  const bad = await authz.createSubjectAccessReview({body: {spec: {user: 'x'}}}).then(
    () => 0,
    (e: {code?: number}) => e.code,
  )
  t.equal(bad, 422, 'neither resource nor non-resource attributes')

  // The agent's token reads nothing; the tracer's may not review.
  const agentCore = agent.kc.makeApiClient(CoreV1Api)
  t.equal(
    await agentCore.listNode().then(
      () => 200,
      (e: {code?: number}) => e.code,
    ),
    403,
  )
  const tracer = kubeConfig(s, dir, 'tracer', tracerToken)
  const tracerAuthn = tracer.kc.makeApiClient(AuthenticationV1Api)
  const denied = await tracerAuthn.createTokenReview({body: {spec: {token: agentToken}}}).then(
    () => 201,
    (e: {code?: number}) => e.code,
  )
  t.equal(denied, 403, 'creating tokenreviews is the agent role only')

  // kubectl auth can-i: a SelfSubjectAccessReview, which every user may ask.
  const canI = async (file: string) =>
    (await kubectl(file, ['auth', 'can-i', 'get', 'nodes', '--subresource=proxy'])).stdout.trim()
  t.equal(await canI(tracer.file), 'yes')
  t.equal(await canI(agent.file), 'no')

  // RBAC read back through client-node.
  const rbac = admin.kc.makeApiClient(RbacAuthorizationV1Api)
  const roles = await rbac.listClusterRole()
  t.same(roles.items.map((r) => r.metadata?.name).sort(), ['cnidbg-agent', 'cnidbg-tracer'])

  // Unbinding takes the permission away at once; deleting the ServiceAccount revokes its tokens.
  await ok(admin.file, ['delete', 'clusterrolebinding', 'cnidbg-tracer'])
  t.match(await sar(tracerUser.username!, tracerUser.groups!, 'get'), {allowed: false})
  await ok(admin.file, ['-n', 'cnidbg', 'delete', 'sa', 'tracer'])
  t.match((await authn.createTokenReview({body: {spec: {token: tracerToken}}})).status, {authenticated: false})
  const gone = await tracer.kc
    .makeApiClient(CoreV1Api)
    .listNode()
    .then(
      () => 200,
      (e: {code?: number}) => e.code,
    )
  t.equal(gone, 401)
  // The namespace takes its ServiceAccounts along.
  await ok(admin.file, ['delete', 'namespace', 'cnidbg', '--wait=false'])
  t.equal(s.store.list('serviceaccounts').items.length, 0)
  t.match((await authn.createTokenReview({body: {spec: {token: tracerToken}}}).catch((e) => e)).code, 401)

  for (const tok of [TOKENS.admin, TOKENS.reader, agentToken, tracerToken, boundToken])
    t.notMatch(lines.join('\n'), tok, 'no token in the log')
})

t.test('TokenRequest bounds, and tokens that survive a restart with the same signing key', async (t) => {
  const dir = t.testdir()
  const keyFile = path.join(dir, 'sa.key')
  writeSigningKey(keyFile)
  t.equal(fs.statSync(keyFile).mode & 0o777, 0o600)
  const state = path.join(dir, 'state.json')
  const first = await startApiServer({tokens: ENTRIES, snapshotPath: state, serviceAccountKey: readSigningKey(keyFile)})
  first.store.create('serviceaccounts', 'default', {metadata: {name: 'robot'}})
  const post = (s: ApiServer, p: string, body: unknown) =>
    fetch(s.url + p, {
      method: 'POST',
      headers: {authorization: `Bearer ${TOKENS.admin}`, 'content-type': 'application/json'},
      body: JSON.stringify(body),
    }).then(async (r) => ({status: r.status, body: (await r.json()) as any}))
  const tr = await post(first, '/api/v1/namespaces/default/serviceaccounts/robot/token', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: {expirationSeconds: 900},
  })
  t.match(tr, {status: 201, body: {kind: 'TokenRequest', spec: {expirationSeconds: 900}, status: {token: /\./}}})
  const token = tr.body.status.token as string
  t.match(
    await post(first, '/api/v1/namespaces/default/serviceaccounts/robot/token', {spec: {expirationSeconds: 60}}),
    {
      status: 422,
    },
  )
  t.match(await post(first, '/api/v1/namespaces/default/serviceaccounts/nobody/token', {}), {status: 404})
  t.equal(first.mintToken('default', 'robot').split('.').length, 3)
  await first.close()

  const second = await startApiServer({
    tokens: ENTRIES,
    snapshotPath: state,
    serviceAccountKey: readSigningKey(keyFile),
  })
  t.teardown(() => second.close())
  const reviewed = await post(second, '/apis/authentication.k8s.io/v1/tokenreviews', {spec: {token}})
  t.match(reviewed, {
    status: 201,
    body: {status: {authenticated: true, user: {username: 'system:serviceaccount:default:robot'}}},
  })
  const other = await startApiServer({tokens: ENTRIES, snapshotPath: path.join(dir, 'other.json')})
  t.teardown(() => other.close())
  other.store.create('serviceaccounts', 'default', {metadata: {name: 'robot'}})
  t.match(await post(other, '/apis/authentication.k8s.io/v1/tokenreviews', {spec: {token}}), {
    body: {status: {authenticated: false}},
  })

  fs.chmodSync(keyFile, 0o644)
  t.throws(() => readSigningKey(keyFile), /accessible by group or others/)
  fs.writeFileSync(path.join(dir, 'short'), 'x', {mode: 0o600})
  t.throws(() => readSigningKey(path.join(dir, 'short')), /at least 32/)
})
