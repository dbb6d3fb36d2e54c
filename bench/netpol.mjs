// NetworkPolicy enforcement cost: 100 policies over 50 pods (half of them on the measured node), in a
// namespace of its own. Measures the compile, the first apply, an apply after one policy changed (what
// a watch event costs the daemon) and an apply with nothing to change (the drift timer's cost).
// Needs `npm run build` (it imports dist/) and root. Usage: node bench/netpol.mjs [--runs 10]
import {randomBytes} from 'node:crypto'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('../', import.meta.url))
const {compilePolicies} = await import(`${root}dist/daemon/policy-compile.js`)
const {applyPolicies} = await import(`${root}dist/daemon/policy-apply.js`)
const {createNetns, deleteNetns} = await import(`${root}dist/netns/netns.js`)

const runsAt = process.argv.indexOf('--runs')
const RUNS = runsAt > 0 ? Number(process.argv[runsAt + 1]) : 10
const NS = `cnidbg-bench-np-${randomBytes(3).toString('hex')}`

const pods = Array.from({length: 50}, (_, i) => ({
  metadata: {namespace: `ns${i % 5}`, name: `pod${i}`, labels: {app: `app${i % 10}`, tier: i % 2 ? 'web' : 'db'}},
  spec: {
    nodeName: i % 2 ? 'node-0' : 'node-1',
    containers: [{name: 'c', ports: [{name: 'http', containerPort: 8000 + (i % 7)}]}],
  },
  status: {phase: 'Running', podIP: `10.244.${i % 2}.${10 + i}`},
}))
const namespaces = Array.from({length: 5}, (_, i) => ({metadata: {name: `ns${i}`, labels: {team: `t${i % 2}`}}}))
const policy = (i, port) => ({
  metadata: {namespace: `ns${i % 5}`, name: `policy-${i}`},
  spec: {
    podSelector: {matchLabels: {app: `app${i % 10}`}},
    policyTypes: i % 3 === 0 ? ['Ingress', 'Egress'] : ['Ingress'],
    ingress: [
      {
        _from: [{podSelector: {matchLabels: {tier: 'web'}}}, {namespaceSelector: {matchLabels: {team: 't1'}}}],
        ports: [{port}, {port: 'http'}],
      },
      {_from: [{ipBlock: {cidr: '192.168.0.0/16', except: ['192.168.1.0/24']}}], ports: [{port: 9000, endPort: 9100}]},
    ],
    egress: [{to: [{namespaceSelector: {}, podSelector: {matchLabels: {tier: 'db'}}}], ports: [{port: 'http'}]}],
  },
})
const policies = Array.from({length: 100}, (_, i) => policy(i, 80))
const input = (ps) => ({nodeName: 'node-0', policies: ps, pods, namespaces})

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const max = (xs) => Math.max(...xs)
const fmt = (xs) => `median ${median(xs).toFixed(1)} ms, max ${max(xs).toFixed(1)} ms`

await createNetns(NS)
try {
  const compileMs = []
  let compiled
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now()
    compiled = compilePolicies(input(policies))
    compileMs.push(performance.now() - t0)
  }
  const rules = compiled.chains.reduce((n, c) => n + c.rules.length, 0)
  let t0 = performance.now()
  await applyPolicies(NS, compiled)
  const firstMs = performance.now() - t0
  const changeMs = []
  const idleMs = []
  for (let i = 0; i < RUNS; i++) {
    // One policy changes its port: compile + apply, as after a watch event.
    const changed = policies.map((p, j) => (j === 7 ? policy(7, 81 + i) : p))
    t0 = performance.now()
    const plan = await applyPolicies(NS, compilePolicies(input(changed)))
    changeMs.push(performance.now() - t0)
    if (plan.changed.length !== 1) throw new Error(`expected one chain rewritten, got ${plan.changed.length}`)
    t0 = performance.now()
    const idle = await applyPolicies(NS, compilePolicies(input(changed)))
    idleMs.push(performance.now() - t0)
    if (idle.text !== undefined) throw new Error('an unchanged apply wrote something')
  }
  console.log(`100 policies, 50 pods (25 on the node): ${compiled.chains.length} chains, ${rules} rules`)
  console.log(`compile:                       ${fmt(compileMs)}`)
  console.log(`first apply:                   ${firstMs.toFixed(1)} ms`)
  console.log(`one policy changed (compile+apply): ${fmt(changeMs)}`)
  console.log(`nothing changed (compile+read):    ${fmt(idleMs)}`)
} finally {
  await deleteNetns(NS)
}
