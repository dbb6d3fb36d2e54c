// RBAC as the lab apiserver evaluates it: rule matching (verbs, groups, resources and subresources,
// resource names, non-resource URLs, each with `*`), subjects, bindings to missing roles, and the
// validation and defaults of ClusterRoles and ClusterRoleBindings in the store.
import t from 'tap'

import {
  rbacDecide,
  ruleAllowsPath,
  ruleAllowsResource,
  subjectMatches,
  type PolicyRule,
} from '../../../src/lab/apiserver/rbac.js'
import {Store} from '../../../src/lab/apiserver/store.js'
import {ApiError} from '../../../src/lab/apiserver/status.js'

const proxyGet = {verb: 'get', group: '', resource: 'nodes', subresource: 'proxy', name: 'node1'}

t.test('rules: verbs, groups, resources and subresources', async (t) => {
  const rule = (r: Partial<PolicyRule>): PolicyRule => ({
    verbs: ['get'],
    apiGroups: [''],
    resources: ['nodes/proxy'],
    ...r,
  })
  t.ok(ruleAllowsResource(rule({}), proxyGet), 'nodes/proxy names the subresource')
  t.notOk(ruleAllowsResource(rule({resources: ['nodes']}), proxyGet), 'nodes does not imply nodes/proxy')
  t.notOk(ruleAllowsResource(rule({}), {...proxyGet, subresource: undefined}), 'nodes/proxy does not imply nodes')
  t.ok(ruleAllowsResource(rule({resources: ['*']}), proxyGet), '* is every resource and subresource')
  t.ok(ruleAllowsResource(rule({resources: ['*/proxy']}), proxyGet), 'a star before /proxy: every resource')
  t.notOk(ruleAllowsResource(rule({resources: ['*/status']}), proxyGet))
  t.notOk(ruleAllowsResource(rule({}), {...proxyGet, verb: 'create'}), 'get does not imply create')
  t.ok(ruleAllowsResource(rule({verbs: ['*']}), {...proxyGet, verb: 'create'}))
  t.notOk(ruleAllowsResource(rule({apiGroups: ['apps']}), proxyGet), 'another group')
  t.ok(ruleAllowsResource(rule({apiGroups: ['*']}), proxyGet))
  t.notOk(ruleAllowsResource(rule({apiGroups: undefined}), proxyGet), 'no apiGroups: no group')
  t.ok(ruleAllowsResource(rule({resourceNames: ['node1']}), proxyGet), 'its resource name')
  t.notOk(ruleAllowsResource(rule({resourceNames: ['node2']}), proxyGet), 'another resource name')
  t.notOk(
    ruleAllowsResource(rule({verbs: ['list'], resources: ['nodes'], resourceNames: ['node1']}), {
      verb: 'list',
      group: '',
      resource: 'nodes',
    }),
    'resourceNames never allow a request that names no object',
  )
})

t.test('rules: non-resource URLs', async (t) => {
  const rule: PolicyRule = {verbs: ['get'], nonResourceURLs: ['/metrics', '/debug/*']}
  t.ok(ruleAllowsPath(rule, {verb: 'get', path: '/metrics'}))
  t.notOk(ruleAllowsPath(rule, {verb: 'get', path: '/metrics/x'}))
  t.ok(ruleAllowsPath(rule, {verb: 'get', path: '/debug/pprof'}), 'a trailing * is a prefix')
  t.notOk(ruleAllowsPath(rule, {verb: 'post', path: '/metrics'}))
  t.notOk(ruleAllowsResource(rule, proxyGet), 'a URL rule allows no resource')
})

t.test('subjects', async (t) => {
  const who = {name: 'system:serviceaccount:cnidbg:tracer', groups: ['system:serviceaccounts', 'ops']}
  t.ok(subjectMatches({kind: 'ServiceAccount', namespace: 'cnidbg', name: 'tracer'}, who))
  t.notOk(subjectMatches({kind: 'ServiceAccount', namespace: 'other', name: 'tracer'}, who))
  t.notOk(subjectMatches({kind: 'ServiceAccount', name: 'tracer'}, who), 'a ServiceAccount needs its namespace')
  t.ok(subjectMatches({kind: 'User', name: 'system:serviceaccount:cnidbg:tracer'}, who))
  t.ok(subjectMatches({kind: 'Group', name: 'ops'}, who))
  t.notOk(subjectMatches({kind: 'Group', name: 'tracer'}, who))
  t.notOk(subjectMatches({kind: 'Robot', name: 'tracer'}, who))
})

t.test('bindings in a store: grant, missing role, validation and defaults', async (t) => {
  const store = new Store()
  const role = (name: string, rules: unknown) =>
    store.create('clusterroles', undefined, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: {name},
      rules,
    })
  role('cnidbg:tracer', [{apiGroups: [''], resources: ['nodes/proxy'], verbs: ['get']}])
  const binding = store.create('clusterrolebindings', undefined, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: {name: 'tracers'},
    roleRef: {kind: 'ClusterRole', name: 'cnidbg:tracer'},
    subjects: [
      {kind: 'ServiceAccount', namespace: 'cnidbg', name: 'tracer'},
      {kind: 'Group', name: 'ops'},
    ],
  })
  t.match(binding, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    roleRef: {apiGroup: 'rbac.authorization.k8s.io'},
    subjects: [{kind: 'ServiceAccount'}, {apiGroup: 'rbac.authorization.k8s.io'}],
  })
  t.notOk(
    'apiGroup' in (binding.subjects as object[])[0]!,
    "a ServiceAccount's core group is left out, as the apiserver does",
  )
  const req = {resource: proxyGet}
  t.match(rbacDecide(store, {name: 'system:serviceaccount:cnidbg:tracer', groups: []}, req), {
    allowed: true,
    reason:
      'RBAC: allowed by ClusterRoleBinding "tracers" of ClusterRole "cnidbg:tracer" to ServiceAccount "cnidbg/tracer"',
  })
  t.match(rbacDecide(store, {name: 'alice', groups: ['ops']}, req), {allowed: true, reason: /to Group "ops"/})
  t.same(rbacDecide(store, {name: 'alice', groups: []}, req), {allowed: false, reason: ''})
  t.notOk(rbacDecide(store, {name: 'alice', groups: ['ops']}, {resource: {...proxyGet, verb: 'create'}}).allowed)

  store.create('clusterrolebindings', undefined, {
    metadata: {name: 'dangling'},
    roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'nobody-made-me'},
    subjects: [{kind: 'User', name: 'bob', apiGroup: 'rbac.authorization.k8s.io'}],
  })
  t.notOk(rbacDecide(store, {name: 'bob', groups: []}, req).allowed, 'a binding to a missing role grants nothing')
  role('nobody-made-me', [{apiGroups: [''], resources: ['nodes/proxy'], verbs: ['get']}])
  t.ok(rbacDecide(store, {name: 'bob', groups: []}, req).allowed, 'until the role exists')

  const refused = (fn: () => unknown, field: RegExp, what: string) => {
    try {
      fn()
      t.fail(`${what}: accepted`)
    } catch (e) {
      t.ok(e instanceof ApiError && e.code === 422, `${what}: 422`)
      t.match((e as ApiError).details?.causes?.map((c) => c.field).join(' '), field, what)
    }
  }
  refused(() => role('no-verbs', [{apiGroups: [''], resources: ['pods']}]), /rules\[0\]\.verbs/, 'a rule without verbs')
  refused(() => role('no-group', [{resources: ['pods'], verbs: ['get']}]), /rules\[0\]\.apiGroups/, 'no api group')
  refused(
    () => role('both', [{apiGroups: [''], resources: ['pods'], nonResourceURLs: ['/x'], verbs: ['get']}]),
    /nonResourceURLs/,
    'resources and URLs at once',
  )
  refused(
    () => store.create('clusterrolebindings', undefined, {metadata: {name: 'x'}, subjects: []}),
    /roleRef/,
    'a binding without roleRef',
  )
  refused(
    () =>
      store.create('clusterrolebindings', undefined, {
        metadata: {name: 'x'},
        roleRef: {kind: 'ClusterRole', name: 'r'},
        subjects: [{kind: 'ServiceAccount', name: 'no-namespace'}],
      }),
    /subjects\[0\]\.namespace/,
    'a ServiceAccount subject without namespace',
  )
  refused(
    () => store.patch('clusterrolebindings', undefined, 'tracers', 'merge', {roleRef: {name: 'nobody-made-me'}}),
    /roleRef/,
    'roleRef is immutable',
  )
  refused(() => role('a/b', []), /metadata\.name/, 'a name with a slash')
  t.ok(role('system:auth-delegator', []), 'RBAC names may hold colons')
})
