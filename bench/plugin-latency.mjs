#!/usr/bin/env node
// ADD+DEL latency and parallel-ADD throughput of cnidbg-ref+cnidbg-ipam vs Debian's Go plugins
// (bridge+host-local, ptp+host-local), with `node -e 0` as the floor. Everything runs in one cnidbg
// Sandbox (a throwaway host netns with private /var/lib/cni) and is removed afterwards.
//
//   node bench/plugin-latency.mjs [--iterations 30] [--parallel 100] [--json]
//
// Target 1: (ref p50 − node floor p50) / (bridge+host-local p50), goal ≤ 1: printed for ADD alone and for
// ADD+DEL (where the floor counts twice: each verb starts Node once).
// Target 2: 100 ADDs in parallel give 100 unique addresses; ref throughput within 2× of the Go pair.
//
// cnidbg-ref runs three ways: standalone (its shell front starts Node for each verb, IPAM in-process),
// served (a `cnidbg-ref --serve` plugin server runs in the sandboxed host and the front hands it each
// ADD and DEL; its CPU is counted with the plugin's), and with cnidbg-ipam exec'd as a separate process.
//
// How: the outer process creates the sandbox and pod namespaces, then re-runs this file inside the
// sandbox (`--driver`), which times each plugin exec with hrtime, so sandbox entry costs are not counted.
import {spawn} from 'node:child_process'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const GO_CNI = '/usr/lib/cni'

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : dflt
}

function execOnce(file, args, env, input) {
  return new Promise((res) => {
    const t0 = process.hrtime.bigint()
    const c = spawn(file, args, {env, stdio: ['pipe', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    c.stdout.on('data', (b) => (out += b))
    c.stderr.on('data', (b) => (err += b))
    c.on('close', (code) => res({code, out, err, ms: Number(process.hrtime.bigint() - t0) / 1e6}))
    c.stdin.end(input ?? '')
  })
}

/** CPU time (user + system) of our waited-for children and theirs, from /proc/self/stat (ms). */
function childrenCpuMs() {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')
  // Fields 16 and 17 (cutime, cstime) are at 13 and 14 once pid and comm are cut off; in clock ticks.
  let ms = ((Number(f[13]) + Number(f[14])) * 1000) / 100
  // A running plugin server's own CPU and its children's (utime, stime, cutime, cstime): the served
  // rows' ADDs are done there, so they count.
  for (const pid of servers) {
    const g = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    ms += ((Number(g[11]) + Number(g[12]) + Number(g[13]) + Number(g[14])) * 1000) / 100
  }
  return ms
}

/** Pids of the plugin servers now running (see startServer). */
const servers = new Set()

/** `cnidbg-ref --serve` in this (sandboxed) host, at its default place; resolves once it serves. */
function startServer(file, env = process.env) {
  return new Promise((res, rej) => {
    const c = spawn(process.execPath, [file, '--serve'], {env, stdio: ['ignore', 'ignore', 'pipe']})
    let err = ''
    c.stderr.on('data', (b) => {
      err += b
      if (err.includes('serving in')) {
        servers.add(c.pid)
        res({
          stop: () =>
            new Promise((done) => {
              c.on('close', () => {
                servers.delete(c.pid)
                done()
              })
              c.kill('SIGTERM')
            }),
        })
      }
    })
    c.on('close', (code) => rej(new Error(`plugin server exited (${code}): ${err}`)))
  })
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}

// ---------------------------------------------------------------- driver (inside the sandbox)
async function driver() {
  const spec = JSON.parse(readFileSync(0, 'utf8'))
  const out = {latency: {}, parallel: {}, execs: {}}
  const cniEnv = (p, verb, pod, i) => ({
    PATH: spec.path,
    CNI_COMMAND: verb,
    CNI_CONTAINERID: `bench-${p.label.replace(/[^a-z0-9]/gi, '')}-${i}`,
    CNI_NETNS: pod,
    CNI_IFNAME: 'eth0',
    CNI_PATH: p.cniPath,
    ...p.env,
  })
  // The floor: what starting Node costs.
  const floor = []
  const floorCpu = []
  for (let i = 0; i < spec.iterations + 2; i++) {
    const c0 = childrenCpuMs()
    const r = await execOnce(process.execPath, ['-e', '0'], {PATH: spec.path})
    if (i >= 2) {
      floor.push(r.ms)
      floorCpu.push(childrenCpuMs() - c0)
    }
  }
  out.latency['node -e 0 (floor)'] = {add: floor, del: [0], total: floor, addCpu: floorCpu}
  for (const p of spec.plugins) {
    const server = p.served ? await startServer(p.file) : undefined
    const add = []
    const del = []
    const addCpu = []
    for (let i = 0; i < spec.iterations + 2; i++) {
      const pod = spec.pods[i % spec.pods.length]
      const c0 = childrenCpuMs()
      const a = await execOnce(p.file, [], cniEnv(p, 'ADD', pod, i), JSON.stringify(p.conf))
      if (i >= 2) addCpu.push(childrenCpuMs() - c0)
      if (a.code !== 0) throw new Error(`${p.label} ADD failed: ${a.out}${a.err}`)
      const d = await execOnce(p.file, [], cniEnv(p, 'DEL', pod, i), JSON.stringify(p.conf))
      if (d.code !== 0) throw new Error(`${p.label} DEL failed: ${d.out}${d.err}`)
      if (i >= 2) {
        add.push(a.ms)
        del.push(d.ms)
      }
    }
    out.latency[p.label] = {add, del, total: add.map((x, i) => x + del[i]), addCpu}
    await server?.stop()
    // Count execs of ip/nsenter per ADD through counting shims first on PATH (the server's PATH when served).
    if (spec.shimDir) {
      const log = join(spec.shimDir, 'log')
      writeFileSync(log, '')
      const pod = spec.pods[0]
      const PATH = `${spec.shimDir}:${spec.path}`
      const counter = p.served ? await startServer(p.file, {...process.env, PATH}) : undefined
      const env = {...cniEnv(p, 'ADD', pod, 9999), PATH}
      await execOnce(p.file, [], env, JSON.stringify(p.conf))
      // The front runs mkfifo by its absolute path, out of the shims' sight.
      const counts = p.served ? {'mkfifo (client)': 1} : {}
      for (const l of readFileSync(log, 'utf8').split('\n').filter(Boolean)) counts[l] = (counts[l] ?? 0) + 1
      out.execs[p.label] = counts
      await execOnce(p.file, [], {...env, CNI_COMMAND: 'DEL'}, JSON.stringify(p.conf))
      await counter?.stop()
    }
  }
  // The floor of target 2: as many `node -e 0` at once, i.e. what starting Node alone allows.
  {
    const cpu0 = childrenCpuMs()
    const t0 = process.hrtime.bigint()
    await Promise.all(spec.parallelPods.map(() => execOnce(process.execPath, ['-e', '0'], {PATH: spec.path})))
    const wall = Number(process.hrtime.bigint() - t0) / 1e6
    const n = spec.parallelPods.length
    out.parallelFloor = {n, wallMs: wall, perSec: (n / wall) * 1000, cpuPerRun: (childrenCpuMs() - cpu0) / n}
  }
  // Target 2: N ADDs at once, each into its own pod.
  for (const p of spec.plugins.filter((x) => x.parallel)) {
    const server = p.served ? await startServer(p.file) : undefined
    const cpu0 = childrenCpuMs()
    const t0 = process.hrtime.bigint()
    const rs = await Promise.all(
      spec.parallelPods.map((pod, i) =>
        execOnce(p.file, [], cniEnv(p, 'ADD', pod, 10_000 + i), JSON.stringify(p.conf)),
      ),
    )
    const wall = Number(process.hrtime.bigint() - t0) / 1e6
    const cpuPerAdd = (childrenCpuMs() - cpu0) / rs.length
    const ok = rs.filter((r) => r.code === 0)
    const ips = ok.map((r) =>
      JSON.parse(r.out)
        .ips.map((x) => x.address)
        .join(','),
    )
    await Promise.all(
      spec.parallelPods.map((pod, i) =>
        execOnce(p.file, [], cniEnv(p, 'DEL', pod, 10_000 + i), JSON.stringify(p.conf)),
      ),
    )
    await server?.stop()
    out.parallel[p.label] = {
      n: rs.length,
      succeeded: ok.length,
      unique: new Set(ips).size,
      wallMs: wall,
      podsPerSec: (ok.length / wall) * 1000,
      cpuPerAdd,
      errors: rs
        .filter((r) => r.code !== 0)
        .slice(0, 2)
        .map((r) => r.out || r.err),
    }
  }
  process.stdout.write(JSON.stringify(out))
}

// ---------------------------------------------------------------- outer process
async function loadSandbox(dir) {
  // Bundle src/netns (TypeScript) for this run, so the bench needs no `npm run build`.
  const {build} = await import('esbuild')
  const outfile = join(dir, 'netns.mjs')
  await build({
    entryPoints: [join(root, 'src/netns/index.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile,
    logLevel: 'warning',
    banner: {js: "import {createRequire as __cr} from 'node:module'; const require = __cr(import.meta.url);"},
  })
  return import(pathToFileURL(outfile).href)
}

function shims(dir) {
  mkdirSync(dir, {recursive: true})
  for (const tool of ['sh', 'ip', 'nsenter']) {
    const real = ['/usr/bin', '/usr/sbin', '/bin', '/sbin']
      .map((d) => join(d, tool))
      .find((p) => {
        try {
          readFileSync(p, {length: 1})
          return true
        } catch {
          return false
        }
      })
    writeFileSync(join(dir, tool), `#!/bin/sh\necho ${tool} >> ${join(dir, 'log')}\nexec ${real} "$@"\n`)
    chmodSync(join(dir, tool), 0o755)
  }
  return dir
}

function table(res, iterations) {
  const rows = Object.entries(res.latency).map(([label, v]) => ({
    label,
    addP50: pct(v.add, 50),
    addP95: pct(v.add, 95),
    delP50: pct(v.del, 50),
    delP95: pct(v.del, 95),
    totP50: pct(v.total, 50),
    totP95: pct(v.total, 95),
    // Mean, not p50: the kernel counts CPU time in 10 ms ticks.
    addCpu: v.addCpu.reduce((a, b) => a + b, 0) / v.addCpu.length,
  }))
  const f = (x) => (x === undefined ? '-' : x.toFixed(1).padStart(7))
  const lines = [`ADD+DEL latency, ${iterations} iterations each (ms)`, '']
  lines.push(
    `${'plugin'.padEnd(40)} ${'ADD p50'.padStart(7)} ${'ADD p95'.padStart(7)} ${'DEL p50'.padStart(7)} ${'DEL p95'.padStart(7)} ${'sum p50'.padStart(7)} ${'sum p95'.padStart(7)} ${'ADD CPU'.padStart(7)}  execs/ADD`,
  )
  for (const r of rows) {
    const ex = res.execs[r.label]
      ? Object.entries(res.execs[r.label])
          .map(([k, n]) => `${k}×${n}`)
          .join(' ') || 'none'
      : ''
    lines.push(
      `${r.label.padEnd(40)} ${f(r.addP50)} ${f(r.addP95)} ${f(r.delP50)} ${f(r.delP95)} ${f(r.totP50)} ${f(r.totP95)} ${f(r.addCpu)}  ${ex}`,
    )
  }
  const by = Object.fromEntries(rows.map((r) => [r.label, r]))
  const floor = by['node -e 0 (floor)'].totP50
  const bridge = by['bridge + host-local (Go)'].totP50
  lines.push('')
  // Each ADD and each DEL starts Node once, so the sum carries the floor twice.
  const bridgeAdd = by['bridge + host-local (Go)'].addP50
  for (const label of rows.map((r) => r.label).filter((l) => l.startsWith('cnidbg-ref'))) {
    const r = by[label]
    // Served, no Node starts per verb: the whole latency counts, with no floor taken off.
    const fl = label.includes('served') ? 0 : floor
    const minus = (n) => (fl ? ` − ${n === 2 ? '2×' : ''}${fl.toFixed(1)}` : '')
    const sum = (r.totP50 - 2 * fl) / bridge
    const add = (r.addP50 - fl) / bridgeAdd
    lines.push(
      `Target 1 [${label}]: ADD+DEL (${r.totP50.toFixed(1)}${minus(2)}) / ${bridge.toFixed(1)} = ${sum.toFixed(2)};` +
        ` ADD only (${r.addP50.toFixed(1)}${minus(1)}) / ${bridgeAdd.toFixed(1)} = ${add.toFixed(2)}  (goal ≤ 1)`,
    )
  }
  lines.push('')
  lines.push('Target 2: ADDs in parallel')
  const goBest = Math.max(
    ...Object.entries(res.parallel)
      .filter(([l]) => l.includes('(Go)'))
      .map(([, v]) => v.podsPerSec),
  )
  for (const [label, v] of Object.entries(res.parallel)) {
    const rel = label.includes('(Go)')
      ? ''
      : `  (${(goBest / v.podsPerSec).toFixed(2)}× slower than the best Go pair; goal ≤ 2)`
    lines.push(
      `  ${label.padEnd(40)} ${v.succeeded}/${v.n} ok, ${v.unique} unique addresses, ${v.wallMs.toFixed(0)} ms, ${v.podsPerSec.toFixed(1)} pods/s, ${v.cpuPerAdd.toFixed(0)} ms CPU per ADD${rel}`,
    )
    for (const e of v.errors) lines.push(`    error: ${String(e).slice(0, 200)}`)
  }
  const fl = res.parallelFloor
  if (fl) {
    lines.push(
      `  ${'node -e 0 (floor)'.padEnd(40)} ${fl.n} at once, ${fl.wallMs.toFixed(0)} ms, ${fl.perSec.toFixed(1)} starts/s, ${fl.cpuPerRun.toFixed(0)} ms CPU each  (${(goBest / fl.perSec).toFixed(2)}× the best Go pair's time: what any Node plugin starts from)`,
    )
  }
  return lines.join('\n')
}

async function main() {
  const iterations = Number(arg('iterations', '30'))
  const parallel = Number(arg('parallel', '100'))
  const work = mkdtempSync(join(tmpdir(), 'cnidbg-bench-'))
  const netns = await loadSandbox(work)
  netns.installSignalCleanup()
  const unregister = netns.onCleanup('bench temp dir', () => rmSync(work, {recursive: true, force: true}))
  let sb
  try {
    const {bundlePlugins} = await import(pathToFileURL(join(root, 'scripts/bundle-plugins.mjs')).href)
    const pluginDir = join(work, 'plugins')
    await bundlePlugins({outDir: pluginDir})
    sb = await netns.Sandbox.create({label: 'bench'})
    const pods = []
    for (let i = 0; i < 4; i++) pods.push((await sb.addNetns(`p${i}`)).path)
    const parallelPods = []
    for (let i = 0; i < parallel; i++) parallelPods.push((await sb.addNetns(`q${i}`)).path)
    const ranges = (n) => [[{subnet: `10.${200 + n}.0.0/16`}]]
    const plugins = [
      {
        label: 'cnidbg-ref + cnidbg-ipam (standalone)',
        file: join(pluginDir, 'cnidbg-ref'),
        cniPath: pluginDir,
        conf: {cniVersion: '1.0.0', name: 'bref', type: 'cnidbg-ref', ipam: {type: 'cnidbg-ipam', ranges: ranges(0)}},
        parallel: true,
      },
      {
        // The same file, with a plugin server (cnidbg-ref --serve) running in the sandboxed host.
        label: 'cnidbg-ref + cnidbg-ipam (served)',
        file: join(pluginDir, 'cnidbg-ref'),
        cniPath: pluginDir,
        conf: {cniVersion: '1.0.0', name: 'brefs', type: 'cnidbg-ref', ipam: {type: 'cnidbg-ipam', ranges: ranges(4)}},
        parallel: true,
        served: true,
      },
      {
        label: 'cnidbg-ref + cnidbg-ipam (IPAM exec)',
        file: join(pluginDir, 'cnidbg-ref'),
        cniPath: pluginDir,
        env: {CNIDBG_REF_DELEGATE: 'exec'},
        conf: {cniVersion: '1.0.0', name: 'brefx', type: 'cnidbg-ref', ipam: {type: 'cnidbg-ipam', ranges: ranges(1)}},
      },
      {
        label: 'bridge + host-local (Go)',
        file: join(GO_CNI, 'bridge'),
        cniPath: GO_CNI,
        conf: {
          cniVersion: '1.0.0',
          name: 'bbr',
          type: 'bridge',
          bridge: 'cnidbgbr0',
          isGateway: true,
          ipam: {type: 'host-local', ranges: ranges(2)},
        },
        parallel: true,
      },
      {
        label: 'ptp + host-local (Go)',
        file: join(GO_CNI, 'ptp'),
        cniPath: GO_CNI,
        conf: {cniVersion: '1.0.0', name: 'bptp', type: 'ptp', ipam: {type: 'host-local', ranges: ranges(3)}},
        parallel: true,
      },
    ]
    const spec = {iterations, pods, parallelPods, plugins, path: process.env.PATH, shimDir: shims(join(work, 'shims'))}
    process.stderr.write(`bench: sandbox ${sb.id}, ${iterations} iterations, ${parallel} parallel ADDs…\n`)
    const r = await sb.run(process.execPath, [fileURLToPath(import.meta.url), '--driver'], {
      input: JSON.stringify(spec),
      timeoutMs: 30 * 60_000,
    })
    if (r.exitCode !== 0) throw new Error(`driver failed: ${r.stderr}`)
    const res = JSON.parse(r.stdout)
    if (process.argv.includes('--json')) process.stdout.write(JSON.stringify(res, null, 2) + '\n')
    else process.stdout.write(table(res, iterations) + '\n')
  } finally {
    if (sb) await sb.dispose()
    rmSync(work, {recursive: true, force: true})
    unregister()
  }
}

if (process.argv.includes('--driver')) await driver()
else await main()
