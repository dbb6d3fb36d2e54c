// deploy/: the manifests a user applies to a real cluster. kubectl accepts them (a client dry run,
// then a real apply on the lab API server, then a second apply that changes nothing); the RBAC they
// grant is the least each component needs (asked as SubjectAccessReviews); the DaemonSets are
// hostNetwork, the agent's also hostPID, with only the capabilities named and read-only host mounts;
// and every flag their commands pass is one the cnidbg command has.
import path from 'node:path'

import t, {type Test} from 'tap'

import AgentCommand from '../../src/commands/agent.js'
import AgentSignerCommand from '../../src/commands/agent-signer.js'
import RefDaemon from '../../src/commands/ref/daemon.js'
import RefInstall from '../../src/commands/ref/install.js'
import {decide} from '../../src/lab/apiserver/auth.js'
import {startApiServer} from '../../src/lab/apiserver/server.js'
import {readManifests} from '../../src/lab/manifests.js'
import {ROOT} from '../helpers/capture.js'
import {kubectl as runKubectl, selfSignedApiCert} from '../helpers/apiserver.js'

type Obj = Record<string, any>

const ADMIN = 'deploy-test-admin-0123456789'
const DEPLOY = path.join(ROOT, 'deploy')

t.test('kubectl applies deploy/ to the lab API server; least privilege; bounded host access', async (t) => {
  const dir = t.testdir()
  const api = await startApiServer({
    tokens: [{token: ADMIN, user: {name: 'admin', uid: '1', groups: ['system:masters']}}],
    tls: await selfSignedApiCert(dir),
  })
  t.teardown(() => api.close())
  const kubeconfig = path.join(dir, 'kubeconfig')
  api.writeKubeconfig(kubeconfig)
  const kubectl = async (args: string[]) => {
    const r = await runKubectl(kubeconfig, path.join(dir, 'cache'), args)
    t.equal(r.exitCode, 0, `kubectl ${args.join(' ')}${r.exitCode ? `: ${r.stderr}` : ''}`)
    return r.stdout
  }
  const rv = api.store.resourceVersion
  await kubectl(['apply', '--dry-run=client', '-f', DEPLOY])
  t.equal(api.store.resourceVersion, rv, 'a client dry run stores nothing')
  // The manifests as JSON (no YAML library here: kubectl reads them).
  const printed = await kubectl(['create', '--dry-run=client', '-o', 'json', '-f', DEPLOY])
  // One pretty-printed object after another.
  checkManifests(
    t,
    printed
      .trim()
      .split(/\n(?=\{)/)
      .map((o) => JSON.parse(o) as Obj),
  )
  const applied = await kubectl(['apply', '-f', DEPLOY])
  t.match(applied, /daemonset\.apps\/cnidbg-agent created/)
  const again = await kubectl(['apply', '-f', DEPLOY])
  t.notMatch(again, /created|configured/, `a second apply changes nothing: ${again}`)
  t.match(again, /daemonset\.apps\/cnidbg-node unchanged/)
  t.match(await kubectl(['-n', 'cnidbg', 'get', 'ds']), /cnidbg-agent\s+0\s+0\s+0/)

  // What RBAC, as stored, lets each identity do (the same decision a SubjectAccessReview returns).
  const can = (user: string, groups: string[], verb: string, resource: string, group: string) => {
    const [res, sub] = resource.split('/')
    return decide(
      {name: user, uid: '', groups},
      {verb, group, resource: res!, subresource: sub, name: 'node1'},
      api.store,
    ).allowed
  }
  const sa = (name: string) =>
    ['system:serviceaccount:cnidbg:' + name, ['system:serviceaccounts', 'system:serviceaccounts:cnidbg']] as const
  const grants: Array<[readonly [string, readonly string[]], string, string, string, boolean]> = [
    [sa('cnidbg-daemon'), 'list', 'nodes', '', true],
    [sa('cnidbg-daemon'), 'watch', 'pods', '', true],
    [sa('cnidbg-daemon'), 'patch', 'nodes', '', true],
    [sa('cnidbg-daemon'), 'create', 'pods', '', false],
    [sa('cnidbg-daemon'), 'delete', 'nodes', '', false],
    [sa('cnidbg-daemon'), 'get', 'secrets', '', false],
    [sa('cnidbg-daemon'), 'get', 'nodes/proxy', '', false],
    [sa('cnidbg-daemon'), 'create', 'tokenreviews', 'authentication.k8s.io', true],
    [sa('cnidbg-daemon'), 'watch', 'networkpolicies', 'networking.k8s.io', true],
    [sa('cnidbg-daemon'), 'list', 'namespaces', '', true],
    [sa('cnidbg-daemon'), 'create', 'networkpolicies', 'networking.k8s.io', false],
    [sa('cnidbg-daemon'), 'create', 'subjectaccessreviews', 'authorization.k8s.io', true],
    [sa('cnidbg-agent'), 'create', 'tokenreviews', 'authentication.k8s.io', true],
    [sa('cnidbg-agent'), 'create', 'subjectaccessreviews', 'authorization.k8s.io', true],
    [sa('cnidbg-agent'), 'create', 'certificatesigningrequests', 'certificates.k8s.io', true],
    [sa('cnidbg-agent'), 'get', 'certificatesigningrequests', 'certificates.k8s.io', true],
    [sa('cnidbg-agent'), 'list', 'certificatesigningrequests', 'certificates.k8s.io', false],
    [sa('cnidbg-agent'), 'update', 'certificatesigningrequests/approval', 'certificates.k8s.io', false],
    [sa('cnidbg-agent'), 'update', 'certificatesigningrequests/status', 'certificates.k8s.io', false],
    [sa('cnidbg-agent'), 'approve', 'signers', 'certificates.k8s.io', false],
    [sa('cnidbg-agent'), 'list', 'pods', '', false],
    [sa('cnidbg-agent'), 'get', 'nodes/proxy', '', false],
    [['alice', ['cnidbg:tracers']], 'get', 'nodes/proxy', '', true],
    [['alice', ['cnidbg:tracers']], 'create', 'nodes/proxy', '', true],
    [['alice', ['cnidbg:tracers']], 'list', 'pods', '', true],
    [['alice', ['cnidbg:tracers']], 'delete', 'pods', '', false],
    [['alice', ['cnidbg:tracers']], 'patch', 'nodes', '', false],
    [['bob', ['system:authenticated']], 'get', 'nodes/proxy', '', false],
  ]
  for (const [[user, groups], verb, resource, group, want] of grants)
    t.equal(can(user, [...groups], verb, resource, group), want, `${user} ${verb} ${resource}: ${want}`)
})

/** The DaemonSets: host access named and bounded; their commands use real flags. */
function checkManifests(t: Test, items: Obj[]): void {
  t.same(
    items.map((o) => `${o.kind}/${o.metadata.name}`),
    [
      'Namespace/cnidbg',
      'ServiceAccount/cnidbg-daemon',
      'ServiceAccount/cnidbg-agent',
      'ClusterRole/cnidbg-daemon',
      'ClusterRoleBinding/cnidbg-daemon',
      'ClusterRole/cnidbg-agent',
      'ClusterRoleBinding/cnidbg-agent',
      'ClusterRole/cnidbg-tracer',
      'ClusterRoleBinding/cnidbg-tracers',
      'DaemonSet/cnidbg-node',
      'DaemonSet/cnidbg-agent',
    ],
  )
  const ds = (name: string) => items.find((o) => o.kind === 'DaemonSet' && o.metadata.name === name)!.spec.template.spec
  const agent = ds('cnidbg-agent')
  t.match(agent, {hostNetwork: true, hostPID: true, serviceAccountName: 'cnidbg-agent'})
  const [agentC] = agent.containers
  t.same(agentC.securityContext.capabilities, {drop: ['ALL'], add: ['SYS_ADMIN', 'SYS_PTRACE', 'NET_ADMIN', 'NET_RAW']})
  t.notOk(agentC.securityContext.privileged, 'not privileged')
  t.equal(agentC.securityContext.readOnlyRootFilesystem, true)
  const hostVolumes = new Set(agent.volumes.filter((v: Obj) => v.hostPath).map((v: Obj) => v.name))
  // The one host mount it writes: tracefs, for its own drop-reason instance.
  for (const m of agentC.volumeMounts.filter((m: Obj) => hostVolumes.has(m.name)))
    t.equal(m.readOnly ?? false, m.mountPath !== '/sys/kernel/tracing', `the agent's host mount ${m.mountPath}`)
  const node = ds('cnidbg-node')
  t.match(node, {hostNetwork: true, serviceAccountName: 'cnidbg-daemon'})
  t.notOk(node.hostPID, 'the daemon needs no host PIDs')
  t.same(node.containers[0].securityContext.capabilities, {drop: ['ALL'], add: ['NET_ADMIN', 'NET_BIND_SERVICE']})
  t.same(node.initContainers[0].securityContext.capabilities, {drop: ['ALL']})

  const flagsOf = (argv: string[]) => argv.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]!)
  const has = (cmd: {flags: Record<string, unknown>}, argv: string[], what: string) => {
    for (const f of flagsOf(argv)) t.ok(f === 'json' || f in cmd.flags, `${what}: --${f} is a flag of the command`)
  }
  t.same(agentC.command.slice(0, 2), ['cnidbg', 'agent'])
  has(AgentCommand, agentC.command, 'agent')
  t.same(node.containers[0].command.slice(0, 3), ['cnidbg', 'ref', 'daemon'])
  has(RefDaemon, node.containers[0].command, 'daemon')
  t.same(node.initContainers[0].command.slice(0, 3), ['cnidbg', 'ref', 'install'])
  has(RefInstall, node.initContainers[0].command, 'install')
}

t.test("deploy/optional's agent signer: non-root, read-only, no capabilities; its command's flags exist", async (t) => {
  // Read as YAML: the lab API server serves no Deployments, so kubectl can't map this one there.
  const items = readManifests(path.join(DEPLOY, 'optional')) as Obj[]
  t.same(
    items.map((o) => o.kind),
    ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Deployment'],
  )
  const pod = items.find((o) => o.kind === 'Deployment')!.spec.template.spec
  t.equal(pod.serviceAccountName, 'cnidbg-agent-signer')
  t.notOk(pod.hostNetwork || pod.hostPID, 'nothing of the host')
  const c = pod.containers[0]
  t.match(c.securityContext, {
    runAsNonRoot: true,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: {drop: ['ALL']},
  })
  t.same(c.command.slice(0, 2), ['cnidbg', 'agent-signer'])
  for (const f of c.command.filter((a: string) => a.startsWith('--')).map((a: string) => a.slice(2).split('=')[0]))
    t.ok(f === 'json' || f in AgentSignerCommand.flags, `agent-signer: --${f} is a flag of the command`)
})
