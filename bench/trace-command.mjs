#!/usr/bin/env node
// The whole `cnidbg trace` command, as a user runs it, on the embedded lab (run as root after
// `npm run build`):  node bench/trace-command.mjs [--runs N] [--mode vxlan|host-gw]
//
// Brings up a 3-node lab (`cnidbg lab up`), then times, N runs each (default 7), wall clock from exec
// to exit: `cnidbg --version` (the CLI's start-up, the floor of any command), `cnidbg trace` between
// pods on different nodes (static + probes: the 2 s target), the same with --static-only, and
// between two pods on one node, and to a ClusterIP Service whose endpoint is on the other node
// (`trace POD svc/NAME`: the Service and its slices, the DNAT hop, the ClusterIP probe and conntrack,
// then the pod-to-pod trace to the endpoint; the 2 s target for a Service). Prints p50/p95, the
// ratio to the 2 s target, and the engine's own share (result.timings) beside it. The lab is removed at
// the end, also on failure or Ctrl-C.
import {execFile, spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {loadavg} from 'node:os'
import {dirname, join} from 'node:path'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'

const exec = promisify(execFile)
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
// CNIDBG_BIN: another build of the CLI to compare (default: this checkout's bin/run.js).
const cli = process.env.CNIDBG_BIN ?? join(root, 'bin', 'run.js')
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : dflt
}
const runs = Number(arg('--runs', '7'))
const mode = arg('--mode', 'vxlan')
const lab = `bench${randomBytes(2).toString('hex')}`
const TARGET_MS = 2000
let up = false
let server

async function cnidbg(args, {json = true} = {}) {
  const t0 = performance.now()
  const {stdout} = await exec(process.execPath, [cli, ...args, ...(json ? ['--json'] : [])], {
    maxBuffer: 64 << 20,
    timeout: 600_000,
  })
  return {ms: performance.now() - t0, result: json ? JSON.parse(stdout).result : undefined}
}

async function down() {
  server?.kill('SIGKILL')
  if (up) await cnidbg(['lab', 'down', '--name', lab]).catch(() => {})
  up = false
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => down().finally(() => process.exit(130)))

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]

async function series(label, args, json) {
  await cnidbg(args, {json}) // warm the page cache
  const ms = []
  const engine = []
  for (let i = 0; i < runs; i++) {
    const r = await cnidbg(args, {json})
    ms.push(r.ms)
    if (r.result?.durationMs !== undefined) engine.push(r.result.durationMs)
    if (r.result?.verdict && r.result.verdict !== 'reachable') throw new Error(`${label}: ${r.result.verdict}`)
  }
  return {label, p50: pct(ms, 50), p95: pct(ms, 95), engine: engine.length ? pct(engine, 50) : undefined}
}

try {
  process.stderr.write(`bench: lab ${lab} (${mode}, 3 nodes), ${runs} runs per row…\n`)
  up = true
  const {result} = await cnidbg(['lab', 'up', '--name', lab, '--mode', mode, '--nodes', '3', '--pods-per-node', '2'])
  const pods = result.pods
  const a = pods.find((p) => p.node === 'node1')
  const same = pods.find((p) => p.node === 'node1' && p.name !== a.name)
  const b = pods.find((p) => p.node === 'node2')
  // A Service in front of pod b, and a server on its target port there.
  const svc = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {name: 'bench-web', namespace: b.namespace},
    spec: {selector: {app: b.name}, ports: [{port: 80, targetPort: 8080}]},
  }
  const kubectl = exec('kubectl', ['--kubeconfig', result.kubeconfig, 'apply', '-f', '-'])
  kubectl.child.stdin.end(JSON.stringify(svc))
  await kubectl
  server = spawn('nsenter', [`--net=${b.netnsPath}`, 'nc', '-lk', '8080'], {stdio: 'ignore'})
  for (let i = 0; i < 120; i++) {
    const r = await cnidbg(['trace', a.name, 'svc/bench-web', '--lab', lab, '--static-only']).catch(() => undefined)
    if (r?.result?.service?.dnat?.status === 'ok') break
    await new Promise((res) => setTimeout(res, 250))
  }
  const rows = [
    await series('cnidbg --version (CLI floor)', ['--version'], false),
    await series(`trace ${a.name} → ${b.name} (cross-node)`, ['trace', a.name, b.name, '--lab', lab], true),
    await series(
      `trace ${a.name} → ${b.name} --static-only`,
      ['trace', a.name, b.name, '--lab', lab, '--static-only'],
      true,
    ),
    await series(`trace ${a.name} → ${same.name} (same node)`, ['trace', a.name, same.name, '--lab', lab], true),
    await series(
      `trace ${a.name} → svc/bench-web (endpoint on node2)`,
      ['trace', a.name, 'svc/bench-web', '--lab', lab],
      true,
    ),
  ]
  const f = (x) => (x === undefined ? '      -' : x.toFixed(0).padStart(7))
  const lines = [`whole-command wall time, ${runs} runs each (ms); load average ${loadavg()[0].toFixed(2)}`, '']
  lines.push(
    `${'command'.padEnd(50)} ${'p50'.padStart(7)} ${'p95'.padStart(7)}  ${'engine'.padStart(7)}  p50 / 2 s target`,
  )
  for (const r of rows) {
    const ratio = r.label.startsWith('trace') ? `${(r.p50 / TARGET_MS).toFixed(2)}` : ''
    lines.push(`${r.label.padEnd(50)} ${f(r.p50)} ${f(r.p95)}  ${f(r.engine)}  ${ratio}`)
  }
  const cross = rows[1]
  const toSvc = rows[4]
  lines.push(
    '',
    `Target: a full cross-node trace in under 2 s: p50 ${(cross.p50 / 1000).toFixed(2)} s, p95 ${(cross.p95 / 1000).toFixed(2)} s → ${cross.p95 < TARGET_MS ? 'met' : 'missed'}`,
    `Target: a trace to a Service in under 2 s: p50 ${(toSvc.p50 / 1000).toFixed(2)} s, p95 ${(toSvc.p95 / 1000).toFixed(2)} s → ${toSvc.p95 < TARGET_MS ? 'met' : 'missed'} (${(toSvc.p50 / cross.p50).toFixed(2)}× the pod-to-pod trace)`,
    '("engine" is result.durationMs, the trace itself; the rest is CLI start-up and resolving the pods.',
    ' To a Service, "engine" also holds resolving the Service, its slices and the pods.)',
  )
  process.stdout.write(lines.join('\n') + '\n')
} finally {
  await down()
}
