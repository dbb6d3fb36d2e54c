// The lab's per-node processes (run as root after `npm run build`):
//   node bench/lab-nodes.mjs [--runs N] [--idle S] [--twenty]
//
//  1. wall time of `cnidbg lab up --nodes 3 --pods-per-node 2` (N runs, default 3), and, with
//     CNIDBG_BASE_BIN=<another checkout>/bin/run.js, of that build's, interleaved run by run so both
//     see the same machine; medians, the ratio to the baseline and to the 10 s target;
//  2. each node agent's resident memory (VmRSS) after the lab has been idle S seconds (default 20),
//     against the 80 MB target; and the daemons' beside it;
//  3. with --twenty, a 20-node × 1-pod lab: its `lab up` time and whether every node's daemon and
//     agent answer.
//
// Every lab is removed at the end, also on failure or Ctrl-C. It prints a table and asserts nothing.
import {execFile} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {performance} from 'node:perf_hooks'
import {promisify} from 'node:util'

const exec = promisify(execFile)
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const cli = process.env.CNIDBG_BIN ?? join(root, 'bin', 'run.js')
const base = process.env.CNIDBG_BASE_BIN
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name)
  return i >= 0 ? Number(process.argv[i + 1]) : dflt
}
const runs = arg('--runs', 3)
const idle = arg('--idle', 20)
const labs = new Map()

async function cnidbg(bin, args) {
  const {stdout} = await exec(process.execPath, [bin, ...args, '--json'], {maxBuffer: 64 << 20, timeout: 900_000})
  return JSON.parse(stdout).result
}

async function cleanup() {
  for (const [name, bin] of labs) await cnidbg(bin, ['lab', 'down', '--name', name]).catch(() => {})
  labs.clear()
}
process.on('SIGINT', () => cleanup().finally(() => process.exit(130)))

async function up(bin, name, nodes, pods) {
  labs.set(name, bin)
  const t0 = performance.now()
  await cnidbg(bin, ['lab', 'up', '--name', name, '--nodes', String(nodes), '--pods-per-node', String(pods)])
  return (performance.now() - t0) / 1000
}

async function down(bin, name) {
  await cnidbg(bin, ['lab', 'down', '--name', name])
  labs.delete(name)
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const rssMB = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024
const fmt = (x) => x.toFixed(2)

try {
  // 1. lab up, this build against the baseline, interleaved.
  const times = {this: [], base: []}
  for (let i = 0; i < runs; i++) {
    times.this.push(await up(cli, 'benchnodes', 3, 2))
    await down(cli, 'benchnodes')
    if (base) {
      times.base.push(await up(base, 'benchnodesb', 3, 2))
      await down(base, 'benchnodesb')
    }
  }
  console.log(`lab up, 3 nodes × 2 pods, ${runs} runs (s)`)
  console.log(`  this build: median ${fmt(median(times.this))}  runs ${times.this.map(fmt).join(' ')}`)
  if (base) {
    console.log(`  baseline:   median ${fmt(median(times.base))}  runs ${times.base.map(fmt).join(' ')}`)
    console.log(`  ratio this/baseline: ${fmt(median(times.this) / median(times.base))}`)
  }
  console.log(`  ratio to the 10 s target: ${fmt(median(times.this) / 10)}`)

  // 2. idle RSS of the node processes.
  await up(cli, 'benchnodes', 3, 2)
  await new Promise((r) => setTimeout(r, idle * 1000))
  const status = await cnidbg(cli, ['lab', 'status', '--name', 'benchnodes'])
  const agents = status.nodes.map((n) => rssMB(n.agent.pid))
  const daemons = status.nodes.map((n) => rssMB(n.daemon.pid))
  console.log(`idle RSS after ${idle} s (MB)`)
  console.log(
    `  agents:  ${agents.map(fmt).join(' ')}  max ${fmt(Math.max(...agents))}  (target < 80, ratio ${fmt(Math.max(...agents) / 80)})`,
  )
  console.log(`  daemons: ${daemons.map(fmt).join(' ')}`)
  await down(cli, 'benchnodes')

  // 3. twenty nodes.
  if (process.argv.includes('--twenty')) {
    const s = await up(cli, 'benchtwenty', 20, 1)
    const st = await cnidbg(cli, ['lab', 'status', '--name', 'benchtwenty'])
    const ok = st.nodes.filter((n) => n.daemon.healthy && n.agent.healthy).length
    console.log(
      `lab up, 20 nodes × 1 pod: ${fmt(s)} s; ${ok}/20 nodes with a healthy daemon and agent; problems: ${st.problems.length}`,
    )
    await down(cli, 'benchtwenty')
  }
} finally {
  await cleanup()
}
