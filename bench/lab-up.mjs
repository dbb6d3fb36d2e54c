// Lab benchmark (run as root after `npm run build`):
//   node bench/lab-up.mjs [--runs N] [--iperf-runs M] [--modes a,b] [--no-up] [--prefix P]
//
//  1. wall time of `cnidbg lab up --nodes 3 --pods-per-node 2` in vxlan, vpc and in bgp on the
//     routed underlay (N runs each, default 1; --no-up skips it)
//  2. per mode (vxlan, host-gw, vpc, bgp; in vpc both node→node and pod→pod cross the VPC router, each
//     node a /32 behind it; bgp on the routed underlay, its two nodes on different subnets):
//     iperf3 TCP throughput node→node over the underlay, and pod→pod across two nodes; the ratio is
//     what the pod network keeps of the underlay's throughput. M pairs per mode (default 1), node→node
//     and pod→pod alternating on one lab so both see the same load; the medians are compared.
//
// iperf3 runs inside the lab's namespaces (server `-s -1` exits after one test; client `-t 3 -J`).
// Every lab and process is removed at the end, also on failure or Ctrl-C.
import {execFile, spawn} from 'node:child_process'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {performance} from 'node:perf_hooks'
import {promisify} from 'node:util'

const exec = promisify(execFile)
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
// CNIDBG_BIN: another build of the CLI (default: this checkout's bin/run.js).
const cli = process.env.CNIDBG_BIN ?? join(root, 'bin', 'run.js')
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 1
const iperfRuns = Number(process.argv[process.argv.indexOf('--iperf-runs') + 1]) || 1
const skipUp = process.argv.includes('--no-up')
// --prefix P: lab names start with P (two runs on one machine must not share a lab's name).
const prefix = process.argv.includes('--prefix') ? process.argv[process.argv.indexOf('--prefix') + 1] : 'bench'
const modes = process.argv.includes('--modes')
  ? process.argv[process.argv.indexOf('--modes') + 1].split(',')
  : ['vxlan', 'host-gw', 'vpc', 'bgp']
const labs = new Set()
const children = new Set()

async function cnidbg(args) {
  const {stdout} = await exec(process.execPath, [cli, ...args, '--json'], {maxBuffer: 64 << 20, timeout: 900_000})
  return JSON.parse(stdout).result
}

async function cleanup() {
  for (const c of children) c.kill('SIGKILL')
  for (const name of labs) await cnidbg(['lab', 'down', '--name', name]).catch(() => {})
}
process.on('SIGINT', () => cleanup().finally(() => process.exit(130)))

async function labUp(name, mode, nodes, pods, topology = 'flat') {
  labs.add(name)
  const t0 = performance.now()
  const r = await cnidbg([
    'lab',
    'up',
    '--name',
    name,
    '--mode',
    mode,
    '--nodes',
    String(nodes),
    '--pods-per-node',
    String(pods),
    '--topology',
    topology,
  ])
  return {result: r, seconds: (performance.now() - t0) / 1000}
}

async function labDown(name) {
  await cnidbg(['lab', 'down', '--name', name])
  labs.delete(name)
}

/** TCP throughput (bits/s) from a client namespace to a server namespace/IP, receiver side. */
async function iperf(serverNs, serverIp, clientNs, seconds = 3) {
  const port = String(5201 + Math.floor(Math.random() * 500))
  const server = spawn('ip', ['netns', 'exec', serverNs, 'iperf3', '-s', '-1', '-p', port], {stdio: 'ignore'})
  children.add(server)
  try {
    for (let i = 0; ; i++) {
      try {
        const {stdout} = await exec(
          'ip',
          ['netns', 'exec', clientNs, 'iperf3', '-c', serverIp, '-p', port, '-t', String(seconds), '-J'],
          {timeout: 60_000},
        )
        return JSON.parse(stdout).end.sum_received.bits_per_second
      } catch (error) {
        // The server may not listen yet.
        if (i >= 20) throw error
        await new Promise((r) => setTimeout(r, 200))
      }
    }
  } finally {
    server.kill('SIGKILL')
    children.delete(server)
  }
}

const gbit = (bps) => (bps / 1e9).toFixed(2)
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

async function throughput(mode) {
  const name = `${prefix}${mode === 'vxlan' ? 'vx' : mode === 'bgp' ? 'bgp' : mode === 'vpc' ? 'vpc' : 'gw'}`
  const {result, seconds} = await labUp(name, mode, 2, 1, mode === 'bgp' ? 'routed' : 'flat')
  const [n1, n2] = result.nodes
  const [p1, p2] = result.pods
  const underlays = []
  const podRuns = []
  for (let i = 0; i < iperfRuns; i++) {
    underlays.push(await iperf(n2.netns, n2.nodeIP, n1.netns))
    podRuns.push(await iperf(p2.netnsPath.split('/').pop(), p2.ip, p1.netnsPath.split('/').pop()))
  }
  await labDown(name)
  return {mode, seconds, underlay: median(underlays), pods: median(podRuns), underlays, podRuns}
}

try {
  const upLines = []
  for (const [mode, topology] of [
    ['vxlan', 'flat'],
    ['vpc', 'flat'],
    ['bgp', 'routed'],
  ]) {
    if (skipUp || !modes.includes(mode)) continue
    const upTimes = []
    for (let i = 0; i < runs; i++) {
      const {seconds} = await labUp(`${prefix}up`, mode, 3, 2, topology)
      upTimes.push(seconds)
      await labDown(`${prefix}up`)
    }
    upLines.push(
      `lab up, 3 nodes × 2 pods, ${mode} (${topology}): ${upTimes.map((s) => s.toFixed(1)).join(', ')} s (median ${median(upTimes).toFixed(1)} s)`,
    )
  }
  const rows = []
  for (const mode of modes) rows.push(await throughput(mode))
  for (const l of upLines) console.log(l)
  console.log('')
  console.log(`mode     node→node Gbit/s  pod→pod Gbit/s  pod/node   (medians of ${iperfRuns})`)
  for (const r of rows)
    console.log(
      `${r.mode.padEnd(8)} ${gbit(r.underlay).padStart(16)}  ${gbit(r.pods).padStart(14)}  ${((100 * r.pods) / r.underlay).toFixed(0).padStart(7)}%` +
        (iperfRuns > 1 ? `   node: ${r.underlays.map(gbit).join(' ')}; pod: ${r.podRuns.map(gbit).join(' ')}` : ''),
    )
} finally {
  await cleanup()
}
