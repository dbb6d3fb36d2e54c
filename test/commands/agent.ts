// `cnidbg agent`: its flags reach the service, what it prints (text and the --json envelope), and the
// built CLI as a node would run it: it prints its URL and fingerprint once it listens, serves a
// caller bound to cnidbg-tracer and refuses one without a token, and ends on SIGTERM.
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {readFileSync} from 'node:fs'
import path from 'node:path'

import t from 'tap'

import {AgentClient, type AgentError} from '../../src/agent/client.js'
import {startApiServer} from '../../src/lab/apiserver/server.js'
import {createNetns, deleteNetns} from '../../src/netns/index.js'
import {selfSignedApiCert} from '../helpers/apiserver.js'
import {ROOT, runCommand} from '../helpers/capture.js'
import {mocker} from '../helpers/mocking.js'

const mockImport = await mocker(t, import.meta.url)

const RESULT = {
  node: 'n1',
  url: 'https://127.0.0.1:10265',
  fingerprint: 'AB:CD',
  selfSigned: true,
  certificate: 'self-signed',
  reads: 'netns /run/netns/x',
  audiences: [],
  pid: 42,
}

t.test('flags reach the service; text and --json output', async (t) => {
  let got: any
  const {default: Agent} = await mockImport<typeof import('../../src/commands/agent.js')>(
    t,
    '../../src/commands/agent.js',
    {
      '../../src/services/agent.js': {
        ...(await import('../../src/services/agent.js')),
        startAgentService: async (o: any) => {
          got = o
          return {...RESULT, node: o.node}
        },
      },
    },
  )
  const text = await runCommand(Agent, 'agent', [
    '--node',
    'n1',
    '--netns',
    'cnidbg-lab-lab-node1',
    '--listen',
    '127.0.0.1:0',
    '--kubeconfig',
    '/k.yaml',
    '--audience',
    'cnidbg-agent',
    '--max-in-flight',
    '2',
    '--auth-cache',
    '3',
  ])
  t.match(got, {
    node: 'n1',
    netns: 'cnidbg-lab-lab-node1',
    hostNetwork: false,
    listen: '127.0.0.1:0',
    kubeconfigPath: '/k.yaml',
    audiences: ['cnidbg-agent'],
    maxInFlight: 2,
    authCacheSeconds: 3,
    cniCacheDir: '/var/lib/cni',
  })
  t.match(text.stdout, /node agent for n1 on https:\/\/127\.0\.0\.1:10265 \(pid 42\)/)
  t.match(text.stdout, /certificate SHA-256 AB:CD \(self-signed at start\)/)
  const json = await runCommand(Agent, 'agent', ['--node', 'n1', '--host-network', '--json'])
  t.match(JSON.parse(json.stdout), {command: 'agent', status: 0, result: RESULT})
  t.match(got, {hostNetwork: true, netns: undefined, listen: '0.0.0.0:10265'})
  const both = await runCommand(Agent, 'agent', ['--node', 'n1', '--host-network', '--netns', 'x'])
  t.equal(both.exitCode, 2, '--netns and --host-network exclude each other')
})

t.test('the built CLI serves until SIGTERM', async (t) => {
  const dir = t.testdir()
  const api = await startApiServer({
    tokens: [{token: 'cmd-test-admin-0123456789', user: {name: 'admin', uid: '1', groups: ['system:masters']}}],
    tls: await selfSignedApiCert(dir),
  })
  t.teardown(() => api.close())
  const {store} = api
  store.create('namespaces', undefined, {metadata: {name: 'cnidbg'}})
  for (const name of ['cnidbg-agent', 'tracer']) store.create('serviceaccounts', 'cnidbg', {metadata: {name}})
  const role = (name: string, rules: unknown[], sa: string) => {
    store.create('clusterroles', undefined, {metadata: {name}, rules})
    store.create('clusterrolebindings', undefined, {
      metadata: {name},
      roleRef: {kind: 'ClusterRole', name},
      subjects: [{kind: 'ServiceAccount', name: sa, namespace: 'cnidbg'}],
    })
  }
  role(
    'cnidbg-agent',
    [
      {apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create']},
      {apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create']},
    ],
    'cnidbg-agent',
  )
  role('cnidbg-tracer', [{apiGroups: [''], resources: ['nodes/proxy'], verbs: ['get']}], 'tracer')
  const kubeconfig = path.join(dir, 'agent.kubeconfig')
  api.writeKubeconfig(kubeconfig, {token: api.mintToken('cnidbg', 'cnidbg-agent')})
  const netns = `cnidbg-ag-${randomBytes(3).toString('hex')}`
  await createNetns(netns)
  t.teardown(() => deleteNetns(netns))

  const proc = spawn(
    process.execPath,
    [
      path.join(ROOT, 'bin/run.js'),
      'agent',
      '--json',
      '--node',
      'node1',
      '--netns',
      netns,
      '--listen',
      '127.0.0.1:0',
      '--kubeconfig',
      kubeconfig,
    ],
    {stdio: ['ignore', 'pipe', 'pipe']},
  )
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (c, s) => resolve(c ?? s ?? '?')))
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
  })
  let stdout = ''
  let stderr = ''
  proc.stderr.on('data', (d) => (stderr += d))
  // The envelope, once the agent listens (the bound is only how long a failure takes to report).
  const envelope = await new Promise<any>((resolve, reject) => {
    const give = setTimeout(() => reject(new Error(`no envelope: ${stdout}${stderr}`)), 60_000)
    proc.stdout.on('data', (d) => {
      stdout += d
      try {
        const parsed = JSON.parse(stdout)
        clearTimeout(give)
        resolve(parsed)
      } catch {
        // more to come
      }
    })
    void exited.then(() => reject(new Error(`exited: ${stdout}${stderr}`)))
  })
  t.match(envelope, {command: 'agent', status: 0, result: {node: 'node1', url: /^https:\/\/127\.0\.0\.1:\d+$/}})
  const {url, fingerprint} = envelope.result
  const tracer = new AgentClient({url, fingerprint, token: api.mintToken('cnidbg', 'tracer')})
  t.match(await tracer.node(), {node: 'node1', reads: `netns /run/netns/${netns}`})
  const anon = await new AgentClient({url, fingerprint}).node().then(
    () => 200,
    (e: AgentError) => e.status,
  )
  t.equal(anon, 401)
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))?.[1]
  t.comment(`idle agent RSS: ${Math.round(Number(rss) / 1024)} MB`)
  proc.kill('SIGTERM')
  t.equal(await exited, 143, 'ends on SIGTERM')
  t.match(stderr, /"msg":"GET \/v1\/node 200 system:serviceaccount:cnidbg:tracer/, 'JSON log lines on stderr')
  t.notMatch(stderr + stdout, /eyJ/, 'no token printed')
})
