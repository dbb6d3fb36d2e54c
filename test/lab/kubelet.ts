// The kubelet stand-in in-process, against the lab API server in-process, on one hand-made node
// namespace whose only plugin is a stub script: a pod with the longest name Kubernetes allows gets a
// namespace (its name cut and hashed to fit), and does not keep the node's other pods from starting.
import {chmodSync, mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {KubeConfig} from '../../src/kube/client.js'
import {startApiServer} from '../../src/lab/apiserver/server.js'
import {Kubelet} from '../../src/lab/kubelet.js'
import {labDir, NETNS_NAME_MAX, podNetns} from '../../src/lab/names.js'
import {writeLabState} from '../../src/lab/state.js'
import {createNetns, deleteNetns, listNetns, netnsExists} from '../../src/netns/netns.js'
import {standInLabState, standInNode, testLabName} from '../helpers/lab.js'
import {eventually} from '../helpers/machine.js'

t.setTimeout(120_000)

const lab = testLabName()
const dir = t.testdir({})
const nodeDir = join(dir, 'node1')
const node = standInNode(lab, nodeDir)
for (const d of [node.binDir, node.confDir, node.varLibCni, node.runCni]) mkdirSync(d, {recursive: true})
// ADD answers with an address and changes nothing; DEL and the rest succeed.
writeFileSync(
  join(node.binDir, 'stub'),
  `#!/bin/sh\ncat > /dev/null\n[ "$CNI_COMMAND" = ADD ] && echo '{"cniVersion":"1.0.0","ips":[{"address":"10.244.1.7/24"}]}'\nexit 0\n`,
)
chmodSync(join(node.binDir, 'stub'), 0o755)
writeFileSync(node.confFile, JSON.stringify({cniVersion: '1.0.0', name: 'cnidbg', plugins: [{type: 'stub'}]}))
// The lab's name prefixes these namespaces, and a lab reaper in another test file (any lab up or
// down) takes the namespaces of a lab without a state for a crashed lab's leftovers: so the lab is
// registered, held by this process (reapers leave a held lab alone).
const labState = labDir(lab)
mkdirSync(labState, {recursive: true, mode: 0o700})
writeLabState(standInLabState(lab, {nodes: [node]}))
await createNetns(node.netns)

const api = await startApiServer()
const kc = new KubeConfig()
kc.loadFromString(api.kubeconfigYaml())
const log: string[] = []
const kubelet = new Kubelet({lab, node, kubeConfig: kc, log: (m) => log.push(m), resyncIntervalMs: 200})
t.teardown(async () => {
  await kubelet.stop()
  await api.close()
  for (const n of listNetns().filter((x) => x.startsWith(`${node.netns}-`))) await deleteNetns(n)
  await deleteNetns(node.netns)
  rmSync(labState, {recursive: true, force: true})
})

const pod = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {name, namespace: 'default'},
  spec: {nodeName: 'node1', containers: [{name: 'c', image: 'x'}]},
})

t.test('a pod with a 253-character name runs, and so does the pod after it', async (t) => {
  const long = `p${'x'.repeat(251)}q`
  api.store.create('pods', 'default', pod(long))
  api.store.create('pods', 'default', pod('short'))
  kubelet.start()
  const running = () => kubelet.status().pods.filter((p) => p.state === 'running')
  if (!t.ok(await eventually(() => running().length === 2, 60_000), 'both pods run')) t.comment(log.join('\n'))
  const netns = podNetns(lab, 'node1', 'default', long)
  t.equal(netns.length, NETNS_NAME_MAX)
  t.equal(kubelet.status().pods.find((p) => p.name === long)?.netns, netns, 'the namespace podNetns names')
  t.ok(netnsExists(netns), 'it exists')
  t.ok(netnsExists(podNetns(lab, 'node1', 'default', 'short')))
  t.match(api.store.get('pods', 'default', 'short'), {status: {phase: 'Running', podIP: '10.244.1.7'}})
})
