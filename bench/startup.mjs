#!/usr/bin/env node
// Start-up time of the built CLI (`cnidbg --version`) against a bare `node -e 0`, measured side by
// side in one run (interleaved, so machine load affects both alike). Prints a table; asserts nothing.
// Usage: npm run build && node bench/startup.mjs [runs=20]
import {existsSync} from 'node:fs'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('../', import.meta.url))
if (!existsSync(`${root}dist/process/exec.js`)) {
  console.error('dist/ is not built: run `npm run build` first.')
  process.exit(2)
}
// Subprocesses go through cnidbg's own runner (src/process/exec.ts), the same way for both commands.
const {run} = await import(`${root}dist/process/exec.js`)

const runs = Number(process.argv[2] ?? 20)
const subjects = [
  {name: 'node -e 0', file: process.execPath, args: ['-e', '0']},
  {name: 'cnidbg --version', file: process.execPath, args: [`${root}bin/run.js`, '--version']},
]

async function once(s) {
  const t0 = performance.now()
  const r = await run(s.file, s.args, {timeoutMs: 30_000})
  const ms = performance.now() - t0
  if (r.exitCode !== 0) throw new Error(`${s.name} failed: ${r.stderr || r.spawnError}`)
  return ms
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}

for (const s of subjects) await once(s) // warm the page cache
const times = subjects.map(() => [])
for (let i = 0; i < runs; i++) for (const [j, s] of subjects.entries()) times[j].push(await once(s))

const rows = subjects.map((s, j) => ({
  command: s.name,
  runs,
  'min ms': pct(times[j], 0.0001).toFixed(1),
  'p50 ms': pct(times[j], 50).toFixed(1),
  'p95 ms': pct(times[j], 95).toFixed(1),
  'mean ms': (times[j].reduce((a, b) => a + b, 0) / runs).toFixed(1),
}))
console.table(rows)
const [base, cli] = times
console.log(
  `cnidbg --version / node -e 0: p50 ${(pct(cli, 50) / pct(base, 50)).toFixed(2)}x, p95 ${(pct(cli, 95) / pct(base, 95)).toFixed(2)}x; ` +
    `cnidbg's own start-up ≈ ${(pct(cli, 50) - pct(base, 50)).toFixed(1)} ms over bare node (p50)`,
)
