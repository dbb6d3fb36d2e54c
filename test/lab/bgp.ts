// Integration: a 3-node × 2-pod bgp lab on a routed underlay (node1 and node3 on 198.18.0.0/24,
// node2 on 198.18.1.0/24, a router namespace between them that peers with every node). One lab for
// the file: reachability across the L3 hop, `proto bird` routes, the sessions in /diag, a killed bird
// withdrawn by its peers and restarted by its daemon, each bgp fault diagnosed by trace (here, and
// from node1 through the nodes' agents only, which ask their daemons for the sessions: the same
// reason and node), and lab down leaving no bird and no namespace behind.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {livePid, speakerPaths} from '../../src/daemon/speaker.js'
import {KubeConfig} from '../../src/kube/client.js'
import {labBreak, labHeal} from '../../src/lab/break.js'
import {labDown} from '../../src/lab/down.js'
import {labDir, labNetnsPrefix, podNetns} from '../../src/lab/names.js'
import {nodeBirdDir, nodePodDir} from '../../src/lab/node-pods.js'
import {readLabState} from '../../src/lab/state.js'
import {labStatus} from '../../src/lab/status.js'
import {loadLabTopology} from '../../src/lab/topology.js'
import {type LabUpPod} from '../../src/lab/up.js'
import {ipJson, listNetns, netnsPath, runInNetns} from '../../src/netns/netns.js'
import {runOk} from '../../src/process/exec.js'
import {trace} from '../../src/services/trace.js'
import {bgpDiagReader} from '../../src/trace/bgp.js'
import type {TraceResult} from '../../src/trace/types.js'
import {bundleLabLibexec, labKernelState, pingEventually, REPO, tcpOk, testLabName, testLabUp} from '../helpers/lab.js'
import {rootLinks} from '../helpers/machine.js'
import {traceResultOf} from '../helpers/trace-assert.js'

t.setTimeout(2_400_000)

const name = testLabName()
const linksBefore = await rootLinks()
const libexec = await bundleLabLibexec()
t.teardown(async () => {
  await labDown({name}).catch(() => undefined)
})

const up = await testLabUp({name, nodes: 3, podsPerNode: 2, mode: 'bgp', topology: 'routed', libexec})
const state = readLabState(name)!
const pod = (n: string): LabUpPod => up.pods.find((p) => p.name === n)!
const ns = (p: LabUpPod): string => podNetns(name, p.node, p.namespace, p.name)
const node = (n: string) => state.nodes.find((x) => x.name === n)!

type Route = {dst: string; gateway?: string; dev?: string; protocol?: string}
const routes = (netns: string) => ipJson<Route[]>(['route', 'show'], netns)
/** The pid in a node's bird.pid; undefined while there is none (the daemon is starting a new bird). */
const birdPid = (n: string): number | undefined => {
  try {
    return Number(readFileSync(`${nodeBirdDir(node(n))}/bird.pid`, 'utf8').trim())
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}
/** Whether a node runs a bird other than `before`. */
const newBird = (n: string, before: number | undefined): boolean => {
  const pid = birdPid(n)
  return pid !== undefined && pid !== before
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Polls until `cond` holds. The deadline is far beyond what any working run needs (BGP converges in
 * seconds); only a broken one reaches it, and the assertion after the call says what was wanted.
 */
async function until(cond: () => Promise<boolean>, deadlineMs = 90_000): Promise<boolean> {
  const end = Date.now() + deadlineMs
  while (Date.now() < end) {
    if (await cond()) return true
    await sleep(300)
  }
  return cond()
}

const hasRoute = async (netns: string, dst: string) => (await routes(netns)).some((r) => r.dst === dst)

// /diag is gated (TokenReview, then nodes/proxy): the admin's token, from inside the node's namespace
// where the daemon serves, as trace reads it.
const kc = new KubeConfig()
kc.loadFromFile(state.kubeconfig)
const readBgp = bgpDiagReader(kc.getCurrentUser()?.token)

async function sessions(n: string): Promise<Array<{peerNode: string; state: string}>> {
  const view = await readBgp(loadLabTopology(name).nodes.find((x) => x.name === n)!)
  if ('error' in view) throw new Error(view.error)
  return (view.sessions ?? []).map((s) => ({peerNode: s.peerNode ?? '', state: s.state ?? ''}))
}

t.test('routed underlay: two subnets, routes learned over BGP as proto bird, the router learns all', async (t) => {
  t.equal(node('node1').nodeIP, '198.18.0.2')
  t.equal(node('node2').nodeIP, '198.18.1.3', 'node2 is on the other subnet')
  const r1 = await routes(node('node1').netns)
  t.match(
    r1.find((r) => r.dst === node('node2').podCIDR),
    {gateway: '198.18.0.254', dev: 'eth0', protocol: 'bird'},
    'node1 → node2 through the router',
  )
  t.match(
    r1.find((r) => r.dst === node('node3').podCIDR),
    {gateway: node('node3').nodeIP, protocol: 'bird'},
    'node1 → node3 directly',
  )
  const rt = await routes(state.underlayRouter!.netns)
  for (const n of state.nodes)
    t.match(
      rt.find((r) => r.dst === n.podCIDR),
      {gateway: n.nodeIP, protocol: 'bird'},
      `router: ${n.podCIDR} via ${n.nodeIP}`,
    )
  const s = await sessions('node1')
  t.same(
    s.map((x) => [x.peerNode, x.state]).sort(),
    [
      ['global peer', 'Established'],
      ['node2', 'Established'],
      ['node3', 'Established'],
    ],
    "/diag shows node1's sessions",
  )
  // node2 is on the other subnet: its daemon reached the control plane through the router, and
  // --bgp-peer-gateway found its own router address (198.18.1.254) as its global peer.
  t.same(
    (await sessions('node2')).map((x) => [x.peerNode, x.state]).sort(),
    [
      ['global peer', 'Established'],
      ['node1', 'Established'],
      ['node3', 'Established'],
    ],
    "/diag shows node2's sessions",
  )
})

t.test('every pod pings every other pod; TCP across the L3 hop', async (t) => {
  for (const a of up.pods)
    for (const b of up.pods) if (a !== b) t.ok(await pingEventually(ns(a), b.ip, 3), `${a.name} → ${b.name} ${b.ip}`)
  t.ok(await tcpOk(ns(pod('pod-a')), ns(pod('pod-c')), pod('pod-c').ip), 'pod-a (node1) → pod-c (node2, other subnet)')
})

t.test('a killed bird: its peers withdraw its CIDR, its daemon restarts it, the route comes back', async (t) => {
  const before = birdPid('node2')
  if (before === undefined) return t.fail("node2's bird wrote no pid file")
  process.kill(before, 'SIGKILL')
  // Either the withdrawal is seen, or the restart already brought the route back with a new bird.
  t.ok(
    await until(async () => !(await hasRoute(node('node1').netns, node('node2').podCIDR)) || newBird('node2', before)),
    "node1 withdraws node2's CIDR (or node2's bird is already back)",
  )
  t.ok(await until(async () => newBird('node2', before)), 'the daemon started a new bird')
  t.ok(await until(() => hasRoute(node('node1').netns, node('node2').podCIDR)), 'the route is back on node1')
  t.ok(await pingEventually(ns(pod('pod-a')), pod('pod-c').ip, 5), 'pod-a → pod-c again')
})

t.test(
  'a route reflector by label: bird is reconfigured, routes are reflected; unlabelled, the mesh is back',
  async (t) => {
    const kubectl = (...args: string[]) =>
      runOk('kubectl', ['--kubeconfig', up.kubeconfig, ...args], {timeoutMs: 60_000})
    const peersOf1 = async () =>
      (await sessions('node1'))
        .filter((s) => s.state === 'Established')
        .map((s) => s.peerNode)
        .sort()
        .join(',')
    await kubectl('label', 'node', 'node3', 'cnidbg.dev/route-reflector=true')
    t.ok(
      await until(async () => (await peersOf1()) === 'global peer,node3'),
      'node1 peers with the reflector (and the router) only',
    )
    t.ok(
      await until(() => hasRoute(node('node1').netns, node('node2').podCIDR)),
      "node2's CIDR reaches node1 through node3",
    )
    t.ok(await pingEventually(ns(pod('pod-a')), pod('pod-c').ip, 5), 'pod-a → pod-c with a reflector')
    await kubectl('label', 'node', 'node3', 'cnidbg.dev/route-reflector-')
    t.ok(await until(async () => (await peersOf1()) === 'global peer,node2,node3'), 'the full mesh is back')
  },
)

/**
 * `cnidbg trace --agents-only` run inside node1's namespace, as on a node of a real cluster: the
 * node kubeconfig (the API at the control plane's underlay address), every node read through its
 * agent, pinned by the fingerprint its log printed. The BGP sessions come from the agents too.
 */
async function traceThroughAgents(a: string, b: string): Promise<TraceResult> {
  const nodeKubeconfig = (await labStatus({name})).nodeKubeconfig!
  const pins = state.nodes.flatMap((n) => {
    const log = readFileSync(join(nodePodDir(n, 'cnidbg-agent'), 'log'), 'utf8')
    const fp = [...log.matchAll(/"fingerprint"\s*:\s*"([0-9A-F:]+)"/g)].at(-1)?.[1]
    return fp ? ['--agent-fingerprint', `${n.name}=${fp}`] : []
  })
  const argv = [join(REPO, 'bin', 'run.js'), 'trace', a, b, '--kubeconfig', nodeKubeconfig, '--agents-only']
  // The agents share this machine with the rest of the suite: the bound only decides how long a
  // failure takes to show. Static only: the reason is decided before the probes.
  argv.push(...pins, '--agent-timeout', '30', '--static-only', '--json')
  const r = await runInNetns(netnsPath(node('node1').netns), process.execPath, argv, {
    // tap adds its preload to every program started under it; the node's CLI is a user's, without it.
    env: {PATH: process.env.PATH ?? '/usr/bin:/bin'},
    extendEnv: false,
    timeoutMs: 120_000,
  })
  return traceResultOf(r, 'node1')
}

const faults = [
  {fault: 'bgp-speaker-stopped', reason: 'bgp-peer-down', agents: true},
  {fault: 'bgp-session-blocked', reason: 'bgp-peer-down', agents: false},
  {fault: 'bgp-route-withdrawn', reason: 'route-not-advertised', agents: true},
] as const

for (const f of faults) {
  t.test(`${f.fault} on node2: trace from node1 says ${f.reason}`, async (t) => {
    // Routes come and go with the sessions: of node2's kernel state, its firewall must be as it was.
    const firewall = async () =>
      (await labKernelState([node('node2').netns])).get(node('node2').netns)!.filter((l) => /^(ipt|nft)/.test(l))
    const before = await firewall()
    await labBreak({name, fault: f.fault, node: 'node2'})
    t.ok(await until(async () => !(await hasRoute(node('node1').netns, node('node2').podCIDR))), 'node1 lost the route')
    // One of them with the live probes too: the static reason must survive them.
    const staticOnly = f.fault !== 'bgp-route-withdrawn'
    const r = await trace({podA: 'pod-a', podB: 'pod-c', namespace: 'default', lab: name, staticOnly})
    t.equal(r.verdict, 'unreachable')
    t.equal(r.fault?.reason, f.reason, r.fault?.evidence.join('; ') ?? 'no fault')
    t.equal(r.fault?.node, 'node1', 'where the route is missing')
    t.match(r.hops.find((h) => h.index === r.fault?.hop)?.detail, /node2/, 'the detail names the owner')
    t.ok(r.fault?.hint, 'a fix hint')
    if (!staticOnly)
      t.ok(
        r.probes.some((p) => !p.ok),
        'the probes failed too',
      )
    if (f.agents) {
      const ra = await traceThroughAgents('default/pod-a', 'default/pod-c')
      t.same(
        {verdict: ra.verdict, reason: ra.fault?.reason, node: ra.fault?.node, direction: ra.fault?.direction},
        {verdict: r.verdict, reason: r.fault?.reason, node: r.fault?.node, direction: r.fault?.direction},
        `through the agents only: the same verdict, reason and node (${ra.fault?.evidence.join('; ') ?? ra.notes.join('; ')})`,
      )
      t.match(ra.hops.find((h) => h.index === ra.fault?.hop)?.detail, /node2/, 'the detail names the owner')
      t.ok(
        ra.fault?.evidence.some((e) => /^node1: peer_/.test(e)),
        "the evidence is node1's session, read through its agent",
      )
    }
    await labHeal({name})
    t.same(await firewall(), before, "healed: node2's firewall is as before")
    t.ok(await until(() => hasRoute(node('node1').netns, node('node2').podCIDR)), 'healed: the route is back')
    t.ok(await pingEventually(ns(pod('pod-a')), pod('pod-c').ip, 5), 'healed: pod-a → pod-c')
  })
}

t.test('lab down removes every namespace and every bird; the root namespace is unchanged', async (t) => {
  // One bird per node and the router's, each found live in its namespace first: a pid file not found
  // would otherwise leave nothing to check.
  const birds = [
    ...state.nodes.map((n) => ({who: n.name, pidFile: join(nodeBirdDir(n), 'bird.pid'), netns: n.netns})),
    {
      who: 'router',
      pidFile: speakerPaths(join(labDir(name), 'router', 'bird')).pidFile,
      netns: state.underlayRouter!.netns,
    },
  ]
  const live = () => birds.map((b) => livePid(b.pidFile, netnsPath(b.netns)))
  t.ok(await until(async () => live().every((p) => p !== undefined)), 'every node and the router run a bird')
  const pids = live()
  t.equal(pids.filter((p) => p !== undefined).length, state.nodes.length + 1, birds.map((b) => b.who).join(', '))
  await labDown({name})
  t.same(
    listNetns().filter((n) => n.startsWith(labNetnsPrefix(name))),
    [],
  )
  const alive = (pid: number) => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
    } catch {
      return false
    }
  }
  t.ok(await until(async () => !pids.some((p) => p !== undefined && alive(p)), 30_000), 'no bird left')
  t.same(await rootLinks(), linksBefore)
})
