// lab break and lab heal on a lab that is a state file, an in-process API server, a stand-in for the
// supervisor's control socket and hand-made namespaces (one node, one pod whose eth0 is a veth to the node): what a
// break or heal leaves when it is interrupted (`lab break`/`lab heal` run as the CLI and get a SIGINT
// at a known point), and what heal does when the pod went away or another pod took its name. Nothing
// is built and no daemon runs, so this costs little; test/lab/up.ts has the faults on a real lab.
import {spawn} from 'node:child_process'
import {mkdirSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {labBreak, labHeal} from '../../src/lab/break.js'
import {startControlServer} from '../../src/lab/control.js'
import {labDown} from '../../src/lab/down.js'
import {labDir, nodeNetns, podNetns} from '../../src/lab/names.js'
import {type FaultRecord, type LabState, procRef, readLabState, writeLabState} from '../../src/lab/state.js'
import {startApiServer} from '../../src/lab/apiserver/server.js'
import {createNetns, deleteNetns, ipBatch, ipJson} from '../../src/netns/netns.js'
import {ROOT} from '../helpers/capture.js'
import {standInLabState, standInNode, testLabName} from '../helpers/lab.js'

t.setTimeout(300_000)

const name = testLabName()
const dir = labDir(name)
const node1 = nodeNetns(name, 'node1')
const podB = podNetns(name, 'node1', 'default', 'pod-b')

const api = await startApiServer()
const sleeps = [0, 1].map(() => spawn('sleep', ['3600'], {stdio: 'ignore'}))
/** What the stand-in supervisor was asked (`stop node1`, `start node1`), and what it does before it answers. */
const daemonCalls: string[] = []
let beforeAnswer: () => Promise<void> = async () => {}
const socket = join(dir, 'control.sock')
mkdirSync(dir, {recursive: true, mode: 0o700})
const control = await startControlServer(socket, async (method, path) => {
  const m = /^\/daemons\/([^/]+)\/(start|stop)$/.exec(path)
  if (method !== 'POST' || !m) return {status: 404, body: {error: 'no such route'}}
  daemonCalls.push(`${m[2]} ${m[1]}`)
  await beforeAnswer()
  return {status: 200, body: {ok: true}}
})
t.teardown(async () => {
  await control.close()
  await api.close()
  await labDown({name}).catch(() => undefined)
  for (const s of sleeps) s.kill('SIGKILL')
})

const [apiProc, supProc] = sleeps.map((s) => procRef(s.pid!))
const kubeconfig = join(dir, 'kubeconfig')
api.writeKubeconfig(kubeconfig)
const state: LabState = standInLabState(name, {
  nodes: [standInNode(name, join(dir, 'node1'))],
  apiserver: apiProc,
  supervisor: supProc,
})
writeLabState(state)
await createNetns(node1)

/** Pod pod-b on node1 with `ip`, in the API and as a namespace whose eth0 (a veth to the node) has it; its UID. */
// A new peer name each time: the peer of a deleted namespace's veth goes a moment later.
let made = 0
async function makePodB(ip: string): Promise<string> {
  const pod = api.store.create('pods', 'default', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {name: 'pod-b', namespace: 'default', labels: {app: 'web'}},
    spec: {nodeName: 'node1', containers: [{name: 'c', image: 'x'}]},
  })
  api.store.update('pods', 'default', 'pod-b', {...pod, status: {phase: 'Running', podIP: ip}}, {subresource: 'status'})
  await createNetns(podB)
  await ipBatch(
    [
      `link add eth0 type veth peer name veth-b${++made} netns ${node1}`,
      `addr add ${ip}/24 dev eth0`,
      'link set eth0 up',
    ],
    podB,
  )
  return pod.metadata.uid!
}

async function removePodB(): Promise<void> {
  api.store.delete('pods', 'default', 'pod-b')
  await deleteNetns(podB)
}

const labels = () => api.store.get('pods', 'default', 'pod-b')?.metadata.labels ?? {}
const policies = () => [...api.store.values('networkpolicies')].map((p) => p.metadata.name)
const faults = (): FaultRecord[] => readLabState(name)!.faults

/**
 * Runs `cnidbg <args>` (the build, as a user runs it) and sends it SIGINT once `ready` says the point
 * to interrupt it at was reached; `ready` is polled while the command waits on something that takes
 * far longer (an answer the stand-in holds back, a daemon that never writes the policy's DROP).
 */
async function interrupted(args: string[], ready: () => boolean): Promise<{code: number | null; stderr: string}> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'run.js'), ...args], {stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  let done = false
  void exited.then(() => (done = true))
  while (!done && !ready()) await new Promise((r) => setTimeout(r, 20))
  if (done) throw new Error(`cnidbg ${args.join(' ')} ended before the point to interrupt it: ${stderr}`)
  child.kill('SIGINT')
  return {code: await exited, stderr}
}

/** The stand-in supervisor holds its answers back until released (after the asking command was interrupted). */
function holdDaemonAnswers(): {release: () => void; asked: () => boolean} {
  let release = () => {}
  const gate = new Promise<void>((r) => (release = r))
  let asked = false
  beforeAnswer = async () => {
    asked = true
    await gate
  }
  return {
    release: () => {
      beforeAnswer = async () => {}
      release()
    },
    asked: () => asked,
  }
}

t.test('a lab break interrupted after it stopped the daemon leaves a record that heal undoes', async (t) => {
  daemonCalls.length = 0
  const hold = holdDaemonAnswers()
  const r = await interrupted(['lab', 'break', 'daemon-stopped', '--name', name, '--node', 'node1'], hold.asked)
  hold.release()
  t.equal(r.code, 130, r.stderr)
  t.same(daemonCalls, ['stop node1'])
  t.match(faults(), [{fault: 'daemon-stopped', node: 'node1', stopsDaemon: true}], 'the fault is recorded')
  const healed = await labHeal({name})
  t.same(healed.daemonsStarted, ['node1'], 'heal starts the daemon again')
  t.same(daemonCalls, ['stop node1', 'start node1'])
  t.same(faults(), [])
})

t.test('a lab heal interrupted before the daemon started again keeps the record', async (t) => {
  daemonCalls.length = 0
  await labBreak({name, fault: 'daemon-stopped', node: 'node1'})
  const hold = holdDaemonAnswers()
  const r = await interrupted(['lab', 'heal', '--name', name], hold.asked)
  hold.release()
  t.equal(r.code, 130, r.stderr)
  t.same(daemonCalls, ['stop node1', 'start node1'])
  t.match(faults(), [{fault: 'daemon-stopped', node: 'node1'}], 'the record that stopped the daemon is still there')
  t.same((await labHeal({name})).daemonsStarted, ['node1'])
  t.same(faults(), [])
})

t.test('a lab break interrupted while it applies the fault leaves a record that heal undoes', async (t) => {
  await makePodB('10.244.1.5')
  t.teardown(removePodB)
  // No daemon writes the policy's DROP: the break waits for it until interrupted.
  const r = await interrupted(
    ['lab', 'break', 'policy-deny-ingress', '--name', name, '--pod', 'pod-b'],
    () => policies().length > 0,
  )
  t.equal(r.code, 130, r.stderr)
  t.ok(
    Object.keys(labels()).some((k) => k.startsWith('cnidbg.dev/lab-fault-')),
    'pod-b got the fault label',
  )
  t.match(faults(), [{fault: 'policy-deny-ingress', pod: 'pod-b', undo: {policy: policies()[0]}}])
  const healed = await labHeal({name})
  t.same(healed.failed, [])
  t.same(policies(), [], 'the NetworkPolicy is gone')
  t.same(labels(), {app: 'web'}, "and pod-b's label")
  t.same(faults(), [])
})

t.test('heal after the pod was deleted still deletes the NetworkPolicy', async (t) => {
  const uid = await makePodB('10.244.1.5')
  // A policy fault as a finished lab break records it (a daemon would have enforced it meanwhile).
  const policy = 'cnidbg-lab-fault-deny-ingress-abc123'
  const label = 'cnidbg.dev/lab-fault-abc123'
  api.store.create('networkpolicies', 'default', {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {name: policy, namespace: 'default'},
    spec: {podSelector: {matchLabels: {[label]: 'deny'}}, policyTypes: ['Ingress']},
  })
  const s = readLabState(name)!
  s.faults.push({
    id: 'beef',
    fault: 'policy-deny-ingress',
    node: 'node1',
    pod: 'pod-b',
    podNamespace: 'default',
    podUid: uid,
    appliedAt: new Date().toISOString(),
    stopsDaemon: false,
    undo: {policy, namespace: 'default', label, direction: 'Ingress'},
    summary: 'NetworkPolicy default/' + policy,
  })
  writeLabState(s)
  await removePodB()
  const healed = await labHeal({name})
  t.same(
    healed.healed.map((h) => h.id),
    ['beef'],
  )
  t.same(policies(), [], 'the NetworkPolicy is gone with the fault')
  t.same(faults(), [])
})

t.test('heal of a pod fault leaves alone another pod that took the name', async (t) => {
  await makePodB('10.244.1.5')
  const applied = await labBreak({name, fault: 'pod-address-removed', pod: 'pod-b'})
  t.match(faults(), [{id: applied.id, podUid: /^[0-9a-f-]{36}$/}])
  // pod-b is deleted and created again: a new UID, a new namespace, another address.
  await removePodB()
  await makePodB('10.244.1.9')
  t.teardown(removePodB)
  const healed = await labHeal({name})
  t.same(
    healed.healed.map((h) => h.id),
    [applied.id],
    'the record goes',
  )
  t.same(healed.failed, [])
  const [eth0] = await ipJson<Array<{addr_info: Array<{family: string; local: string}>}>>(
    ['addr', 'show', 'dev', 'eth0'],
    podB,
  )
  t.same(
    eth0!.addr_info.filter((a) => a.family === 'inet').map((a) => a.local),
    ['10.244.1.9'],
    "the new pod-b has only its own address: the old pod's was not added to it",
  )
  t.same(faults(), [])
})
