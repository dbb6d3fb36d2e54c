// Integration: the lab runs deploy/. A 2-node lab whose node processes are the pods of the DaemonSets
// its API server stores: their argv, env and token come from the manifests, each runs in its node's
// namespace and serves on the node's IP; the API server is reachable from inside the nodes with the
// node kubeconfig, whose user has cnidbg-tracer; the agent answers 401, 403 and 200 as RBAC says;
// a killed node process comes back; a crashed supervisor's node processes are removed by lab down,
// and the root namespace is as before.
import {readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import t from 'tap'

import {KubeConfig, KubernetesObjectApi, type V1DaemonSet} from '../../src/kube/client.js'
import {labDown} from '../../src/lab/down.js'
import {processesInNetns} from '../../src/lab/lifecycle.js'
import {expandVars, nodePodDir, SERVICE_ACCOUNT_DIR} from '../../src/lab/node-pods.js'
import {procAlive, procRef, readLabState} from '../../src/lab/state.js'
import {labStatus} from '../../src/lab/status.js'
import {netnsPath} from '../../src/netns/netns.js'
import {run, runOk} from '../../src/process/exec.js'
import {bundleLabLibexec, inNetns, REPO, testLabName, testLabUp} from '../helpers/lab.js'
import {eventually, rootLinks} from '../helpers/machine.js'

t.setTimeout(1_800_000)

const name = testLabName()
const linksBefore = await rootLinks()
const libexec = await bundleLabLibexec()
t.teardown(async () => {
  await labDown({name}).catch(() => undefined)
})
await testLabUp({name, nodes: 2, podsPerNode: 1, mode: 'vxlan', libexec})
const state = readLabState(name)!

const kc = new KubeConfig()
kc.loadFromFile(state.kubeconfig)
const stored = await KubernetesObjectApi.makeApiClient(kc).list<V1DaemonSet>('apps/v1', 'DaemonSet', 'cnidbg')
const daemonSet = (n: string) => stored.items.find((d) => d.metadata?.name === n)!

const argvOf = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1)
const envOf = (pid: number) =>
  Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  )
const netnsInode = (path: string) => statSync(path).ino
/** A file as the pod's process sees it (its own mount namespace). */
const podFile = async (pid: number, path: string) =>
  (await runOk('nsenter', ['-t', String(pid), '-m', 'cat', path])).stdout

t.test('the API server stores deploy/', async (t) => {
  t.same(stored.items.map((d) => d.metadata?.name).sort(), ['cnidbg-agent', 'cnidbg-node'])
  const r = await runOk('kubectl', [
    '--kubeconfig',
    state.kubeconfig,
    'get',
    'clusterrolebinding',
    'cnidbg-tracers',
    '-o',
    'name',
  ])
  t.equal(r.stdout.trim(), 'clusterrolebinding.rbac.authorization.k8s.io/cnidbg-tracers')
})

t.test(
  "each node's daemon and agent are the DaemonSets' pods, processes of their own in the node's namespace",
  async (t) => {
    const s = await labStatus({name})
    t.same(s.problems, [])
    t.equal(s.nodeKubeconfig, join(state.dir, 'auth', 'node-tracer.kubeconfig'))
    for (const n of state.nodes) {
      const sn = s.nodes.find((x) => x.name === n.name)!
      t.equal(sn.daemon.url, `http://${n.nodeIP}:10266`)
      t.equal(sn.agent.url, `https://${n.nodeIP}:10265`)
      for (const [role, ds, sa] of [
        ['daemon', 'cnidbg-node', 'cnidbg-daemon'],
        ['agent', 'cnidbg-agent', 'cnidbg-agent'],
      ] as const) {
        const pid = sn[role].pid!
        t.ok(pid && pid !== s.supervisor.pid && pid !== s.apiserver.pid, `${n.name} ${role}: a process of its own`)
        t.equal(netnsInode(`/proc/${pid}/ns/net`), netnsInode(netnsPath(n.netns)), `${n.name} ${role}: in ${n.netns}`)
        const c = daemonSet(ds).spec!.template.spec!.containers[0]!
        const env = envOf(pid)
        t.equal(env.NODE_NAME, n.name, `${role}: NODE_NAME from spec.nodeName`)
        // The argv is the container's command, $(VAR)s expanded from its env; `cnidbg` is the CLI.
        const command = [...(c.command ?? []), ...(c.args ?? [])].map((a) => expandVars(a, env))
        t.same(
          argvOf(pid),
          [process.execPath, join(REPO, 'bin', 'run.js'), ...command.slice(1)],
          `${role}: the manifest's command`,
        )
        t.ok(command.includes(`--listen=${n.nodeIP}:${role === 'agent' ? 10265 : 10266}`))
        // The ServiceAccount token is where in-cluster config reads it, and the API server says whose it is.
        const token = await podFile(pid, `${SERVICE_ACCOUNT_DIR}/token`)
        t.equal(await podFile(pid, `${SERVICE_ACCOUNT_DIR}/namespace`), 'cnidbg')
        t.equal(token, readFileSync(join(nodePodDir(n, ds), 'serviceaccount', 'token'), 'utf8'))
        const review = await runOk('kubectl', ['--kubeconfig', state.kubeconfig, 'create', '-o', 'json', '-f', '-'], {
          input: JSON.stringify({apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: {token}}),
        })
        t.equal(JSON.parse(review.stdout).status.user.username, `system:serviceaccount:cnidbg:${sa}`)
        // Only the capabilities the securityContext adds: the agent's SYS_ADMIN, SYS_PTRACE, NET_ADMIN
        // and NET_RAW; the daemon's NET_ADMIN (12) and NET_BIND_SERVICE (10).
        const caps = /CapBnd:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!
        t.equal(BigInt(`0x${caps}`), role === 'agent' ? 0x283000n : 0x1400n, `${role}: bounding set from the manifest`)
      }
      const listening = await inNetns(n.netns, 'ss', ['-Htln'])
      for (const port of [10265, 10266])
        t.match(listening.stdout, `${n.nodeIP}:${port}`, `${n.name} listens on ${port}`)
    }
  },
)

t.test('the API server is reachable from inside every node, with the node kubeconfig, and from loopback', async (t) => {
  const nodeKc = state.auth!.nodeKubeconfig!
  for (const n of state.nodes) {
    const r = await inNetns(n.netns, 'kubectl', ['--kubeconfig', nodeKc, 'get', 'nodes', '-o', 'name'])
    t.same(r.stdout.trim().split('\n'), ['node/node1', 'node/node2'], `from ${n.name}`)
    const can = await inNetns(n.netns, 'kubectl', [
      '--kubeconfig',
      nodeKc,
      'auth',
      'can-i',
      'create',
      'nodes',
      '--subresource=proxy',
    ])
    t.equal(can.stdout.trim(), 'yes', 'its user is bound to cnidbg-tracer')
    const cannot = await inNetns(n.netns, 'kubectl', ['--kubeconfig', nodeKc, 'auth', 'can-i', 'create', 'pods'])
    t.equal(cannot.stdout.trim(), 'no', 'and no more')
  }
  const r = await runOk('kubectl', ['--kubeconfig', state.kubeconfig, 'get', 'nodes', '-o', 'name'])
  t.equal(r.stdout.trim().split('\n').length, 2)
  t.match(state.apiserver!.url, /^https:\/\/127\.0\.0\.1:/)
})

t.test("an agent refuses no token (401) and a token without nodes/proxy (403), and serves the tracer's", async (t) => {
  const [n1, n2] = state.nodes as [(typeof state.nodes)[0], (typeof state.nodes)[0]]
  const url = `https://${n2.nodeIP}:10265/v1/node`
  const code = async (token?: string) => {
    // Checked as trace checks it: the lab's cluster CA issued it, for the node's IP.
    const r = await inNetns(n1.netns, 'curl', [
      '-s',
      '--cacert',
      state.auth!.caCert!,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      ...(token ? ['-H', `Authorization: Bearer ${token}`] : []),
      url,
    ])
    return r.stdout
  }
  const tracer = /token: "?([^"\s]+)"?/.exec(readFileSync(state.auth!.nodeKubeconfig!, 'utf8'))![1]!
  const daemonToken = readFileSync(join(nodePodDir(n1, 'cnidbg-node'), 'serviceaccount', 'token'), 'utf8')
  // The fingerprint lab status gives is the certificate the agent serves on the node's IP.
  const served = await inNetns(n1.netns, 'sh', [
    '-c',
    `openssl s_client -connect ${n2.nodeIP}:10265 </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 -subject -issuer`,
  ])
  const status = (await labStatus({name})).nodes.find((n) => n.name === n2.name)!.agent
  t.match(status.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
  const [fingerprint, subject, issuer] = served.stdout.trim().split('\n')
  t.equal(fingerprint!.split('=')[1], status.fingerprint)
  t.equal(subject, `subject=CN = cnidbg-agent:${n2.name}`, "the agent's certificate, for its CSR")
  t.equal(issuer, 'issuer=CN = cnidbg-lab-ca', "issued by the lab's cluster CA")
  t.equal(await code(), '401')
  t.equal(await code(daemonToken), '403', "the daemon's ServiceAccount has no nodes/proxy")
  t.equal(await code(tracer), '200')
})

t.test('a node process that dies is started again, with a new token', async (t) => {
  const before = (await labStatus({name})).nodes[0]!.agent
  const tokenFile = join(nodePodDir(state.nodes[0]!, 'cnidbg-agent'), 'serviceaccount', 'token')
  const oldToken = readFileSync(tokenFile, 'utf8')
  process.kill(before.pid!, 'SIGKILL')
  let after = before
  t.ok(
    await eventually(async () => {
      after = (await labStatus({name})).nodes[0]!.agent
      return Boolean(after.pid && after.pid !== before.pid && after.healthy)
    }, 120_000),
    'a new agent answers',
  )
  t.not(readFileSync(tokenFile, 'utf8'), oldToken)
})

t.test(
  'a crashed supervisor leaves node processes that lab down removes; the root namespace is as before',
  async (t) => {
    const s = await labStatus({name})
    const procs = s.nodes.flatMap((n) => [n.daemon.pid!, n.agent.pid!]).map((pid) => procRef(pid))
    t.equal(procs.length, 4)
    const nsPaths = state.nodes.map((n) => netnsPath(n.netns))
    process.kill(s.supervisor.pid!, 'SIGKILL')
    t.ok(await eventually(() => !procAlive(state.supervisor), 10_000), 'supervisor dead')
    t.ok(
      procs.every((p) => procAlive(p)),
      'the node processes outlive it, as pods outlive a kubelet',
    )
    t.ok(processesInNetns(nsPaths).length >= 4)
    const down = await labDown({name})
    t.equal(down.was, 'crashed')
    t.equal(down.removed.filter((r) => r.includes('node process')).length, 4)
    t.ok(down.removed.some((r) => r.startsWith('forwarder')))
    t.notOk(
      procs.some((p) => procAlive(p)),
      'no node process left',
    )
    t.same(await rootLinks(), linksBefore, 'no link in the root namespace')
    const r = await run('ip', ['-4', 'addr', 'show'])
    t.notMatch(r.stdout, /198\.18\./, 'no underlay address in the root namespace')
  },
)
