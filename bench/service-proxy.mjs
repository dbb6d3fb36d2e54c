// The service proxy's cost per sync: building the rules (pure) and applying them with one
// iptables-restore in a throwaway namespace, for N Services of E endpoints each, a first sync (all
// chains new) and a second one after one endpoint changed (every chain rewritten, as kube-proxy's
// full sync does). Run after `npm run build`, as root. Prints a table; asserts nothing.
//   node bench/service-proxy.mjs [--services 10,100,1000] [--endpoints 3] [--runs 5]
import {performance} from 'node:perf_hooks'
import {parseArgs} from 'node:util'

import {createNetns, deleteNetns, netnsPath, runInNetns} from '../dist/netns/netns.js'
import {buildModel} from '../dist/service-proxy/model.js'
import {renderRestore} from '../dist/service-proxy/restore.js'
import {buildRules, parseExisting} from '../dist/service-proxy/rules.js'
import {ApiProxySource, ServiceProxy} from '../dist/service-proxy/proxy.js'
import {startApiServer} from '../dist/lab/apiserver/server.js'
import {KubeConfig} from '../dist/kube/client.js'

const {values} = parseArgs({
  options: {
    services: {type: 'string', default: '10,100,1000'},
    endpoints: {type: 'string', default: '3'},
    runs: {type: 'string', default: '5'},
  },
})
const sizes = values.services.split(',').map(Number)
const E = Number(values.endpoints)
const runs = Number(values.runs)

function world(n, shift) {
  const services = []
  const slices = []
  for (let i = 0; i < n; i++) {
    const name = `svc-${i}`
    services.push({
      metadata: {namespace: 'bench', name},
      spec: {clusterIP: `10.96.${i >> 8}.${(i & 255) + 1}`, ports: [{name: 'http', port: 80}]},
    })
    slices.push({
      metadata: {namespace: 'bench', name: `${name}-x`, labels: {'kubernetes.io/service-name': name}},
      addressType: 'IPv4',
      ports: [{name: 'http', port: 8080, protocol: 'TCP'}],
      endpoints: Array.from({length: E}, (_, j) => ({addresses: [`10.244.${(i + j + shift) % 250}.${(j % 250) + 2}`]})),
    })
  }
  return {services, slices}
}

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]
const ns = `cnidbg-bench-svcproxy-${process.pid}`
await createNetns(ns)
try {
  const path = netnsPath(ns)
  console.log('services  endpoints  rules(ms p50)  restore-first(ms p50)  restore-change(ms p50)  restore bytes')
  for (const n of sizes) {
    const build = []
    const first = []
    const change = []
    let bytes = 0
    for (let r = 0; r < runs; r++) {
      await runInNetns(path, 'iptables', ['-t', 'nat', '-F'])
      await runInNetns(path, 'iptables', ['-t', 'nat', '-X'])
      for (const [shift, into] of [
        [0, first],
        [1, change],
      ]) {
        const {services, slices} = world(n, shift)
        const saved = (await runInNetns(path, 'iptables-save', [], {maxOutputBytes: 256 * 1024 * 1024})).stdout
        let t0 = performance.now()
        const input = renderRestore(
          buildRules(buildModel(services, slices), {clusterCidr: '10.244.0.0/16'}, parseExisting(saved)),
        )
        if (shift === 0) build.push(performance.now() - t0)
        bytes = input.length
        t0 = performance.now()
        const res = await runInNetns(path, 'iptables-restore', ['--noflush', '-w', '5'], {input, timeoutMs: 600_000})
        if (res.exitCode !== 0) throw new Error(res.stderr)
        into.push(performance.now() - t0)
      }
    }
    console.log(
      `${String(n).padStart(8)}  ${String(E).padStart(9)}  ${pct(build, 50).toFixed(1).padStart(13)}  ${pct(first, 50).toFixed(1).padStart(21)}  ${pct(change, 50).toFixed(1).padStart(22)}  ${bytes}`,
    )
  }
  // End to end: a Service and a ready pod created in the API server (in-process, plain HTTP), the
  // endpoints controller's slice, the watch, and the proxy's restore, until the rule is in the namespace.
  const server = await startApiServer()
  const kc = new KubeConfig()
  kc.loadFromString(server.kubeconfigYaml())
  const source = new ApiProxySource(kc)
  const proxy = new ServiceProxy({node: 'bench', netnsPath: path, clusterCidr: '10.244.0.0/16', source, resyncMs: 0})
  source.onChange(() => proxy.changed())
  proxy.start()
  source.start()
  const lat = []
  try {
    server.store.create('nodes', undefined, {metadata: {name: 'n1'}})
    for (let r = 0; r < runs * 4; r++) {
      const t0 = performance.now()
      server.store.create('pods', 'default', {
        metadata: {name: `p${r}`, labels: {run: String(r)}},
        spec: {nodeName: 'n1', containers: [{name: 'c', image: 'none'}]},
      })
      server.store.patch(
        'pods',
        'default',
        `p${r}`,
        'merge',
        {status: {phase: 'Running', podIP: `10.244.9.${r + 2}`, conditions: [{type: 'Ready', status: 'True'}]}},
        {subresource: 'status'},
      )
      const svc = server.store.create('services', 'default', {
        metadata: {name: `s${r}`},
        spec: {selector: {run: String(r)}, ports: [{port: 80}]},
      })
      const want = `--to-destination 10.244.9.${r + 2}:80`
      for (;;) {
        const out = (await runInNetns(path, 'iptables-save', ['-t', 'nat'])).stdout
        if (out.includes(want) && out.includes(svc.spec.clusterIP)) break
        await new Promise((res) => setTimeout(res, 5))
      }
      lat.push(performance.now() - t0)
    }
  } finally {
    await proxy.stop()
    await source.stop()
    await server.close()
  }
  console.log(
    `\nService + ready pod created → DNAT rule in the node namespace (${lat.length} runs, polled every 5 ms): p50 ${pct(lat, 50).toFixed(0)} ms, p95 ${pct(lat, 95).toFixed(0)} ms, max ${Math.max(...lat).toFixed(0)} ms`,
  )
} finally {
  await deleteNetns(ns)
}
