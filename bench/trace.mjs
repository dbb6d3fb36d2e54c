// Trace timing (run as root after `npm run build`):
//   node bench/trace.mjs [--runs N] [--mode vxlan|host-gw] [--agents] [--show]
//
// Builds a 3-node flannel-like cluster in namespaces (one pod per node, plus a second pod on node 0),
// then times `traceBetween` pod-0a → pod-1a (cross-node) and pod-0a → pod-0b (same node): full traces
// (static + live probes) and static-only, N runs each, and one trace of a broken path (a FORWARD
// DROP on node 1: the failure path also re-sends a probe under observation). Prints a table and the
// machine's load average, which dominates the numbers on a shared box. --show prints the broken
// trace as text and Mermaid. --agents adds the same traces through node agents only (one HTTPS agent
// per node, in this process, as `cnidbg trace --agents-only` reads them), with ICMP and TCP (the
// command's default) and with all three protocols. Everything is removed at the end.
import {randomBytes} from 'node:crypto'
import {loadavg} from 'node:os'
import {performance} from 'node:perf_hooks'

import {
  createNetns,
  deleteNetns,
  installSignalCleanup,
  ipBatch,
  ipJson,
  onCleanup,
  runInNetns,
  runOk,
} from '../dist/netns/index.js'
import {traceBetween} from '../dist/trace/index.js'
import {renderMermaid, renderText} from '../dist/ui/trace/index.js'
import {AgentClient, AgentNode, AgentOps, Gate} from '../dist/agent/index.js'
import {startAgentServer} from '../dist/agent/server.js'
import {selfSignedCert} from '../dist/agent/tls.js'

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : dflt
}
const runs = Number(arg('--runs', '5'))
const mode = arg('--mode', 'vxlan')
const id = randomBytes(3).toString('hex')
const prefix = `cnidbg-trc-${id}`
const created = []
installSignalCleanup()
const dispose = async () => {
  for (const ns of created.reverse()) await deleteNetns(ns).catch(() => {})
}
const unregister = onCleanup('bench trace lab', dispose)

async function mk(suffix) {
  const name = `${prefix}-${suffix}`
  await createNetns(name)
  created.push(name)
  return name
}

async function build() {
  const ul = await mk('ul')
  await ipBatch(['link add br0 type bridge', 'link set br0 up'], ul)
  const nodes = []
  for (let n = 0; n < 3; n++) {
    const ns = await mk(`n${n}`)
    const node = {name: `node-${n}`, ns, nodeIP: `198.18.0.${10 + n}`, podCIDR: `10.244.${n}.0/24`}
    const lines = [
      `link add eth0 type veth peer name ul${n} netns ${ul}`,
      `addr add ${node.nodeIP}/15 dev eth0`,
      'link set eth0 up',
    ]
    if (mode === 'vxlan') {
      lines.push(
        `link add cnidbg.1 type vxlan id 1 dstport 8472 local ${node.nodeIP} dev eth0 nolearning`,
        'link set cnidbg.1 mtu 1450 up',
        `addr add 10.244.${n}.0/32 dev cnidbg.1`,
      )
    }
    await ipBatch(lines, ns)
    await ipBatch([`link set ul${n} master br0 up`], ul)
    await runInNetns(`/run/netns/${ns}`, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1'])
    if (mode === 'vxlan') node.vtepMAC = (await ipJson(['link', 'show', 'cnidbg.1'], ns))[0].address
    nodes.push(node)
  }
  for (const [i, node] of nodes.entries()) {
    const lines = []
    for (const [j, peer] of nodes.entries()) {
      if (i === j) continue
      if (mode === 'vxlan') {
        await runOk('bridge', [
          '-n',
          node.ns,
          'fdb',
          'add',
          peer.vtepMAC,
          'dev',
          'cnidbg.1',
          'dst',
          peer.nodeIP,
          'self',
          'permanent',
        ])
        lines.push(
          `neigh add 10.244.${j}.0 lladdr ${peer.vtepMAC} dev cnidbg.1 nud permanent`,
          `route add ${peer.podCIDR} via 10.244.${j}.0 dev cnidbg.1 onlink`,
        )
      } else {
        lines.push(`route add ${peer.podCIDR} via ${peer.nodeIP} dev eth0`)
      }
    }
    await ipBatch(lines, node.ns)
  }
  const pods = {}
  const mtu = mode === 'vxlan' ? 1450 : 1500
  for (const [n, k] of [
    [0, 'a'],
    [0, 'b'],
    [1, 'a'],
    [2, 'a'],
  ]) {
    const node = nodes[n]
    const ns = await mk(`p${n}${k}`)
    const veth = `cni${randomBytes(4).toString('hex')}`
    const ip = `10.244.${n}.${k === 'a' ? 10 : 11}`
    const gw = `10.244.${n}.1`
    await ipBatch(
      [
        `link add ${veth} type veth peer name eth0 netns ${ns}`,
        `link set ${veth} mtu ${mtu} up`,
        `addr add ${gw}/32 dev ${veth}`,
        `route add ${ip}/32 dev ${veth}`,
      ],
      node.ns,
    )
    await ipBatch(
      [
        `link set eth0 mtu ${mtu} up`,
        `addr add ${ip}/24 dev eth0 noprefixroute`,
        `route add ${gw} dev eth0 scope link`,
        `route add default via ${gw} dev eth0`,
      ],
      ns,
    )
    pods[`${n}${k}`] = {name: `pod-${n}${k}`, namespace: 'default', ip, node: node.name, netnsPath: `/run/netns/${ns}`}
  }
  const topology = {
    mode,
    nodes: nodes.map((n) => ({
      name: n.name,
      nodeIP: n.nodeIP,
      podCIDR: n.podCIDR,
      vtepMAC: n.vtepMAC,
      netns: {name: n.ns, path: `/run/netns/${n.ns}`},
    })),
  }
  return {topology, pods, nodes}
}

let stopAgents = async () => {}

/** One agent per node on 127.0.0.1, and a trace through them only (no namespace path anywhere). */
async function startAgents(topology, nodes) {
  const token = `bench-${randomBytes(8).toString('hex')}`
  const reviewer = {
    reviewToken: async (t) =>
      t === token ? {authenticated: true, user: {username: 'bench', groups: []}} : {authenticated: false},
    reviewAccess: async () => ({allowed: true}),
  }
  const servers = []
  const access = new Map()
  for (const n of nodes) {
    const cert = await selfSignedCert(n.name, ['127.0.0.1'])
    const ops = new AgentOps({
      node: n.name,
      nodeNetns: `/run/netns/${n.ns}`,
      scan: {procs: false, only: (x) => x.startsWith(prefix)},
    })
    const server = await startAgentServer({
      node: n.name,
      ops,
      gate: new Gate(reviewer, {node: n.name}),
      host: '127.0.0.1',
      port: 0,
      tls: cert,
    })
    servers.push(server)
    access.set(n.name, AgentNode.remote(new AgentClient({url: server.url, token, fingerprint: cert.fingerprint})))
  }
  const stop = async () => {
    for (const s of servers.splice(0)) await s.close()
  }
  const unregisterAgents = onCleanup('bench agents', stop)
  stopAgents = async () => {
    unregisterAgents()
    await stop()
  }
  const remoteTopology = {...topology, nodes: topology.nodes.map(({netns: _, ...n}) => n)}
  return async (pod, other, opts) => {
    const ends = await Promise.all(
      [pod, other].map(async (p) => {
        const found = await access.get(p.node).findPods([p.ip])
        return {...p, netnsPath: '', ifname: found.pods[0]?.ifname}
      }),
    )
    return traceBetween(remoteTopology, ends[0], ends[1], {...opts, accessFor: (n) => access.get(n.name)})
  }
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return {min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1]}
}

try {
  const t0 = performance.now()
  const {topology, pods, nodes} = await build()
  const buildMs = Math.round(performance.now() - t0)
  await traceBetween(topology, pods['0a'], pods['1a']) // warm-up (ARP, conntrack, page cache)
  const viaAgents = process.argv.includes('--agents') ? await startAgents(topology, nodes) : undefined
  const cli = {protocols: ['icmp', 'tcp']}
  const cases = [
    ['cross-node full', '0a', '1a', {}],
    ['cross-node full, icmp+tcp', '0a', '1a', cli],
    ['cross-node static-only', '0a', '1a', {staticOnly: true}],
    ['same-node full', '0a', '0b', {}],
  ]
  if (viaAgents) {
    await viaAgents(pods['0a'], pods['1a'], cli) // warm-up: the agents' first TLS handshakes
    cases.push(
      ['agents: cross-node full', '0a', '1a', {}, true],
      ['agents: cross-node full, icmp+tcp', '0a', '1a', cli, true],
      ['agents: cross-node static-only', '0a', '1a', {staticOnly: true}, true],
    )
  }
  const rows = []
  for (const [label, x, y, opts, agents] of cases) {
    const total = []
    const parts = []
    let verdict
    for (let i = 0; i < runs; i++) {
      const r = agents ? await viaAgents(pods[x], pods[y], opts) : await traceBetween(topology, pods[x], pods[y], opts)
      total.push(r.durationMs)
      parts.push(r.timings)
      verdict = r.verdict
    }
    rows.push({
      case: label,
      verdict,
      runs,
      ...Object.fromEntries(Object.entries(stats(total)).map(([k, v]) => [`${k} ms`, v])),
      'static ms (median)': stats(parts.map((p) => p.staticMs)).median,
    })
  }
  await runInNetns(`/run/netns/${nodes[1].ns}`, 'iptables', ['-I', 'FORWARD', '-d', pods['1a'].ip, '-j', 'DROP'])
  const broken = await traceBetween(topology, pods['0a'], pods['1a'])
  rows.push({
    case: 'cross-node, FORWARD DROP',
    verdict: `${broken.verdict}: ${broken.fault?.reason}@${broken.fault?.node}`,
    runs: 1,
    'min ms': broken.durationMs,
    'median ms': broken.durationMs,
    'max ms': broken.durationMs,
    'static ms (median)': broken.timings.staticMs,
  })
  console.log(
    `mode ${mode}, 3 nodes, lab build ${buildMs} ms, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  )
  console.table(rows)
  if (process.argv.includes('--show')) {
    console.log(renderText(broken, {color: process.stdout.isTTY}))
    console.log(renderMermaid(broken))
  }
} finally {
  await stopAgents()
  await dispose()
  unregister()
}
