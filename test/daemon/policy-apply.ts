// NetworkPolicy enforcement on real iptables: a node namespace with two pods (routed veths whose node
// ends are named cnidbg…, as cnidbg-ref names them) and an outside host, built with plain `ip`. Flows
// the policies allow connect; flows they deny do not, and the DROP rule's counter grows and its
// comment names the policy. Also: the comment quoting against the real iptables-restore/-save, and
// that applying twice changes nothing.
import {randomBytes} from 'node:crypto'

import fc from 'fast-check'
import t from 'tap'

import {
  createNetns,
  deleteNetns,
  inNetnsArgv,
  ipBatch,
  ownMarker,
  removeMarker,
  runInNetns,
  runOk,
  writeMarker,
} from '../../src/netns/index.js'
import {runUntilReady} from '../../src/process/exec.js'
import {parseIptablesSave, tokenize} from '../../src/kernel/netfilter.js'
import type {V1NetworkPolicy, V1Pod} from '../../src/kube/client.js'
import {type CompiledPolicies, compilePolicies} from '../../src/daemon/policy-compile.js'
import {applyPolicies, planRestore, readFilterTable} from '../../src/daemon/policy-apply.js'
import {decodeComment, encodeComment, type Rule} from '../../src/daemon/policy-rules.js'

const id = randomBytes(3).toString('hex')
const prefix = `cnidbg-netpol-${id}`
const NODE_NS = `${prefix}-n`
const A_NS = `${prefix}-a`
const B_NS = `${prefix}-b`
const X_NS = `${prefix}-x`
const A = '10.244.0.10'
const B = '10.244.0.11'
const X = '192.168.5.5'
const PORTS = [8080, 9090]

const marker = ownMarker(`netpol-${id}`, 'NetworkPolicy apply test')
writeMarker(marker)
const created: string[] = []
t.teardown(async () => {
  for (const ns of created.reverse()) await deleteNetns(ns).catch(() => {})
  removeMarker(marker.id)
})

const mk = async (name: string) => {
  await createNetns(name)
  created.push(name)
}

async function pod(ns: string, hostIf: string, ip: string): Promise<void> {
  await mk(ns)
  await ipBatch([`link add ${hostIf} type veth peer name eth0 netns ${ns}`, 'link set lo up'], NODE_NS)
  await ipBatch(
    [
      `addr add ${ip}/32 dev eth0`,
      'link set eth0 up',
      'link set lo up',
      'route add 10.244.0.1 dev eth0',
      'route add default via 10.244.0.1 dev eth0',
    ],
    ns,
  )
  await ipBatch(
    [`addr add 10.244.0.1/32 dev ${hostIf}`, `link set ${hostIf} up`, `route add ${ip}/32 dev ${hostIf}`],
    NODE_NS,
  )
}

const podObj = (name: string, ip: string, labels: Record<string, string>): V1Pod => ({
  metadata: {namespace: 'default', name, labels},
  spec: {nodeName: 'node-0', containers: [{name: 'c', ports: [{name: 'http', containerPort: 8080}]}]},
  status: {phase: 'Running', podIP: ip},
})
const PODS = [podObj('a', A, {app: 'client'}), podObj('b', B, {app: 'web'})]
const np = (name: string, spec: V1NetworkPolicy['spec']): V1NetworkPolicy => ({
  metadata: {namespace: 'default', name},
  spec,
})

const compile = (policies: V1NetworkPolicy[]) =>
  compilePolicies({nodeName: 'node-0', policies, pods: PODS, namespaces: [{metadata: {name: 'default'}}]})

const CLIENT = `
const [host, port, ms] = process.argv.slice(1)
const s = require('node:net').connect({host, port: Number(port), timeout: Number(ms)})
s.on('connect', () => { process.stdout.write('ok'); process.exit(0) })
s.on('timeout', () => { process.stdout.write('timeout'); process.exit(1) })
s.on('error', (e) => { process.stdout.write(e.code ?? 'error'); process.exit(1) })
`
const LISTENER = `
const net = require('node:net')
const ports = process.argv.slice(1).map(Number)
let up = 0
for (const p of ports) net.createServer((s) => s.end()).listen(p, '0.0.0.0', () => { if (++up === ports.length) console.log('ready') })
process.stdin.on('end', () => process.exit(0)).resume()
`
const nodeEnv = {NODE_OPTIONS: ''}

/** Connects from `ns` to ip:port. An allowed flow gets 30 s (only a failure waits that long). */
async function connect(ns: string, ip: string, port: number, ms: number): Promise<string> {
  const r = await runInNetns(`/run/netns/${ns}`, process.execPath, ['-e', CLIENT, ip, String(port), String(ms)], {
    env: nodeEnv,
    timeoutMs: ms + 30_000,
  })
  return r.stdout.trim()
}

/** The DROP rules of our chains with their counters and comments. */
async function drops(): Promise<Array<{chain: string; comment: string; packets: number}>> {
  const r = await runOk('nsenter', [`--net=/run/netns/${NODE_NS}`, '--', 'iptables-save', '-c', '-t', 'filter'])
  const out: Array<{chain: string; comment: string; packets: number}> = []
  for (const [chain, rules] of parseIptablesSave(r.stdout).tables.get('filter')!.rules) {
    for (const rule of rules) {
      if (rule.tokens.at(-1) !== 'DROP') continue
      const i = rule.tokens.indexOf('--comment')
      out.push({chain, comment: decodeComment(rule.tokens[i + 1]!), packets: rule.packets ?? 0})
    }
  }
  return out
}

async function forwardRules(): Promise<string[]> {
  const text = await readFilterTable(NODE_NS)
  return text.split('\n').filter((l) => l.startsWith('-A FORWARD') || l.startsWith(':'))
}

/** Runs `fn` while `ns` listens on PORTS. */
async function listening<T>(ns: string, fn: () => Promise<T>): Promise<T> {
  const argv = inNetnsArgv({path: `/run/netns/${ns}`}, [process.execPath, '-e', LISTENER, ...PORTS.map(String)])
  const prev = process.env.NODE_OPTIONS
  process.env.NODE_OPTIONS = ''
  try {
    return await runUntilReady(argv[0]!, argv.slice(1), () => fn(), {timeoutMs: 60_000})
  } finally {
    process.env.NODE_OPTIONS = prev
  }
}

t.before(async () => {
  await mk(NODE_NS)
  await runOk('nsenter', [`--net=/run/netns/${NODE_NS}`, '--', 'sysctl', '-qw', 'net.ipv4.ip_forward=1'])
  await pod(A_NS, 'cnidbgnpa', A)
  await pod(B_NS, 'cnidbgnpb', B)
  await mk(X_NS)
  await ipBatch(
    ['link add ext0 type veth peer name eth0 netns ' + X_NS, 'addr add 192.168.5.1/24 dev ext0', 'link set ext0 up'],
    NODE_NS,
  )
  await ipBatch(
    [`addr add ${X}/24 dev eth0`, 'link set eth0 up', 'link set lo up', 'route add default via 192.168.5.1'],
    X_NS,
  )
})

t.test('policies allow and deny real flows; the DROP counts and names the policy', async (t) => {
  const original = await forwardRules()
  t.same(await applyPolicies(NODE_NS, compile([])).then((p) => p.jump), 'none', 'no policy: nothing written')

  await listening(B_NS, async () => {
    await listening(X_NS, async () => {
      t.equal(await connect(A_NS, B, 8080, 30_000), 'ok', 'a → b:8080 with no policy')

      const allow = np('allow-client-http', {
        podSelector: {matchLabels: {app: 'web'}},
        ingress: [{_from: [{podSelector: {matchLabels: {app: 'client'}}}], ports: [{port: 'http'}]}],
      })
      const first = await applyPolicies(NODE_NS, compile([allow]))
      t.equal(first.jump, 'add')
      t.ok(first.changed.length >= 3, `chains written: ${first.changed.join(', ')}`)
      t.equal(await connect(A_NS, B, 8080, 30_000), 'ok', 'a → b:8080 (named port http) allowed')

      const before = await drops()
      t.equal(before.length, 1)
      t.equal(before[0]!.comment, 'cnidbg-policy default-deny ingress default/b by default/allow-client-http')
      t.equal(await connect(X_NS, B, 8080, 1500), 'timeout', 'outside host → b:8080 denied')
      t.equal(await connect(A_NS, B, 9090, 1500), 'timeout', 'a → b:9090 denied (not the named port)')
      const after = await drops()
      t.ok(after[0]!.packets > before[0]!.packets, `the DROP counted ${after[0]!.packets} packets`)

      // Applying the same policies again writes nothing, and the counters stay.
      const again = await applyPolicies(NODE_NS, compile([allow]))
      t.equal(again.text, undefined, 'idempotent')
      t.equal(again.changed.length, 0)
      t.equal((await drops())[0]!.packets, after[0]!.packets, 'counters kept')

      // Egress of a: only to the outside block minus .5, so .5 and b are now denied by a's egress.
      const egress = np('client-out', {
        podSelector: {matchLabels: {app: 'client'}},
        policyTypes: ['Egress'],
        egress: [{to: [{ipBlock: {cidr: '192.168.5.0/24', except: [`${X}/32`]}}]}],
      })
      const second = await applyPolicies(NODE_NS, compile([allow, egress]))
      t.ok(second.inSync >= 1, 'the unchanged policy chain is kept as it was')
      t.equal(await connect(A_NS, X, 8080, 1500), 'timeout', 'a → outside .5 denied (except)')
      const d = await drops()
      const egressDrop = d.find((x) => x.comment.includes('egress'))!
      t.equal(egressDrop.comment, 'cnidbg-policy default-deny egress default/a by default/client-out')
      t.ok(egressDrop.packets > 0)
      t.equal(
        await connect(X_NS, A, 8080, 1500),
        'ECONNREFUSED',
        'outside → a: a has no ingress policy (refused by a, not dropped)',
      )

      // Removing the policies restores the node's FORWARD chain and every flow.
      const gone = await applyPolicies(NODE_NS, compile([]))
      t.equal(gone.jump, 'remove')
      t.same(await forwardRules(), original, 'FORWARD and the chain list are as before')
      t.equal(await connect(X_NS, B, 8080, 30_000), 'ok', 'outside → b:8080 after removal')
      t.equal(await connect(A_NS, X, 8080, 30_000), 'ok', 'a → outside after removal')
    })
  })
})

t.test('comments: what iptables-restore stores and iptables-save prints decodes to the text', async (t) => {
  // Any text, control bytes, quotes, backslashes and non-ASCII included.
  const texts = fc
    .sample(fc.string({unit: 'binary', maxLength: 120}), {numRuns: 200, seed: 1405})
    .filter((s) => (s as unknown as {isWellFormed(): boolean}).isWellFormed())
  texts.push('', '"', '\\', '\n-A FORWARD -j ACCEPT', "'", '%', '#x', 'a'.repeat(400), '\u0000')
  const rules: Rule[] = texts.map((text) => ({match: [], comment: text, target: ['-j', 'RETURN']}))
  const compiled: CompiledPolicies = {
    chains: [
      {name: 'CNIDBG-NP-FORWARD', rules: []},
      {name: 'CNIDBG-NP-I-QUOTETEST', rules},
    ],
    policies: [],
    pods: [],
    problems: [],
  }
  await applyPolicies(NODE_NS, compiled)
  const saved = await readFilterTable(NODE_NS)
  const stored = parseIptablesSave(saved).tables.get('filter')!.rules.get('CNIDBG-NP-I-QUOTETEST')!
  t.equal(stored.length, texts.length)
  let exact = 0
  for (const [i, text] of texts.entries()) {
    const words = stored[i]!.tokens
    const comment = words[words.indexOf('--comment') + 1]!
    if (comment !== encodeComment(text)) t.fail(`comment ${i} ${JSON.stringify(text)} came back as ${comment}`)
    const back = decodeComment(comment)
    if (back === text) exact++
    else
      t.ok(
        comment.endsWith('...') && text.startsWith(decodeComment(comment.slice(0, -3))),
        `cut: ${JSON.stringify(text)}`,
      )
    t.same(words.slice(-2), ['-j', 'RETURN'])
  }
  t.ok(exact >= texts.length - 10, `${exact} of ${texts.length} round-trip exactly (the rest were cut to 255 bytes)`)
  t.equal(planRestore(compiled, saved).text, undefined, 'the saved form compares equal: nothing to rewrite')
  t.same(tokenize('a "b c" d'), ['a', 'b c', 'd'])
  await applyPolicies(NODE_NS, {chains: [], policies: [], pods: [], problems: []})
  t.notMatch(await readFilterTable(NODE_NS), /CNIDBG-NP-/, 'all removed')
})
