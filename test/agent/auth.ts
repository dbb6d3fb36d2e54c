// The node agent's callers, checked through a real (lab) API server over HTTPS as kube-rbac-proxy
// checks them: the agent's ServiceAccount may create TokenReviews and SubjectAccessReviews; a caller
// with no token gets a 401, one whose user lacks nodes/proxy a 403 (whatever the path), one bound to
// cnidbg-tracer a 200. Audience-bound tokens, an API server that went away, and no token anywhere in
// what the agent logs or answers.
import {randomBytes} from 'node:crypto'
import path from 'node:path'

import t from 'tap'

import {startAgent, type RunningAgent} from '../../src/agent/agent.js'
import {AgentClient, type AgentError} from '../../src/agent/client.js'
import {startApiServer, type ApiServer} from '../../src/lab/apiserver/server.js'
// The agent loads the Kubernetes client on its first review (gate.ts, apiReviewer). From source, through
// the test's TypeScript loader, that is hundreds of modules, which took longer than a request's 15 s on
// a loaded machine; the built agent loads one bundle. Loaded here, before any request's clock runs.
import '../../src/kube/client.js'
import {createNetns, deleteNetns} from '../../src/netns/index.js'
import {selfSignedApiCert} from '../helpers/apiserver.js'

const ADMIN = 'auth-test-admin-0123456789'
const RBAC = [
  {apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'cnidbg'}},
  ...['cnidbg-agent', 'tracer', 'nobody'].map((name) => ({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: {name, namespace: 'cnidbg'},
  })),
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: {name: 'cnidbg-agent'},
    rules: [
      {apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create']},
      {apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create']},
    ],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: {name: 'cnidbg-agent'},
    roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cnidbg-agent'},
    subjects: [{kind: 'ServiceAccount', name: 'cnidbg-agent', namespace: 'cnidbg'}],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: {name: 'cnidbg-tracer'},
    rules: [{apiGroups: [''], resources: ['nodes/proxy'], verbs: ['get', 'create']}],
  },
  {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: {name: 'cnidbg-tracer'},
    roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cnidbg-tracer'},
    subjects: [{kind: 'ServiceAccount', name: 'tracer', namespace: 'cnidbg'}],
  },
]

interface Setup {
  api: ApiServer
  tokens: {tracer: string; nobody: string; agent: string; boundTracer: string}
  agentKubeconfig: string
  netns: string
}

async function setup(t: {teardown: (fn: () => unknown) => void; testdir: () => string}): Promise<Setup> {
  const dir = t.testdir()
  const api = await startApiServer({
    tokens: [{token: ADMIN, user: {name: 'admin', uid: '1', groups: ['system:masters']}}],
    tls: await selfSignedApiCert(dir),
  })
  t.teardown(() => api.close())
  for (const o of RBAC as Array<{kind: string; metadata: {namespace?: string}}>) {
    const r =
      o.kind === 'Namespace'
        ? 'namespaces'
        : o.kind === 'ServiceAccount'
          ? 'serviceaccounts'
          : o.kind === 'ClusterRole'
            ? 'clusterroles'
            : 'clusterrolebindings'
    api.store.create(r, o.metadata.namespace, o)
  }
  const tokens = {
    tracer: api.mintToken('cnidbg', 'tracer'),
    nobody: api.mintToken('cnidbg', 'nobody'),
    agent: api.mintToken('cnidbg', 'cnidbg-agent'),
    boundTracer: api.mintToken('cnidbg', 'tracer', {audiences: ['cnidbg-agent']}),
  }
  const agentKubeconfig = path.join(dir, 'agent.kubeconfig')
  api.writeKubeconfig(agentKubeconfig, {token: tokens.agent})
  const netns = `cnidbg-ag-${randomBytes(3).toString('hex')}`
  await createNetns(netns)
  t.teardown(() => deleteNetns(netns))
  return {api, tokens, agentKubeconfig, netns}
}

async function agentFor(
  t: {teardown: (fn: () => unknown) => void},
  s: Setup,
  extra: {audiences?: string[]} = {},
): Promise<{agent: RunningAgent; logged: string[]; as: (token?: string) => AgentClient}> {
  const logged: string[] = []
  const agent = await startAgent({
    node: 'node1',
    listen: '127.0.0.1:0',
    kubeconfigPath: s.agentKubeconfig,
    netns: s.netns,
    log: (l) => logged.push(l),
    ...extra,
  })
  t.teardown(() => agent.stop())
  const as = (token?: string) => new AgentClient({url: agent.result.url, token, fingerprint: agent.result.fingerprint})
  return {agent, logged, as}
}

/** What a call failed with (an AgentError with status 200 when it did not fail). */
const failure = (p: Promise<unknown>): Promise<AgentError> =>
  p.then(
    () => Object.assign(new Error('no failure'), {status: 200}) as AgentError,
    (e: AgentError) => e,
  )

const statusOf = (p: Promise<unknown>) =>
  p.then(
    () => 200,
    (e: AgentError) => e.status,
  )

t.test('401 without a valid token, 403 without nodes/proxy, 200 with cnidbg-tracer; over HTTPS', async (t) => {
  const s = await setup(t)
  const {agent, logged, as} = await agentFor(t, s)
  t.match(agent.result, {
    node: 'node1',
    url: /^https:\/\/127\.0\.0\.1:\d+$/,
    fingerprint: /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/,
    selfSigned: true,
  })
  const reads = (c: AgentClient) => [
    statusOf(c.node()),
    statusOf(c.snapshot({parts: ['links']})),
    statusOf(c.pods(['10.244.0.1'])),
    statusOf(c.request('GET', '/no/such/path')),
  ]
  t.same(await Promise.all(reads(as())), [401, 401, 401, 401], 'no token')
  t.same(await Promise.all(reads(as('not-a-token'))), [401, 401, 401, 401], 'an unknown token')
  t.same(
    await Promise.all(reads(as(s.tokens.boundTracer))),
    [401, 401, 401, 401],
    "a token for the agents' audience only",
  )
  t.same(await Promise.all(reads(as(s.tokens.nobody))), [403, 403, 403, 403], 'a user without nodes/proxy')
  t.same(await Promise.all(reads(as(s.tokens.tracer))), [200, 200, 200, 404], 'cnidbg-tracer: routed')
  t.ok(await as().healthy(), '/healthz needs no credential')
  const refused = await failure(as(s.tokens.nobody).node())
  t.match(refused.message, /user "system:serviceaccount:cnidbg:nobody" may not get nodes\/proxy of node "node1"/)

  // Unbound: the agent's cached answer lasts a few seconds, a new agent asks again.
  s.api.store.delete('clusterrolebindings', undefined, 'cnidbg-tracer')
  const fresh = await agentFor(t, s)
  t.equal(await statusOf(fresh.as(s.tokens.tracer).node()), 403, 'no binding, no access')

  const everything = [...logged, ...fresh.logged].join('\n')
  for (const tok of Object.values(s.tokens)) t.notMatch(everything, tok, 'no token in the log')
  t.match(everything, /GET \/v1\/node 403 system:serviceaccount:cnidbg:nobody/)
})

t.test('an agent that wants its own audience; an agent whose API server is gone', async (t) => {
  const s = await setup(t)
  const {as} = await agentFor(t, s, {audiences: ['cnidbg-agent']})
  t.equal(await statusOf(as(s.tokens.boundTracer).node()), 200, 'minted for cnidbg-agent')
  t.equal(await statusOf(as(s.tokens.tracer).node()), 401, 'an API token is no agent token here')

  const {as: as2, logged} = await agentFor(t, s)
  t.equal(await statusOf(as2(s.tokens.tracer).node()), 200)
  await s.api.close()
  const down = await failure(as2(s.tokens.nobody).node())
  t.equal(down.status, 503, 'the credential could not be checked: 503, never a pass')
  t.match(down.message, /cannot review the token/)
  t.notMatch(down.message, s.tokens.nobody)
  t.notMatch(logged.join('\n'), s.tokens.nobody)
})
