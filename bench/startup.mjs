#!/usr/bin/env node
// Start-up time of the built CLI (`cnidbg --version`, `cnidbg trace --help`, and `cnidbg lab status`, whose
// module loads client-node) against a bare `node -e 0`, measured side by side in one run (interleaved,
// so machine load affects all alike). Prints a table and the ratios to `node -e 0`; asserts nothing.
// Beside wall time, the CPU time each takes (user + system, from the children's counters in
// /proc/self/stat, in 10 ms ticks, so only its mean over the runs means anything): on a loaded machine
// wall time waits for a core, CPU time does not.
// Usage: npm run build && node bench/startup.mjs [runs=20]
import {existsSync, readFileSync} from 'node:fs'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('../', import.meta.url))
if (!existsSync(`${root}dist/process/exec.js`) || !existsSync(`${root}dist/bundle/run.cjs`)) {
  console.error('dist/ is not built: run `npm run build` first.')
  process.exit(2)
}
// Subprocesses go through cnidbg's own runner, the same way for every command.
const {run} = await import(`${root}dist/process/exec.js`)

// NODE_EXTRA_CA_CERTS (set machine-wide on some hosts, for a proxy's CA) makes every Node process parse
// that bundle as it starts: about 40 ms, as much in `node -e 0` as in the CLI, which hides how much the
// CLI itself adds (with it, --version measured 1.35x; without, 1.87x). The subjects run without it.
const caCerts = process.env.NODE_EXTRA_CA_CERTS
delete process.env.NODE_EXTRA_CA_CERTS

const runs = Number(process.argv[2] ?? 20)
const cli = `${root}bin/run.js`
const subjects = [
  {name: 'node -e 0', file: process.execPath, args: ['-e', '0']},
  {name: 'cnidbg --version', file: process.execPath, args: [cli, '--version']},
  {name: 'cnidbg trace --help', file: process.execPath, args: [cli, 'trace', '--help']},
  // A command whose module loads client-node (dist/kube/client.js and its code cache), on its shortest
  // path: no lab by that name, so it ends with LAB_NOT_FOUND (exit 2) without a request.
  {
    name: 'cnidbg lab status (no lab)',
    file: process.execPath,
    args: [cli, 'lab', 'status', '--name', 'cnidbg-bench-none', '--json'],
    exit: 2,
  },
]

/** CPU time (ms) of this process's waited-for children so far: cutime + cstime. */
function childrenCpuMs() {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100
}

async function once(s) {
  const cpu0 = childrenCpuMs()
  const t0 = performance.now()
  const r = await run(s.file, s.args, {timeoutMs: 30_000})
  const ms = performance.now() - t0
  if (r.exitCode !== (s.exit ?? 0)) throw new Error(`${s.name} failed: ${r.stderr || r.spawnError}`)
  return {ms, cpu: childrenCpuMs() - cpu0}
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length

for (const s of subjects) await once(s) // warm the page cache
const times = subjects.map(() => [])
const cpu = subjects.map(() => [])
for (let i = 0; i < runs; i++) {
  for (const [j, s] of subjects.entries()) {
    const r = await once(s)
    times[j].push(r.ms)
    cpu[j].push(r.cpu)
  }
}

const rows = subjects.map((s, j) => ({
  command: s.name,
  runs,
  'min ms': pct(times[j], 0.0001).toFixed(1),
  'p50 ms': pct(times[j], 50).toFixed(1),
  'p95 ms': pct(times[j], 95).toFixed(1),
  'mean ms': mean(times[j]).toFixed(1),
  'cpu ms (mean)': mean(cpu[j]).toFixed(1),
}))
console.table(rows)
if (caCerts) console.log(`(run without NODE_EXTRA_CA_CERTS=${caCerts}, which this environment sets)`)
const [base] = times
for (const [j, s] of subjects.entries()) {
  if (j === 0) continue
  console.log(
    `${s.name} / node -e 0: p50 ${(pct(times[j], 50) / pct(base, 50)).toFixed(2)}x, ` +
      `p95 ${(pct(times[j], 95) / pct(base, 95)).toFixed(2)}x, cpu ${(mean(cpu[j]) / mean(cpu[0])).toFixed(2)}x; ` +
      `${(pct(times[j], 50) - pct(base, 50)).toFixed(1)} ms over bare node (p50)`,
  )
}
