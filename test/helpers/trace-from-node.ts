/**
 * The proof of the live node: `cnidbg trace` run on a lab node as it would run on a real cluster's
 * node. It runs inside node1's network namespace, in pid and mount namespaces of its own whose
 * /proc shows only its own processes and whose /run/netns, /run/cnidbg, /var/lib/cni and /tmp are
 * empty, so it can enter no other namespace and read no lab state; all it has is the lab's
 * `nodeKubeconfig` (a user bound to cnidbg-tracer), whose CA issued the agents' certificates
 * (CertificateSigningRequests). It must find and trust the agents through the API by itself and
 * diagnose every fault of `lab break --list`, and the demo's, with the same verdict, reason and node
 * as a trace run here, on one 3-node lab, fault by fault with a heal between.
 *
 * test/services/trace-from-node.ts runs it. One lab serves every case: they spend their time waiting on
 * probes, which the rest of the suite fills, so more labs (one per shard, as before) cost a lab's start-up
 * each and saved no time.
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import type {Test} from 'tap'

import {labBreak, labHeal, type LabBreakOptions} from '../../src/lab/break.js'
import {labDown} from '../../src/lab/down.js'
import {FAULTS, SERVICE_FAULTS} from '../../src/lab/faults/index.js'
import {nodePodDir} from '../../src/lab/node-pods.js'
import {readLabState} from '../../src/lab/state.js'
import {labStatus} from '../../src/lab/status.js'
import {type LabUpPod} from '../../src/lab/up.js'
import {inNetnsArgv} from '../../src/netns/enter.js'
import {runInNetns} from '../../src/netns/netns.js'
import {run, type RunResult} from '../../src/process/exec.js'
import {trace} from '../../src/services/trace.js'
import type {TraceResult} from '../../src/trace/types.js'
import {bundleLabLibexec, REPO, testLabName, testLabUp} from './lab.js'
import {summary, traceResultOf, verdictOf} from './trace-assert.js'

/** What the isolated process sees empty: a fresh tmpfs over each. */
const HIDDEN = ['/run/netns', '/run/cnidbg', '/var/lib/cni', '/tmp'] as const
const KUBECONFIG = '/tmp/node.kubeconfig'

// Runs after `unshare` made the pid and mount namespaces (and mounted their /proc). $1 is the
// checkout this test runs from (the program, as a node's image would hold it), staged aside on a
// private /dev/shm; then a tmpfs over each of the next $2 paths; the checkout is put back if one of
// them covered it (a clone under /tmp); then stdin into the next path (the kubeconfig, in the fresh
// /tmp), then the program, with the node's /tmp for temp files (not the TMPDIR the tests may have,
// which the private /dev/shm hides). Every value is a positional parameter; none is part of the script.
const ISOLATE_SCRIPT = `set -e
keep=$1; n=$2; shift 2
mount -t tmpfs -o mode=0700 cnidbg-proof-stage /dev/shm
mkdir /dev/shm/keep
mount --rbind "$keep" /dev/shm/keep
while [ "$n" -gt 0 ]; do mount -t tmpfs -o mode=0755 cnidbg-proof "$1"; shift; n=$((n - 1)); done
if [ ! -e "$keep/package.json" ]; then mkdir -p "$keep"; mount --rbind /dev/shm/keep "$keep"; fi
cat > "$1"; shift
unset TMPDIR
exec "$@"`

/** `argv` inside `netns`, isolated as above, with `kubeconfig` (its text) at KUBECONFIG. */
function isolated(netns: string, kubeconfig: string, argv: readonly string[]): Promise<RunResult> {
  const [cmd, ...args] = inNetnsArgv({name: netns}, [
    'unshare',
    '--pid',
    '--fork',
    '--mount-proc',
    '--mount',
    '--propagation',
    'private',
    '--',
    'sh',
    '-c',
    ISOLATE_SCRIPT,
    'cnidbg-proof',
    REPO,
    String(HIDDEN.length),
    ...HIDDEN,
    KUBECONFIG,
    ...argv,
  ])
  return run(cmd!, args, {input: kubeconfig, timeoutMs: 120_000})
}

interface Case {
  title: string
  fault: string
  target: Omit<LabBreakOptions, 'name' | 'fault'>
}

/** Every case, on one 3-node vxlan lab of its own. */
export async function traceFromNodeCases(t: Test): Promise<void> {
  const name = testLabName()
  const libexec = await bundleLabLibexec()
  t.teardown(async () => {
    await labDown({name}).catch(() => undefined)
  })
  const lab = await testLabUp({name, nodes: 3, podsPerNode: 1, mode: 'vxlan', libexec})
  const state = readLabState(name)!
  const status = await labStatus({name})
  const nodeKubeconfig = readFileSync(status.nodeKubeconfig!, 'utf8')
  const node1 = state.nodes.find((n) => n.name === 'node1')!
  const podOn = (node: string) => lab.pods.find((p) => p.node === node)!
  const a = podOn('node1')
  const b = podOn('node2')

  /**
   * Where each agent's certificate comes from, as its log shows it (`--json` prints it once it
   * listens; the last one: a restarted agent asks again): the cluster, for its CSR.
   */
  function agentCertificates(): string[] {
    return state.nodes.map((n) => {
      const log = readFileSync(join(nodePodDir(n, 'cnidbg-agent'), 'log'), 'utf8')
      return `${n.name}: ${[...log.matchAll(/"certificate"\s*:\s*"([a-z-]+)"/g)].at(-1)?.[1]}`
    })
  }

  /**
   * What each node's agent was doing, for a trace from the node that failed or could not read a node:
   * its process state and kernel wait channel (a hung agent shows here), the tail of its log, and
   * the supervisor's lines on agents that ended.
   */
  function agentsReport(): string {
    const read = (p: string) => {
      try {
        return readFileSync(p, 'utf8')
      } catch (error) {
        return `(${(error as Error).message})`
      }
    }
    return state.nodes
      .map((n) => {
        const dir = nodePodDir(n, 'cnidbg-agent')
        const pid = read(join(dir, 'pid')).trim().split(' ')[0]
        const proc = /^\d+$/.test(pid ?? '')
          ? `${read(`/proc/${pid}/status`).match(/^State:.*$/m)?.[0] ?? 'gone'}, wchan ${read(`/proc/${pid}/wchan`)}`
          : `no pid (${pid})`
        const log = read(join(dir, 'log')).trimEnd().split('\n').slice(-15).join('\n')
        return `${n.name} agent pid ${pid}: ${proc}\n${log}`
      })
      .concat(
        // How the supervisor saw them end (an exit, a signal) and start again.
        read(state.supervisor!.log)
          .split('\n')
          .filter((l) => /cnidbg-agent-/.test(l) && !/: started \(pid/.test(l))
          .slice(-10)
          .join('\n') || 'the supervisor saw no agent end',
      )
      .join('\n')
  }

  /**
   * `cnidbg trace a b` from inside node1, isolated, with only the node kubeconfig: the agents are
   * trusted through its CA, which issued their certificates; no fingerprint and no CA is given.
   */
  async function traceFromNode(more: string[] = []): Promise<TraceResult> {
    const r = await isolated(node1.netns, nodeKubeconfig, [
      // tap adds its preload to every program started under it; the node's CLI is a user's, without it.
      'env',
      '-u',
      'NODE_OPTIONS',
      process.execPath,
      join(REPO, 'bin', 'run.js'),
      'trace',
      `${a.namespace}/${a.name}`,
      `${b.namespace}/${b.name}`,
      '--kubeconfig',
      KUBECONFIG,
      // The lab's agents share this machine with the rest of the suite: a handshake may take longer
      // than a real node's. The bound only decides how long a failure takes to show.
      '--agent-timeout',
      '30',
      ...more,
      '--json',
    ])
    const result = traceResultOf(r, 'node1', agentsReport)
    // In the TAP stream (a CI log keeps it), not only on stderr.
    if (result.unreadable) t.comment(`a node was unreadable from node1:\n${agentsReport()}`)
    return result
  }

  const traceHere = () => trace({lab: name, namespace: a.namespace, podA: a.name, podB: b.name, staticOnly: false})

  /**
   * The hops that are not ok, by place, up to the fault's hop: where the path is flagged (a detour is a
   * warning, not a fault). Hops past the fault are left out: what they read can change between the two
   * traces (the first one's probes resolve a neighbour the heal before left failed).
   */
  const flagged = (r: TraceResult) =>
    r.hops
      .filter((h) => h.status !== 'ok' && h.index <= (r.fault?.hop ?? Infinity))
      .map((h) => `${h.index} ${h.direction} ${h.node} ${h.stage}: ${h.status}`)

  /** One ping from `from` to `to` answered, of up to 5: the path works (and neighbours are fresh). */
  async function pingEventually(from: LabUpPod, to: LabUpPod): Promise<boolean> {
    for (let i = 0; i < 5; i++) {
      const r = await runInNetns({path: from.netnsPath}, 'ping', ['-c', '1', '-W', '2', to.ip], {timeoutMs: 30_000})
      if (r.exitCode === 0) return true
    }
    return false
  }

  // Every catalog fault, on the path pod(node1) → pod(node2), then the demo's as the demo breaks them
  // (src/services/demo.ts SCENARIOS: node A is node1, node B node2; its policy-deny-ingress on pod B is
  // the catalog case).
  const CATALOG: Record<string, Case['target']> = {
    'pod-link-down': {pod: b.name},
    'host-veth-down': {pod: b.name},
    'pod-address-removed': {pod: b.name},
    'route-missing': {node: 'node1', peer: 'node2'},
    'route-wrong-node': {node: 'node1', peer: 'node2'},
    'fdb-missing': {node: 'node1', peer: 'node2'},
    'fdb-stale': {node: 'node1', peer: 'node2'},
    'neigh-missing': {node: 'node1', peer: 'node2'},
    'iptables-drop-forward': {node: 'node1'},
    'ip-forward-off': {node: 'node1'},
    'rp-filter-strict': {node: 'node1', peer: 'node2'},
    'underlay-mtu': {},
    'vxlan-port-blocked': {node: 'node2'},
    'policy-deny-ingress': {pod: b.name},
    'policy-deny-egress': {pod: a.name},
    'daemon-stopped': {node: 'node1'},
  }
  const CASES: Case[] = [
    ...Object.entries(CATALOG).map(([fault, target]) => ({title: fault, fault, target})),
    {title: 'demo: fdb-stale', fault: 'fdb-stale', target: {node: 'node1', peer: 'node2'}},
    {title: 'demo: iptables-drop-forward', fault: 'iptables-drop-forward', target: {node: 'node2'}},
    {title: 'demo: ip-forward-off', fault: 'ip-forward-off', target: {node: 'node2'}},
    {title: 'demo: underlay-mtu', fault: 'underlay-mtu', target: {node: 'node1'}},
  ]

  t.test('the isolated process is in node1 and sees no namespace and no lab state', async (t) => {
    const r = await isolated(node1.netns, nodeKubeconfig, [
      'sh',
      '-c',
      'ls -A "$@"; echo ---; ls /proc | grep -c "^[0-9]"; echo ---; ip -4 -o addr show',
      'cnidbg-proof',
      ...HIDDEN,
    ])
    t.equal(r.exitCode, 0, r.stderr)
    const [listing, procs, addrs] = r.stdout.split('---\n')
    t.same(
      listing!
        .trim()
        .split('\n')
        .filter((l) => l && !l.endsWith(':'))
        // A checkout under /tmp is put back for the program to run (its top directory only).
        .filter((l) => !REPO.startsWith(`/tmp/${l}`)),
      ['node.kubeconfig'],
      'nothing under the hidden paths but the kubeconfig given',
    )
    t.ok(Number(procs) <= 4, `only its own processes in /proc (${procs!.trim()})`)
    t.match(addrs, ` ${node1.nodeIP}/`, "node1's address: its network namespace")
  })

  t.test('healthy: reachable from the node, as here', async (t) => {
    t.same(
      agentCertificates(),
      state.nodes.map((n) => `${n.name}: cluster`),
      'every agent serves the certificate the cluster issued for its CSR',
    )
    const here = await traceHere()
    const start = performance.now()
    const there = await traceFromNode()
    const wall = Math.round(performance.now() - start)
    t.comment(
      `healthy: here ${here.durationMs} ms; from node1 ${there.durationMs} ms (${wall} ms with the CLI's start)`,
    )
    t.equal(here.verdict, 'reachable', 'here', {trace: summary(here)})
    t.same(verdictOf(there), verdictOf(here), 'from node1', {trace: summary(there)})
    t.same(there.unreadable, undefined, 'every node read')
    for (const n of ['node1', 'node2'])
      t.match(there.notes.join('\n'), new RegExp(`${n} is read through agent https://`), `${n} through its agent`)
    // Nothing here can be entered, so trace chose the agents by itself: --agents-only changes nothing.
    const only = await traceFromNode(['--agents-only'])
    t.same(verdictOf(only), verdictOf(here), 'with --agents-only', {trace: summary(only)})
  })

  t.test('every fault of lab break --list has a case', async (t) => {
    // This lab is vxlan: the faults of the other modes (bgp, vpc) have tests of their own labs, and the
    // faults seen through a Service theirs (test/trace/service.ts).
    t.same(
      Object.keys(CATALOG).sort(),
      FAULTS.filter((f) => f.modes.includes('vxlan') && !SERVICE_FAULTS.includes(f.id))
        .map((f) => f.id)
        .sort(),
    )
  })

  const forgetFailedNeighbours = async () => {
    for (const n of state.nodes)
      await run('ip', ['-n', n.netns, 'neigh', 'flush', 'nud', 'failed', 'nud', 'incomplete'], {timeoutMs: 30_000})
  }

  for (const c of CASES) {
    t.test(`${c.title}: the same diagnosis from the node as here`, async (t) => {
      await labBreak({name, fault: c.fault, ...c.target})
      try {
        // Each trace starts from the same kernel state: the first one's probes leave neighbour entries
        // FAILED on a broken path (a pod without its address answers no ARP), which the second would
        // read and flag, and no trace would on its own.
        await forgetFailedNeighbours()
        const here = await traceHere()
        await forgetFailedNeighbours()
        const there = await traceFromNode()
        t.comment(`${c.title}: here ${JSON.stringify(verdictOf(here))}, from node1 ${JSON.stringify(verdictOf(there))}`)
        // daemon-stopped changes no kernel state: nothing is there to see until something drifts.
        if (c.fault !== 'daemon-stopped')
          t.ok(here.verdict !== 'reachable' || flagged(here).length > 0, 'the fault is seen here', {
            trace: summary(here),
          })
        t.same(verdictOf(there), verdictOf(here), 'from node1, through the agents', {
          here: summary(here),
          there: summary(there),
        })
        t.same(flagged(there), flagged(here), 'the same hops flagged')
        t.same(there.unreadable, undefined, 'every node read')
      } finally {
        const healed = await labHeal({name, fault: c.fault})
        t.same(healed.failed, [], 'healed')
        t.ok((await pingEventually(a, b)) && (await pingEventually(b, a)), 'the pods reach each other again')
      }
    })
  }
}
