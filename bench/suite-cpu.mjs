#!/usr/bin/env node
// Where the test suite's CPU goes, file by file. Runs tap as scripts/test.sh does (same config, same
// environment) with every test process in a cgroup of its own (bench/lib/suite-cgroup.mjs), so a
// file's figure is all the CPU it caused: its own process and every process it started (plugins, the
// lab's programs, `ip`, the CLI). On two cores the suite keeps both busy nearly all the time, so its
// wall time follows its CPU time, and CPU per file is what to cut.
// Prints the files by CPU (user + system seconds, their share of the machine's CPU during the run) with
// their wall time under the suite's load, the files that left a process running, and totals; asserts
// nothing (a failed file is marked, and the run's TAP is kept in .tap/suite-cpu.tap). `--json FILE`
// writes the figures; `--baseline FILE` (an earlier --json) adds each file's ratio to its baseline
// figure and the totals' ratios.
// Usage: node bench/suite-cpu.mjs [--json out.json] [--baseline old.json] [test files…]
// Needs root and a cgroup v2 hierarchy (mounted at /sys/fs/cgroup, or /sys/fs/cgroup/unified).
import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('../', import.meta.url))
const argv = process.argv.slice(2)
const option = (name) => {
  const i = argv.indexOf(name)
  if (i < 0) return undefined
  const [, value] = argv.splice(i, 2)
  if (!value) usage(`${name} needs a file`)
  return value
}
function usage(why) {
  console.error(`${why}\nusage: node bench/suite-cpu.mjs [--json out.json] [--baseline old.json] [test files…]`)
  process.exit(2)
}
const jsonOut = option('--json')
const baselineFile = option('--baseline')
const baseline = baselineFile ? JSON.parse(readFileSync(baselineFile, 'utf8')) : undefined

/** The cgroup v2 mount (a pure v2 host, or the hybrid layout's unified hierarchy). */
function cgroup2Mount() {
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, dir, type] = line.split(' ')
    if (type === 'cgroup2') return dir
  }
  return undefined
}
const mount = cgroup2Mount()
if (!mount) usage('no cgroup v2 hierarchy is mounted: this bench needs one')
// An earlier run that was killed left its (empty) cgroups: they go first.
for (const d of readdirSync(mount)) {
  const m = /^cnidbg-suite-(\d+)$/.exec(d)
  if (!m || existsSync(`/proc/${m[1]}`)) continue
  try {
    for (const leaf of readdirSync(join(mount, d), {withFileTypes: true}))
      if (leaf.isDirectory()) rmdirSync(join(mount, d, leaf.name))
    rmdirSync(join(mount, d))
  } catch {
    // One still holds a process: kept, and named by the run that made it.
  }
}
const parent = join(mount, `cnidbg-suite-${process.pid}`)
mkdirSync(parent)

/** user, system and total CPU seconds of a cgroup (cpu.stat is there with or without the cpu controller). */
function cpuOf(dir) {
  const stat = Object.fromEntries(
    readFileSync(join(dir, 'cpu.stat'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' ')),
  )
  return {cpu: stat.usage_usec / 1e6, user: stat.user_usec / 1e6, system: stat.system_usec / 1e6}
}

/** Busy CPU seconds of the whole machine so far (/proc/stat, all but idle and iowait). */
function machineCpu() {
  const [, user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/)
  return (Number(user) + Number(nice) + Number(system) + Number(irq) + Number(softirq) + Number(steal)) / 100
}

/** The cgroups go, whatever happens; one that still holds a process is named (a test left it running). */
function removeCgroups() {
  const left = []
  for (const name of existsSync(parent) ? readdirSync(parent, {withFileTypes: true}) : []) {
    if (!name.isDirectory()) continue
    const dir = join(parent, name.name)
    const procs = readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim()
    if (procs) left.push(`${name.name.replace(/__/g, '/')}: ${procs.split('\n').join(' ')}`)
    else rmdirSync(dir)
  }
  if (!left.length) rmdirSync(parent)
  return left
}

// As scripts/test.sh runs tap: without NODE_EXTRA_CA_CERTS, temp files on tmpfs when it has one.
const env = {...process.env, CNIDBG_SUITE_CGROUP: parent}
delete env.NODE_EXTRA_CA_CERTS
const testTmp = '/dev/shm/cnidbg-tests'
if (!env.TMPDIR && existsSync('/dev/shm')) {
  mkdirSync(testTmp, {recursive: true, mode: 0o700})
  env.TMPDIR = testTmp
}
// Passing --node-arg replaces package.json's list, so that list is passed again first, as it stands
// there (the suite's own loader comes through NODE_OPTIONS, the tap config's test-env).
const {tap: tapConfig} = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const tapArgs = [
  'tap',
  '--reporter=tap',
  ...(tapConfig['node-arg'] ?? []).map((a) => `--node-arg=${a}`),
  '--node-arg=--import=./bench/lib/suite-cgroup.mjs',
  ...argv,
]
const cpu0 = machineCpu()
const t0 = performance.now()
const tap = spawn('npx', tapArgs, {cwd: root, env, stdio: ['ignore', 'pipe', 'inherit']})
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => tap.kill(signal))
let tapOut = ''
let done = 0
tap.stdout.setEncoding('utf8')
tap.stdout.on('data', (d) => {
  tapOut += d
  const n = (tapOut.match(/^(?:not )?ok \d+ - test\//gm) ?? []).length
  if (n !== done && process.stderr.isTTY) process.stderr.write(`\r${(done = n)} files done`)
})
const exitCode = await new Promise((resolve) => tap.on('close', (code) => resolve(code)))
const wall = (performance.now() - t0) / 1000
const machine = machineCpu() - cpu0
if (process.stderr.isTTY) process.stderr.write('\n')

const wallOf = new Map()
const failed = new Set()
for (const m of tapOut.matchAll(/^(not )?ok \d+ - (test\/\S+) .*?time=([\d.]+)ms/gm)) {
  wallOf.set(m[2], Number(m[3]) / 1000)
  if (m[1]) failed.add(m[2])
}
const files = readdirSync(parent, {withFileTypes: true})
  .filter((d) => d.isDirectory())
  .map((d) => ({file: d.name.replace(/__/g, '/'), ...cpuOf(join(parent, d.name))}))
  .map((f) => ({...f, wall: wallOf.get(f.file)}))
  .sort((a, b) => b.cpu - a.cpu)
const leftRunning = removeCgroups()

const sum = files.reduce((s, f) => s + f.cpu, 0)
const fmt = (n, w = 7) => (n === undefined ? '' : n.toFixed(1)).padStart(w)
const ratioTo = (now, before) => (before ? `${(now / before).toFixed(2)}×`.padStart(7) : '')
const baseOf = new Map((baseline?.files ?? []).map((f) => [f.file, f]))
console.log(
  `${'CPU s'.padStart(7)} ${'share'.padStart(6)} ${'user'.padStart(7)} ${'system'.padStart(7)} ${'wall s'.padStart(7)}${baseline ? ' vs base' : ''}  file`,
)
for (const f of files) {
  const share = `${((100 * f.cpu) / machine).toFixed(1)}%`.padStart(6)
  const vs = baseline ? ` ${ratioTo(f.cpu, baseOf.get(f.file)?.cpu)}` : ''
  console.log(
    `${fmt(f.cpu)} ${share} ${fmt(f.user)} ${fmt(f.system)} ${fmt(f.wall)}${vs}  ${f.file}${failed.has(f.file) ? ' (failed)' : ''}`,
  )
}
const totals = {wall, machineCpu: machine, filesCpu: sum, files: files.length, exitCode}
console.log(
  `\n${files.length} files: ${sum.toFixed(0)} CPU s in their cgroups; the machine used ${machine.toFixed(0)} CPU s` +
    ` in ${wall.toFixed(0)} s of wall time (the rest: each test process's start before it is moved,` +
    ` tap itself, the kernel's own threads). tap exited ${exitCode}.`,
)
if (baseline) {
  const b = baseline.totals
  console.log(
    `against the baseline: wall ${ratioTo(wall, b.wall).trim()}, machine CPU ${ratioTo(machine, b.machineCpu).trim()},` +
      ` files' CPU ${ratioTo(sum, b.filesCpu).trim()}`,
  )
}
if (leftRunning.length)
  console.log(`\nstill running after the suite (their cgroups are kept):\n${leftRunning.join('\n')}`)
// The run's TAP, as scripts/test.sh keeps its own: a failure under this load is named in it, with the
// diagnostic of every assertion that failed.
mkdirSync(join(root, '.tap'), {recursive: true})
writeFileSync(join(root, '.tap/suite-cpu.tap'), tapOut)
if (failed.size) console.log(`\nfailed: ${[...failed].join(', ')} (the TAP of the run: .tap/suite-cpu.tap)`)
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({totals, files}, null, 2) + '\n')
