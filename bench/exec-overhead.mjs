#!/usr/bin/env node
// What `cnidbg exec add` costs on top of the plugins' own run time, with the upstream bridge +
// host-local. "plugin ms" is the sum of every invocation's durationMs (as cnidbg measures it around
// the plugin process, including entering the sandbox); "overhead" is wall time minus that.
//   kept sandbox   ADD + DEL through the runtime ops, in one sandbox made once (the runtime alone)
//   execAdd --rm   the service in-process: sandbox + netns made, ADD, DEL, all removed
//   CLI --rm       `node bin/run.js exec add --rm --json` as a subprocess (adds node + oclif start-up)
// Prints a table; asserts nothing. Usage: npm run build && sudo node bench/exec-overhead.mjs [runs=10]
import {existsSync} from 'node:fs'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('../', import.meta.url))
const conf = `${root}test/fixtures-runtime/bridge.conflist`
if (!existsSync(`${root}dist/services/exec.js`)) {
  console.error('dist/ is not built: run `npm run build` first.')
  process.exit(2)
}
if (!existsSync('/usr/lib/cni/bridge')) {
  console.error('The upstream plugins are not in /usr/lib/cni (apt-get install containernetworking-plugins).')
  process.exit(2)
}
const {run, Sandbox} = await import(`${root}dist/netns/index.js`)
const {execAdd} = await import(`${root}dist/services/exec.js`)
const {addNetworkList, delNetworkList} = await import(`${root}dist/runtime/ops.js`)
const {loadConfFile} = await import(`${root}dist/runtime/conf.js`)

const runs = Number(process.argv[2] ?? 10)
const cniPath = ['/usr/lib/cni']
const sum = (invocations) => invocations.reduce((a, i) => a + i.durationMs, 0)
const p50 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]

async function keptSandbox() {
  const sb = await Sandbox.create({label: 'bench'})
  try {
    const ns = await sb.addNetns('ctr')
    const list = loadConfFile(conf)
    const ctx = {cacheDir: sb.hostPath('/var/lib/cni'), cniPath, executor: sb.run.bind(sb), timeoutMs: 30_000}
    const out = []
    for (let i = 0; i <= runs; i++) {
      const rt = {args: [], capabilityArgs: {}, containerId: `bench-${i}`, ifname: 'eth0', netns: ns.path}
      const t0 = performance.now()
      const add = await addNetworkList(list, rt, ctx)
      const del = await delNetworkList(list, rt, ctx)
      const wall = performance.now() - t0
      if (!add.ok || !del.ok) throw new Error(add.failure ?? del.failure)
      if (i > 0) out.push({plugin: sum([...add.outcomes, ...del.outcomes].map((o) => o.invocation)), wall})
    }
    return out
  } finally {
    await sb.dispose()
  }
}

async function serviceRm() {
  const out = []
  for (let i = 0; i <= runs; i++) {
    const t0 = performance.now()
    const r = await execAdd({cniPath, conf, ifname: 'eth0', rm: true, timeoutSeconds: 30})
    const wall = performance.now() - t0
    if (!r.ok) throw new Error(r.failure)
    if (i > 0) out.push({plugin: sum(r.invocations), wall})
  }
  return out
}

async function cliRm() {
  const out = []
  for (let i = 0; i <= runs; i++) {
    const t0 = performance.now()
    const r = await run(
      process.execPath,
      [`${root}bin/run.js`, 'exec', 'add', '--conf', conf, '--cni-path', cniPath.join(':'), '--rm', '--json'],
      {timeoutMs: 60_000},
    )
    const wall = performance.now() - t0
    if (r.exitCode !== 0) throw new Error(r.stderr)
    if (i > 0) out.push({plugin: sum(JSON.parse(r.stdout).result.invocations), wall})
  }
  return out
}

const rows = []
for (const [name, fn] of [
  ['kept sandbox (ops)', keptSandbox],
  ['execAdd --rm (service)', serviceRm],
  ['CLI exec add --rm', cliRm],
]) {
  const xs = await fn()
  const wall = p50(xs.map((x) => x.wall))
  const plugin = p50(xs.map((x) => x.plugin))
  rows.push({
    mode: name,
    runs,
    'wall p50 ms': wall.toFixed(1),
    'plugin p50 ms': plugin.toFixed(1),
    'overhead p50 ms': p50(xs.map((x) => x.wall - x.plugin)).toFixed(1),
    'overhead %': ((100 * p50(xs.map((x) => x.wall - x.plugin))) / wall).toFixed(0),
  })
}
console.table(rows)
console.log(
  'plugin ms = ADD + DEL invocations (bridge, which runs host-local itself), measured around each plugin process.',
)
