// Integration: a 3-node × 2-pod VXLAN lab, end to end. One lab for the whole file: reachability
// between every pair of pods, TCP, kubectl against the lab's API server, status, lab.json, lab exec,
// pod add/rm, the daemon repairing hand-made damage, every VXLAN fault breaking traffic and healing,
// and finally a crashed lab (supervisor killed) reaped by lab down with the machine left as it was.
// The fault cases, which mostly wait for pings that must fail, are shared with a second lab of the
// same shape, built while the first one's other tests run: the two labs take turns side by side.
import {readFileSync, statSync} from 'node:fs'
import t, {type Test} from 'tap'

import {labBreak, labHeal} from '../../src/lab/break.js'
import {controlRequest} from '../../src/lab/control.js'
import {labDown} from '../../src/lab/down.js'
import {labExec} from '../../src/lab/exec.js'
import {labNetnsPrefix, podNetns} from '../../src/lab/names.js'
import {podAdd, podRm} from '../../src/lab/pods.js'
import {nodePluginServer, nodePluginServerLog} from '../../src/lab/plugin-server.js'
import {procAlive, readLabState} from '../../src/lab/state.js'
import type {SupervisorStatus} from '../../src/lab/supervisor.js'
import {labStatus} from '../../src/lab/status.js'
import {loadLabTopology} from '../../src/lab/topology.js'
import {type LabUpPod, type LabUpResult} from '../../src/lab/up.js'
import {run, runOk} from '../../src/process/exec.js'
import {ipJson, listNetns} from '../../src/netns/netns.js'
import {
  bundleLabLibexec,
  inNetns,
  kernelStateDiff,
  labKernelState,
  pingEventually,
  pingFails,
  tcpOk,
  testLabName,
  testLabUp,
} from '../helpers/lab.js'
import {eventually, rootLinks} from '../helpers/machine.js'
import {cnidbgError} from '../helpers/errors.js'
import {apiCaller} from '../helpers/apiserver.js'

t.setTimeout(3_600_000)

const name = testLabName()
const linksBefore = await rootLinks()
const libexec = await bundleLabLibexec()
t.teardown(async () => {
  await labDown({name}).catch(() => undefined)
})

const shape = {nodes: 3, podsPerNode: 2, mode: 'vxlan', libexec} as const
const up = await testLabUp({name, ...shape})

/** A running lab as the tests use it: its pods and the names of their and its nodes' namespaces. */
function labView(labName: string, r: LabUpResult) {
  const st = readLabState(labName)!
  return {
    name: labName,
    state: st,
    pod: (n: string): LabUpPod => r.pods.find((p) => p.name === n)!,
    ns: (p: LabUpPod): string => podNetns(labName, p.node, p.namespace, p.name),
    nodeNs: (node: string): string => st.nodes.find((n) => n.name === node)!.netns,
  }
}
type LabView = ReturnType<typeof labView>
const first = labView(name, up)
const {state, pod, ns, nodeNs} = first

// The second lab for the fault cases (its name is not under the first one's namespace prefix). A
// failure to build it is reported by the fault test.
const name2 = `${name}b`
const second = testLabUp({name: name2, ...shape}).then(
  (r) => ({view: labView(name2, r)}),
  (error: unknown) => ({error}),
)
t.teardown(async () => {
  await second
  await labDown({name: name2}).catch(() => undefined)
})

t.test('lab up: 3 nodes, 6 pods, each with an IP from its node’s pod CIDR and a namespace', async (t) => {
  t.same(
    up.nodes.map((n) => [n.name, n.nodeIP, n.podCIDR]),
    [
      ['node1', '198.18.0.2', '10.244.1.0/24'],
      ['node2', '198.18.0.3', '10.244.2.0/24'],
      ['node3', '198.18.0.4', '10.244.3.0/24'],
    ],
  )
  t.equal(up.pods.length, 6)
  for (const p of up.pods) {
    const index = Number(p.node.slice(4))
    t.match(p.ip, new RegExp(`^10\\.244\\.${index}\\.\\d+$`), `${p.name} on ${p.node} has ${p.ip}`)
    t.ok(listNetns().includes(ns(p)), `${ns(p)} exists`)
    // The address is really on the pod's eth0, not only in the API server.
    const [eth0] = await ipJson<Array<{addr_info: Array<{family: string; local: string}>}>>(
      ['addr', 'show', 'dev', 'eth0'],
      ns(p),
    )
    t.ok(
      eth0!.addr_info.some((a) => a.family === 'inet' && a.local === p.ip),
      `${p.ip} on eth0 in ${ns(p)}`,
    )
  }
  // Each node: eth0 on the underlay, forwarding on, the VTEP up.
  for (const n of state.nodes) {
    const [eth0] = await ipJson<Array<{addr_info: Array<{local: string}>}>>(['addr', 'show', 'dev', 'eth0'], n.netns)
    t.ok(
      eth0!.addr_info.some((a) => a.local === n.nodeIP),
      `${n.name} eth0 has ${n.nodeIP}`,
    )
    const [vtep] = await ipJson<Array<{ifname: string; flags: string[]}>>(['link', 'show', 'dev', 'cnidbg.1'], n.netns)
    t.ok(vtep?.flags.includes('UP'), `${n.name} has cnidbg.1 up`)
  }
})

t.test('every pod pings every other pod, on the same node and across nodes', async (t) => {
  for (const a of up.pods) {
    for (const b of up.pods) {
      if (a === b) continue
      t.ok(await pingEventually(ns(a), b.ip, 3), `${a.name} (${a.node}) → ${b.name} (${b.node}) ${b.ip}`)
    }
  }
})

t.test('TCP works between pods across nodes and on one node', async (t) => {
  t.ok(await tcpOk(ns(pod('pod-a')), ns(pod('pod-e')), pod('pod-e').ip), 'pod-a (node1) → pod-e (node3)')
  t.ok(await tcpOk(ns(pod('pod-d')), ns(pod('pod-a')), pod('pod-a').ip), 'pod-d (node2) → pod-a (node1)')
  t.ok(await tcpOk(ns(pod('pod-a')), ns(pod('pod-b')), pod('pod-b').ip), 'pod-a → pod-b (both node1)')
})

t.test("kubectl lists the lab's nodes and pods with their IPs", async (t) => {
  const nodes = JSON.parse(
    (await runOk('kubectl', ['--kubeconfig', up.kubeconfig, 'get', 'nodes', '-o', 'json'], {timeoutMs: 60_000})).stdout,
  )
  t.same(nodes.items.map((n: any) => n.metadata.name).sort(), ['node1', 'node2', 'node3'])
  t.same(nodes.items.map((n: any) => n.spec.podCIDR).sort(), ['10.244.1.0/24', '10.244.2.0/24', '10.244.3.0/24'])
  const pods = JSON.parse(
    (await runOk('kubectl', ['--kubeconfig', up.kubeconfig, 'get', 'pods', '-o', 'json'], {timeoutMs: 60_000})).stdout,
  )
  for (const p of up.pods) {
    const k = pods.items.find((x: any) => x.metadata.name === p.name)
    t.match(k, {spec: {nodeName: p.node}, status: {phase: 'Running', podIP: p.ip}}, `${p.name} in kubectl`)
  }
  const wide = (
    await runOk('kubectl', ['--kubeconfig', up.kubeconfig, 'get', 'pods', '-o', 'wide'], {timeoutMs: 60_000})
  ).stdout
  for (const p of up.pods)
    t.match(
      wide,
      new RegExp(`${p.name}\\s+1/1\\s+Running.*${p.ip.replaceAll('.', '\\.')}\\s+${p.node}`),
      `${p.name} row in -o wide`,
    )
})

/** One request to the lab's API server as anyone on this machine could send it, trusting its CA. */
const apiRequest = (method: string, path: string, body?: unknown, token?: string) =>
  apiCaller(state.apiserver!.url!, token, {ca: readFileSync(state.auth!.caCert ?? state.auth!.tlsCert)})(
    method,
    path,
    body,
  )

t.test('the API server wants a credential, and each component has its own', async (t) => {
  t.match(state.apiserver!.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'HTTPS: kubectl sends no token over plain HTTP')
  // What any local user could try: make node1's root kubelet run CNI ADD for a pod of theirs.
  const intruder = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {name: 'intruder'},
    spec: {nodeName: 'node1', containers: [{name: 'x', image: 'x'}]},
  }
  const anon = await apiRequest('POST', '/api/v1/namespaces/default/pods', intruder)
  t.match(anon, {status: 401, body: {kind: 'Status', reason: 'Unauthorized', code: 401}})
  t.match(await apiRequest('DELETE', '/api/v1/namespaces/default/pods/pod-a'), {status: 401})
  t.match(await apiRequest('POST', '/api/v1/namespaces/default/pods', intruder, 'not-a-token'), {status: 401})
  t.match(await apiRequest('GET', '/healthz'), {status: 200, body: 'ok'})
  const auth = state.auth!
  const admin = (await runOk('kubectl', ['--kubeconfig', up.kubeconfig, 'get', 'pods', '-o', 'json'])).stdout
  t.notOk(
    JSON.parse(admin).items.some((p: any) => p.metadata.name === 'intruder'),
    'no such pod: no kubelet runs ADD for it',
  )
  t.notOk(
    listNetns().some((n) => n.includes('intruder')),
    'no namespace for it',
  )

  // node1's kubelet credential, used the way an attacker holding it would.
  const kubelet1 = `${auth.dir}/node1-kubelet.kubeconfig`
  const onNode2 = up.pods.find((p) => p.node === 'node2')!
  const denied = await run('kubectl', ['--kubeconfig', kubelet1, 'delete', 'pod', onNode2.name, '--wait=false'], {
    timeoutMs: 60_000,
  })
  t.not(denied.exitCode, 0)
  t.match(denied.stderr, /forbidden: User "system:node:node1" cannot delete resource "pods"/)
  t.equal((await runOk('kubectl', ['--kubeconfig', kubelet1, 'get', 'pods'])).exitCode, 0, 'it can read')
  const daemon1 = `${auth.dir}/node1-daemon.kubeconfig`
  const labelled = await run('kubectl', ['--kubeconfig', daemon1, 'label', 'node', 'node1', 'x=y'], {timeoutMs: 60_000})
  t.not(labelled.exitCode, 0, "node1's daemon may not label its node")
  t.match(labelled.stderr, /system:cnidbg:daemon:node1/)

  // Root-only files; no token on a command line or in a log.
  t.equal(statSync(auth.dir).mode & 0o777, 0o700)
  const files = [auth.tokenFile, auth.tlsKey, up.kubeconfig, kubelet1, daemon1, auth.supervisorKubeconfig]
  for (const f of files) t.equal(statSync(f).mode & 0o777, 0o600, `${f} is 0600`)
  const tokens = readFileSync(auth.tokenFile, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(',')[0]!)
  t.equal(
    tokens.length,
    3 + 2 * state.nodes.length,
    'admin, supervisor, the node tracer, and a kubelet and a daemon per node',
  )
  const exposed = [
    readFileSync(`/proc/${state.apiserver!.pid}/cmdline`, 'utf8'),
    readFileSync(`/proc/${state.supervisor!.pid}/cmdline`, 'utf8'),
    readFileSync(`/proc/${state.supervisor!.pid}/environ`, 'utf8'),
    readFileSync(state.apiserver!.log, 'utf8'),
    readFileSync(state.supervisor!.log, 'utf8'),
  ].join('\n')
  for (const tok of tokens) t.notOk(exposed.includes(tok), 'a token is on no command line, environment or log')
})

t.test('lab status and lab.json describe the running lab', async (t) => {
  const s = await labStatus({name})
  t.equal(s.health, 'running')
  t.same(s.problems, [])
  t.ok(s.apiserver.reachable && s.supervisor.reachable)
  t.same(
    s.nodes.map((n) => [n.name, n.daemon.healthy, n.kubelet.synced, n.netnsExists, Boolean(n.daemon.url)]),
    ['node1', 'node2', 'node3'].map((n) => [n, true, true, true, true]),
  )
  t.same(
    s.pods.map((p) => [p.name, p.ip, p.node, p.netnsExists]).sort(),
    up.pods.map((p) => [p.name, p.ip, p.node, true]).sort(),
  )
  const topo = loadLabTopology(name)
  t.equal(topo.mode, 'vxlan')
  t.equal(topo.nodes.length, 3)
  for (const n of topo.nodes) {
    t.match(n.vtepMAC, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/, `${n.name} VTEP MAC published`)
    // The MAC in lab.json is the one the kernel has.
    const [vtep] = await ipJson<Array<{address: string}>>(['link', 'show', 'dev', 'cnidbg.1'], n.netns!.name!)
    t.equal(n.vtepMAC, vtep!.address)
    // The daemon serves on its node's IP, inside the lab's namespaces only; to a probe, only whether it is ok.
    const health = await inNetns(n.netns!.name!, 'curl', ['-sf', `${n.diagUrl}/healthz`])
    t.equal(health.exitCode, 0, `${n.name} /healthz at ${n.diagUrl}, from the node`)
    t.same(JSON.parse(health.stdout), {ok: true}, `${n.name} /healthz tells an anonymous caller nothing of the node`)
  }
  // The supervisor, whose token the daemons' gates let in, reads their whole reports.
  const sup = await controlRequest<SupervisorStatus>(readLabState(name)!.supervisor!.socket, 'GET', '/status')
  for (const n of sup.nodes) {
    t.ok(n.daemon.reconciles > 0, `${n.name}: the supervisor sees the daemon's reconciles (${n.daemon.reconciles})`)
    t.ok(n.daemon.lastSuccessAt, `${n.name}: and its last success`)
  }
  t.same(
    topo.endpoints.map((e) => [e.name, e.ip, e.node, e.netnsPath]).sort(),
    up.pods.map((p) => [p.name, p.ip, p.node, p.netnsPath]).sort(),
  )
})

t.test('lab exec runs in the pod namespace and returns the exit code', async (t) => {
  const ok = await labExec({name, pod: 'pod-a', command: ['sh', '-c', `ping -c 1 -W 3 ${pod('pod-c').ip} > /dev/null`]})
  t.equal(ok.exitCode, 0)
  t.equal(ok.netns, ns(pod('pod-a')))
  const failed = await labExec({name, pod: 'pod-a', command: ['sh', '-c', 'exit 7']})
  t.equal(failed.exitCode, 7)
  await t.rejects(labExec({name, pod: 'no-such-pod', command: ['true']}), cnidbgError('NO_SUCH_POD'))
})

t.test('lab pod add and rm go through the API server and the kubelet', async (t) => {
  // Each node runs the plugin's server, and the node's ADD and DEL are done there (docs/reference-plugin.md).
  const servers = state.nodes.map((n) => nodePluginServer(n))
  t.ok(
    servers.every((s) => s !== undefined),
    'a plugin server runs on every node',
  )
  const web = await podAdd({name, pod: 'web', node: 'node2', timeoutSeconds: 300})
  // The server logs each request it served, with the container ID (the pod's UID in the lab); the
  // line follows its reply, so it is polled for.
  const uid = (
    await runOk('kubectl', ['--kubeconfig', up.kubeconfig, 'get', 'pod', 'web', '-o', 'jsonpath={.metadata.uid}'], {
      timeoutMs: 60_000,
    })
  ).stdout.trim()
  t.match(uid, /^[0-9a-f-]{36}$/, 'the pod has a UID')
  const serverLog = (n: number) => readFileSync(nodePluginServerLog(state.nodes[n]!), 'utf8')
  const served = new RegExp(`ADD ${uid}/eth0: exit 0 `)
  t.ok(await eventually(() => served.test(serverLog(1)), 30_000), "node2's plugin server did the ADD (its log says so)")
  t.notMatch(serverLog(0) + serverLog(2), uid, 'and no other node served it')
  t.equal(web.node, 'node2')
  t.match(web.ip, /^10\.244\.2\.\d+$/)
  t.ok(listNetns().includes(web.netns))
  t.ok(await pingEventually(ns(pod('pod-a')), web.ip), 'reachable from node1')
  t.ok(
    loadLabTopology(name).endpoints.some((e) => e.name === 'web' && e.ip === web.ip),
    'in lab.json',
  )
  await t.rejects(podAdd({name, pod: 'web'}), cnidbgError('POD_EXISTS'))
  const rm = await podRm({name, pod: 'web', timeoutSeconds: 300})
  t.ok(rm.removed)
  t.ok(
    await eventually(() => new RegExp(`DEL ${uid}/eth0: exit 0 `).test(serverLog(1)), 30_000),
    "node2's plugin server did the DEL",
  )
  t.notOk(listNetns().includes(web.netns), 'namespace removed by the kubelet')
  // CNI DEL released the address: the IPAM store of node2 no longer has it.
  const store = `${state.nodes[1]!.varLibCni}/networks/cnidbg`
  const files = (await runOk('ls', ['-1', store])).stdout.split('\n')
  t.notOk(files.includes(web.ip), `${web.ip} released from ${store}`)
  t.notOk(
    loadLabTopology(name).endpoints.some((e) => e.name === 'web'),
    'gone from lab.json',
  )
})

t.test('the daemon repairs a route, FDB entry and neighbour deleted by hand', async (t) => {
  const n1 = nodeNs('node1')
  const node2 = state.nodes[1]!
  const [fdb] = JSON.parse((await runOk('bridge', ['-n', n1, '-j', 'fdb', 'show', 'dev', 'cnidbg.1'])).stdout).filter(
    (e: any) => e.dst === node2.nodeIP,
  )
  t.ok(fdb, 'node1 has an FDB entry for node2')
  await runOk('ip', ['-n', n1, 'route', 'del', node2.podCIDR])
  await runOk('bridge', ['-n', n1, 'fdb', 'del', fdb.mac, 'dev', 'cnidbg.1', 'dst', node2.nodeIP, 'self'])
  await runOk('ip', ['-n', n1, 'neigh', 'del', '10.244.2.0', 'dev', 'cnidbg.1'])
  const repaired = await eventually(async () => {
    const routes = await ipJson<Array<{dst: string}>>(['route', 'show'], n1)
    const fdbs = JSON.parse(
      (await runOk('bridge', ['-n', n1, '-j', 'fdb', 'show', 'dev', 'cnidbg.1'])).stdout,
    ) as Array<{mac: string; dst?: string}>
    const neighs = await ipJson<Array<{dst: string; lladdr?: string}>>(['neigh', 'show', 'dev', 'cnidbg.1'], n1)
    return (
      routes.some((r) => r.dst === node2.podCIDR) &&
      fdbs.some((f) => f.mac === fdb.mac && f.dst === node2.nodeIP) &&
      neighs.some((x) => x.dst === '10.244.2.0' && x.lladdr === fdb.mac)
    )
  }, 60_000)
  t.ok(repaired, 'route, FDB entry and neighbour are back')
  t.ok(await pingEventually(ns(pod('pod-a')), pod('pod-c').ip), 'and traffic flows again')
})

// What each fault must do to traffic between pod-a (node1) and pod-c (node2); heal must undo it.
t.test('every VXLAN fault breaks what it says, shows in status, and heals', async (t) => {
  const other = await second
  if ('error' in other) throw other.error
  const labs = [first, other.view]
  // Each lab takes the next case in the list once it is done with its last one.
  const next = faultCases(first).map((_, k) => k)
  await t.test('on two labs side by side', async (t) => {
    t.jobs = labs.length
    for (const l of labs) {
      t.test(`${l === first ? 'the first' : 'the second'} lab, one fault after another`, async (t) => {
        for (let k = next.shift(); k !== undefined; k = next.shift()) {
          const c = faultCases(l)[k]!
          await t.test(c.fault, (t) => breakAndHeal(t, l, c))
        }
      })
    }
  })
  await t.rejects(labBreak({name, fault: 'no-such-fault'}), cnidbgError('UNKNOWN_FAULT'))
  const twice = await labBreak({name, fault: 'ip-forward-off', node: 'node3'})
  await t.rejects(labBreak({name, fault: 'ip-forward-off', node: 'node3'}), cnidbgError('FAULT_ACTIVE'))
  t.same(
    (await labHeal({name, id: twice.id})).healed.map((h) => h.id),
    [twice.id],
  )
  // The second lab goes as it came, whole.
  const down = await labDown({name: name2})
  t.equal(down.was, 'running')
  t.same(
    listNetns().filter((n) => n.startsWith(labNetnsPrefix(name2))),
    [],
    "the second lab's namespaces are gone",
  )
})

t.test('a crashed lab (supervisor killed) is reaped by the next lab down; the machine is as before', async (t) => {
  const s = readLabState(name)!
  const servers = s.nodes.map((n) => nodePluginServer(n))
  t.equal(servers.filter(Boolean).length, s.nodes.length, 'a plugin server per node before the crash')
  process.kill(s.supervisor!.pid, 'SIGKILL')
  t.ok(await eventually(() => !procAlive(s.supervisor), 10_000), 'supervisor dead')
  t.equal((await labStatus({name})).health, 'crashed')
  const down = await labDown({name})
  t.equal(down.was, 'crashed')
  t.ok(
    down.removed.some((r) => r.startsWith('API server')),
    'the API server was stopped',
  )
  t.notOk(procAlive(s.apiserver), 'API server dead')
  t.ok(
    down.removed.some((r) => r.includes('plugin server')),
    "the crashed supervisor's plugin servers were stopped",
  )
  t.notOk(
    servers.some((ref) => procAlive(ref)),
    'no plugin server left running',
  )
  t.same(
    listNetns().filter((n) => n.startsWith(labNetnsPrefix(name))),
    [],
    'no lab namespace left',
  )
  t.throws(() => readFileSync(`${s.dir}/state.json`), 'state dir removed')
  t.same(await rootLinks(), linksBefore, 'root namespace links exactly as before')
  const again = await labDown({name})
  t.notOk(again.found, 'a second lab down finds nothing')
  const r = await run('ip', ['netns', 'list'])
  t.notMatch(r.stdout, labNetnsPrefix(name))
})

interface FaultCase {
  fault: string
  opts?: Record<string, string>
  check: (t: Test) => Promise<unknown>
}

/** The faults, on one lab: what each must do to traffic between pod-a (node1) and pod-c (node2). */
function faultCases(l: LabView): FaultCase[] {
  const a = l.ns(l.pod('pod-a'))
  const c = l.ns(l.pod('pod-c'))
  const aIp = l.pod('pod-a').ip
  const cIp = l.pod('pod-c').ip
  const eIp = l.pod('pod-e').ip
  return [
    {
      fault: 'pod-link-down',
      opts: {pod: 'pod-a'},
      check: async (t) => t.ok(await pingFails(c, aIp), 'pod-c → pod-a fails'),
    },
    {
      fault: 'host-veth-down',
      opts: {pod: 'pod-a'},
      check: async (t) => t.ok(await pingFails(c, aIp), 'pod-c → pod-a fails'),
    },
    {
      fault: 'pod-address-removed',
      opts: {pod: 'pod-a'},
      check: async (t) => t.ok(await pingFails(c, aIp), 'pod-c → pod-a fails'),
    },
    {
      fault: 'route-missing',
      opts: {node: 'node1', peer: 'node2'},
      check: async (t) => t.ok(await pingFails(a, cIp), 'pod-a → pod-c fails'),
    },
    {
      fault: 'route-wrong-node',
      opts: {node: 'node1', peer: 'node2'},
      check: async (t) => {
        // With a third node the route goes via node3's VTEP; node3 forwards on, so this is a detour.
        const routes = await ipJson<Array<{dst: string; gateway?: string}>>(['route', 'show'], l.nodeNs('node1'))
        t.equal(
          routes.find((r) => r.dst === '10.244.2.0/24')?.gateway,
          '10.244.3.0',
          'node1 routes node2’s pods via node3',
        )
      },
    },
    {
      fault: 'fdb-missing',
      opts: {node: 'node1', peer: 'node2'},
      check: async (t) => t.ok(await pingFails(a, cIp), 'pod-a → pod-c fails'),
    },
    {
      fault: 'fdb-stale',
      opts: {node: 'node1', peer: 'node2'},
      check: async (t) => t.ok(await pingFails(a, cIp), 'pod-a → pod-c fails'),
    },
    {
      fault: 'neigh-missing',
      opts: {node: 'node1', peer: 'node2'},
      check: async (t) => t.ok(await pingFails(a, cIp), 'pod-a → pod-c fails'),
    },
    {
      fault: 'iptables-drop-forward',
      opts: {node: 'node1'},
      check: async (t) => t.ok(await pingFails(a, cIp), 'pod-a → pod-c fails'),
    },
    {
      fault: 'ip-forward-off',
      opts: {node: 'node1'},
      check: async (t) => t.ok(await pingFails(a, cIp), 'pod-a → pod-c fails'),
    },
    {
      fault: 'rp-filter-strict',
      opts: {node: 'node1', peer: 'node2'},
      check: async (t) => {
        t.ok(await pingFails(a, cIp), 'pod-a → pod-c fails (reply dropped by strict rp_filter)')
        t.ok(await pingFails(c, aIp), 'pod-c → pod-a fails (request dropped)')
        t.ok(await pingEventually(a, eIp), 'pod-a → pod-e on node3 still works (symmetric path)')
      },
    },
    {
      fault: 'underlay-mtu',
      check: async (t) => {
        t.ok(await pingEventually(a, cIp), 'small packets still pass')
        t.ok(await pingFails(a, cIp, ['-M', 'do', '-s', '1400']), 'a full-size (1428 B) packet does not')
      },
    },
    {
      fault: 'vxlan-port-blocked',
      opts: {node: 'node2'},
      check: async (t) => t.ok(await pingFails(a, cIp), 'pod-a → pod-c fails'),
    },
    {
      fault: 'daemon-stopped',
      opts: {node: 'node1'},
      check: async (t) => {
        t.ok(await pingEventually(a, cIp), 'traffic still flows')
        // What the fault promises is that nothing repairs drift now: the only process that would,
        // node1's daemon, is not running (waiting to see nothing happen would prove no more).
        const s = await labStatus({name: l.name})
        t.notOk(s.nodes.find((n) => n.name === 'node1')!.daemon.running, 'node1 daemon not running')
      },
    },
  ]
}

/**
 * Breaks `k` on lab `l`, sees it in the status and in traffic, heals it and sees traffic flow again.
 * Right after the heal, with the daemons of node1 and node2 still stopped (a daemon-stopped fault each
 * holds them, so none repairs what the heal missed), the kernel state of the namespaces the faults
 * touch must be what it was before the break.
 */
async function breakAndHeal(t: Test, l: LabView, k: FaultCase): Promise<void> {
  const a = l.ns(l.pod('pod-a'))
  const c = l.ns(l.pod('pod-c'))
  const aIp = l.pod('pod-a').ip
  const cIp = l.pod('pod-c').ip
  const spaces = [l.nodeNs('node1'), l.nodeNs('node2'), a, l.state.underlay.netns]
  const before = await labKernelState(spaces)
  const applied = await labBreak({name: l.name, fault: k.fault, ...k.opts})
  t.equal(applied.fault, k.fault)
  const s = await labStatus({name: l.name})
  t.ok(
    s.faults.some((f) => f.id === applied.id),
    'status lists it',
  )
  if (applied.daemonStopped)
    t.notOk(s.nodes.find((n) => n.name === applied.node)!.daemon.running, `${applied.node} daemon stopped`)
  await k.check(t)
  for (const node of ['node1', 'node2'])
    if (!(k.fault === 'daemon-stopped' && applied.node === node))
      await labBreak({name: l.name, fault: 'daemon-stopped', node})
  const healed = await labHeal({name: l.name, id: applied.id})
  t.same(
    healed.healed.map((h) => h.id),
    [applied.id],
  )
  t.same(healed.failed, [])
  t.same(kernelStateDiff(before, await labKernelState(spaces)), {}, 'the kernel state is as before the break')
  const released = await labHeal({name: l.name, fault: 'daemon-stopped'})
  if (applied.daemonStopped)
    t.ok(
      [...healed.daemonsStarted, ...released.daemonsStarted].includes(applied.node!),
      `${applied.node} daemon started`,
    )
  t.same(readLabState(l.name)!.faults, [], 'no fault left in the state')
  t.ok(await pingEventually(a, cIp, 10), 'pod-a → pod-c works again')
  t.ok(await pingEventually(c, aIp, 10), 'pod-c → pod-a works again')
  t.ok(await pingEventually(a, cIp, 10, ['-M', 'do', '-s', '1400']), 'full-size packets pass again')
}
