// NetworkPolicy enforcement end to end on the lab: from a kubectl change on the lab's API server to
// the rule being in every node's netfilter, written by the node daemons (their watch, compile and
// iptables-restore), with 100 policies over 50 pods (25 per node). bench/netpol.mjs measures the
// compile and apply alone; this adds the API server, the watch and the daemon's scheduling.
//
//  1. `kubectl apply` of all 100 policies at once, until every node holds the last policy's rules;
//  2. N times: `kubectl patch` one policy's port, until every node holding that policy's chain has
//     the new port (the figure issue "reprograms within 2 s of a change" is about);
//  3. N times: `kubectl apply` of a new deny-all ingress policy (app0's pods, tier db), until one
//     of them (on the first node) jumps to it, then `kubectl delete` it, until the jump is gone.
// The clock starts just before kubectl is spawned, so kubectl's own start-up (~0.3 s) is included;
// iptables-save is polled every 20 ms inside the node namespaces.
//
// Run as root after `npm run build`: node bench/netpol-e2e.mjs [--runs 10]. The lab (its own name)
// is removed at the end, also on failure or Ctrl-C.
import {execFile} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {dirname, join} from 'node:path'
import {performance} from 'node:perf_hooks'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'

const exec = promisify(execFile)
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const cli = process.env.CNIDBG_BIN ?? join(root, 'bin', 'run.js')
const runsAt = process.argv.indexOf('--runs')
const RUNS = runsAt > 0 ? Number(process.argv[runsAt + 1]) : 10
const LAB = `np${randomBytes(2).toString('hex')}`
const TIMEOUT_MS = 60_000

async function cnidbg(args) {
  const {stdout} = await exec(process.execPath, [cli, ...args, '--json'], {maxBuffer: 64 << 20, timeout: 900_000})
  return JSON.parse(stdout).result
}
let up
const kubectl = (args, input) =>
  new Promise((resolve, reject) => {
    const child = execFile('kubectl', ['--kubeconfig', up.kubeconfig, ...args], {timeout: 120_000}, (err, out) =>
      err ? reject(err) : resolve(out),
    )
    if (input !== undefined) child.stdin.end(input)
  })
const save = async (netns) =>
  (await exec('ip', ['netns', 'exec', netns, 'iptables-save', '-t', 'filter'], {maxBuffer: 64 << 20})).stdout

/** Polls every node's filter table until `cond(text, node)` holds on each of `nodes`; ms since t0. */
async function until(t0, nodes, cond) {
  const left = new Set(nodes)
  const deadline = t0 + TIMEOUT_MS
  while (left.size) {
    for (const n of [...left]) if (cond(await save(n.netns), n)) left.delete(n)
    if (!left.size) break
    if (performance.now() > deadline) throw new Error(`not programmed within ${TIMEOUT_MS} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
  return performance.now() - t0
}

const policy = (i, port) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: {namespace: 'default', name: `policy-${i}`},
  spec: {
    podSelector: {matchLabels: {app: `app${i % 10}`}},
    policyTypes: i % 3 === 0 ? ['Ingress', 'Egress'] : ['Ingress'],
    ingress: [
      {
        from: [{podSelector: {matchLabels: {tier: 'web'}}}, {namespaceSelector: {matchLabels: {team: 't1'}}}],
        ports: [{port}, {port: 'http'}],
      },
      {from: [{ipBlock: {cidr: '192.168.0.0/16', except: ['192.168.1.0/24']}}], ports: [{port: 9000, endPort: 9100}]},
    ],
    egress: [{to: [{namespaceSelector: {}, podSelector: {matchLabels: {tier: 'db'}}}], ports: [{port: 'http'}]}],
  },
})
const ruleOf = (i, port) => (text) =>
  text
    .split('\n')
    .some((l) => l.includes(`cnidbg-policy default/policy-${i} ingress rule 0`) && l.includes(`--dport ${port} `))

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (xs) => `median ${median(xs).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms (${xs.length} runs)`

process.on('SIGINT', () => cnidbg(['lab', 'down', '--name', LAB]).finally(() => process.exit(130)))
try {
  const t0 = performance.now()
  up = await cnidbg(['lab', 'up', '--name', LAB, '--nodes', '2', '--pods-per-node', '25'])
  console.log(`lab up (2 nodes, 50 pods): ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  // Labels as bench/netpol.mjs gives them: app0..app9, tier web/db, the namespace team t1.
  await kubectl(['label', 'namespace', 'default', 'team=t1', '--overwrite'])
  const pods = up.pods
  for (let i = 0; i < pods.length; i += 10) {
    await Promise.all(
      pods
        .slice(i, i + 10)
        .map((p, j) =>
          kubectl([
            'label',
            'pod',
            p.name,
            `app=app${(i + j) % 10}`,
            `tier=${(i + j) % 2 ? 'web' : 'db'}`,
            '--overwrite',
          ]),
        ),
    )
  }
  const nodes = up.nodes

  let t = performance.now()
  await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({apiVersion: 'v1', kind: 'List', items: Array.from({length: 100}, (_, i) => policy(i, 80))}),
  )
  const allMs = await until(t, nodes, ruleOf(99, 80))
  const counts = await Promise.all(
    nodes.map(async (n) => (await save(n.netns)).split('\n').filter((l) => l.startsWith('-A CNIDBG-NP-')).length),
  )
  console.log(`100 policies over 50 pods: ${counts.join(' + ')} rules on the nodes`)
  console.log(`kubectl apply of all 100 → every node programmed: ${allMs.toFixed(0)} ms`)

  // Nodes where policy-7 has a chain (it selects app7's pods).
  const holders = []
  for (const n of nodes) if (ruleOf(7, 80)(await save(n.netns))) holders.push(n)
  const changeMs = []
  const kubectlMs = []
  for (let r = 0; r < RUNS; r++) {
    const port = 81 + r
    t = performance.now()
    await kubectl([
      'patch',
      'networkpolicy',
      'policy-7',
      '--type',
      'json',
      '-p',
      JSON.stringify([{op: 'replace', path: '/spec/ingress/0/ports/0/port', value: port}]),
    ])
    kubectlMs.push(performance.now() - t)
    changeMs.push(await until(t, holders, ruleOf(7, port)))
  }
  console.log(`one policy changed (kubectl patch → ${holders.length} node(s) reprogrammed): ${fmt(changeMs)}`)
  console.log(`  of which kubectl patch itself (start-up to exit): ${fmt(kubectlMs)}`)

  const addMs = []
  const delMs = []
  const target = pods[0]
  const node = nodes.find((n) => n.name === target.node)
  for (let r = 0; r < RUNS; r++) {
    const name = `deny-${r}`
    // The jump from the pod's chain to the new policy's (the DROP's comment may cut the list of names).
    const has = (text) => text.includes(`--comment "cnidbg-policy default/${name} ingress" -j CNIDBG-NP-I-`)
    t = performance.now()
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: {namespace: 'default', name},
        spec: {podSelector: {matchLabels: {app: `app0`, tier: 'db'}}, policyTypes: ['Ingress']},
      }),
    )
    addMs.push(await until(t, [node], has))
    t = performance.now()
    await kubectl(['delete', 'networkpolicy', name])
    delMs.push(await until(t, [node], (text) => !has(text)))
  }
  console.log(`a deny-all policy added (kubectl apply → enforced on ${node.name}): ${fmt(addMs)}`)
  console.log(`and deleted (kubectl delete → gone from ${node.name}):        ${fmt(delMs)}`)
} finally {
  await cnidbg(['lab', 'down', '--name', LAB]).catch(() => {})
}
