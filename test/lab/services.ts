// Integration: Services on a 2-node lab, through the real kubectl. The endpoints controller lists the
// labelled pod, each node's service proxy programs kube-proxy's layout in its own namespace (the
// root namespace stays untouched), a pod reaches the ClusterIP and lands on the endpoint pod on the
// other node, and a Service without endpoints is REJECTed (connection refused), as kube-proxy does.
import t from 'tap'

import {labDown} from '../../src/lab/down.js'
import {podNetns} from '../../src/lab/names.js'
import {readLabState} from '../../src/lab/state.js'
import {type LabUpPod} from '../../src/lab/up.js'
import {run, runOk} from '../../src/process/exec.js'
import {runInNetns, netnsPath} from '../../src/netns/netns.js'
import {eventually} from '../helpers/machine.js'
import {bundleLabLibexec, tcpOk, testLabName, testLabUp} from '../helpers/lab.js'

t.setTimeout(2_400_000)

const rootRulesBefore = (await run('iptables-save', [])).stdout
const name = testLabName()
const libexec = await bundleLabLibexec()
t.teardown(async () => {
  await labDown({name}).catch(() => undefined)
})

const up = await testLabUp({name, nodes: 2, podsPerNode: 1, mode: 'vxlan', libexec})
const state = readLabState(name)!
const pod = (n: string): LabUpPod => up.pods.find((p) => p.name === n)!
const ns = (p: LabUpPod): string => podNetns(name, p.node, p.namespace, p.name)
const kubectl = (args: string[], input?: string) =>
  runOk('kubectl', ['--kubeconfig', up.kubeconfig, ...args], {input, timeoutMs: 120_000})
const nodeSave = async (node: string) =>
  (await runInNetns(netnsPath(state.nodes.find((n) => n.name === node)!.netns), 'iptables-save', [])).stdout

const [client, server] = [pod('pod-a'), pod('pod-b')]
t.not(client.node, server.node, 'client and endpoint on different nodes')

t.test('a pod reaches a ClusterIP and lands on the endpoint pod', async (t) => {
  await kubectl(['label', 'pod', server.name, 'serves=web'])
  await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {name: 'web', namespace: 'default'},
      spec: {selector: {serves: 'web'}, ports: [{name: 'http', port: 80, targetPort: 8080}]},
    }),
  )
  const svc = JSON.parse((await kubectl(['get', 'svc', 'web', '-o', 'json'])).stdout)
  const vip: string = svc.spec.clusterIP
  t.match(vip, /^10\.(9[6-9]|10[0-9]|11[01])\./, `ClusterIP ${vip} from 10.96.0.0/12`)
  const slices = JSON.parse(
    (await kubectl(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=web', '-o', 'json'])).stdout,
  )
  t.match(slices.items[0], {
    endpoints: [{addresses: [server.ip], conditions: {ready: true}, nodeName: server.node}],
    ports: [{name: 'http', port: 8080}],
  })

  // Both nodes' proxies program it, in their own namespace.
  for (const node of state.nodes.map((n) => n.name)) {
    const ok = await eventually(async () => (await nodeSave(node)).includes(`-d ${vip}/32`))
    t.ok(ok, `${node}: the ClusterIP is programmed`)
  }
  const save = await nodeSave(client.node)
  const svcChain =
    /-A KUBE-SERVICES -d [\d.]+\/32 -p tcp -m comment --comment "default\/web:http cluster IP" -m tcp --dport 80 -j (KUBE-SVC-[A-Z2-7]{16})/.exec(
      save,
    )
  t.ok(svcChain, svcChain ? 'KUBE-SERVICES jumps to a KUBE-SVC chain' : `no KUBE-SVC jump in:\n${save}`)
  t.match(
    save,
    new RegExp(`-A ${svcChain?.[1]} -m comment --comment "default/web:http -> ${server.ip}:8080" -j KUBE-SEP-`),
  )
  t.match(save, new RegExp(`-j DNAT --to-destination ${server.ip.replace(/\./g, '\\.')}:8080`))
  t.match(save, /-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/)
  t.match(save, /-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING/)

  // The listener is on the endpoint's own address and port only: the line it reads proves the DNAT.
  // (The client sends: a listener that answered could see the client's FIN first and quit before
  // writing, and a one-shot listener is then gone for every retry; helpers/lab.ts tcpOk.)
  t.ok(
    await tcpOk(ns(client), ns(server), vip, 80, 8080),
    `pod-a → ${vip}:80 landed on ${server.name} (${server.ip}:8080)`,
  )
  const ct = await runInNetns(netnsPath(state.nodes.find((n) => n.name === client.node)!.netns), 'iptables-save', [
    '-c',
    '-t',
    'nat',
  ])
  t.match(ct.stdout, /\[[1-9]\d*:\d+\] -A KUBE-SEP-\w+ -p tcp .*DNAT/, 'the DNAT rule counted the connection')
})

t.test('hairpin: the endpoint pod reaches itself through the ClusterIP (KUBE-SEP masquerades it)', async (t) => {
  const vip: string = JSON.parse((await kubectl(['get', 'svc', 'web', '-o', 'json'])).stdout).spec.clusterIP
  t.ok(await tcpOk(ns(server), ns(server), vip, 80, 8080), `${server.name} → ${vip}:80 → itself`)
})

t.test('a Service without endpoints is rejected, as kube-proxy does', async (t) => {
  await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {name: 'nobody', namespace: 'default'},
      spec: {selector: {app: 'nobody'}, ports: [{port: 81}]},
    }),
  )
  const vip: string = JSON.parse((await kubectl(['get', 'svc', 'nobody', '-o', 'json'])).stdout).spec.clusterIP
  const programmed = await eventually(async () =>
    (await nodeSave(client.node)).includes('--comment "default/nobody has no endpoints"'),
  )
  t.ok(programmed, 'the filter table REJECTs it')
  const r = await run('ip', ['netns', 'exec', ns(client), 'nc', '-v', '-N', '-w', '5', vip, '81'], {
    input: '',
    timeoutMs: 15_000,
  })
  t.not(r.exitCode, 0)
  t.match(r.stderr, /refused/i, `connection refused at once, not a timeout: ${r.stderr}`)

  // Deleting the Service removes its rules on every node.
  await kubectl(['delete', 'svc', 'nobody'])
  const gone = await eventually(async () => !(await nodeSave(client.node)).includes('default/nobody'))
  t.ok(gone, 'a deleted Service leaves no rule')
  await kubectl(['delete', 'svc', 'web'])
  const chainsGone = await eventually(async () => !/KUBE-S(VC|EP)-/.test(await nodeSave(client.node)))
  t.ok(chainsGone, 'nor KUBE-SVC/KUBE-SEP chains')
})

t.test('the root namespace is untouched', async (t) => {
  t.equal((await run('iptables-save', [])).stdout.replace(/^#.*\n/gm, ''), rootRulesBefore.replace(/^#.*\n/gm, ''))
})
