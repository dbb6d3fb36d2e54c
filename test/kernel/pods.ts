// src/kernel/pods.ts on a node namespace with three pods (found by address, by host veth, by the CNI
// result cache) and another node's pod holding an address of this node's range, as two lab nodes
// sharing one /run/netns do. The other node's namespace is never entered.
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

import type * as MultiExec from '../../src/kernel/multi-exec.js'
import type * as Pods from '../../src/kernel/pods.js'
import {createNetns, deleteNetns, ipBatch, onCleanup} from '../../src/netns/index.js'
import {encodeConfig, writeCacheEntry} from '../../src/runtime/cache.js'
import {mocker} from '../helpers/mocking.js'

const id = randomBytes(3).toString('hex')
const ns = (role: string) => `cnidbg-pods-${id}-${role}`
const [node, p1, p2, p3, other, otherPod] = ['node', 'p1', 'p2', 'p3', 'other', 'otherpod'].map(ns) as [
  string,
  string,
  string,
  string,
  string,
  string,
]
const cacheDir = mkdtempSync(join(tmpdir(), 'cnidbg-pods-cache-'))
const cleanup = async () => {
  for (const n of [node, p1, p2, p3, other, otherPod]) await deleteNetns(n)
  rmSync(cacheDir, {recursive: true, force: true})
}
const undo = onCleanup('pods test', cleanup)
t.teardown(async () => {
  await cleanup()
  undo()
})

for (const n of [node, p1, p2, p3, other, otherPod]) await createNetns(n)
// Each pod has its eth0 paired with a veth on its node, so the node names the pod's namespace.
const pod = async (nodeNs: string, podNs: string, veth: string, lines: string[]) => {
  await ipBatch([`link add ${veth} type veth peer name eth0 netns ${podNs}`, `link set ${veth} up`], nodeNs)
  await ipBatch(['link set eth0 up', ...lines], podNs)
}
// p1 holds its address; p2 lost it, but the node still routes it through p2's veth; p3 has neither,
// and only the CNI result cache knows it.
await pod(node, p1, 'veth1', ['addr add 10.77.1.5/24 dev eth0'])
await pod(node, p2, 'veth2', [])
await pod(node, p3, 'veth3', [])
await ipBatch(['route add 10.77.1.6/32 dev veth2'], node)
// Another node's pod with 10.77.1.7, an address this node's pods may not hold.
await pod(other, otherPod, 'veth9', ['addr add 10.77.1.7/24 dev eth0'])
writeCacheEntry(cacheDir, {
  kind: 'cniCacheV1',
  containerId: 'c3',
  config: encodeConfig('{}'),
  ifName: 'eth0',
  networkName: 'pods-test',
  netns: `/run/netns/${p3}`,
  result: {cniVersion: '1.1.0', ips: [{address: '10.77.1.8/24'}]},
})

const mockImport = await mocker(t, import.meta.url)
const entered: string[] = []
const real = await import('../../src/kernel/multi-exec.js')
const {findPodNetns} = await mockImport<typeof Pods>(t, '../../src/kernel/pods.js', {
  '../../src/kernel/multi-exec.js': {
    ...real,
    runJobsInNetns: (jobs: Parameters<typeof MultiExec.runJobsInNetns>[0], opts?: {timeoutMs?: number}) => {
      entered.push(...jobs.map((j) => j.nsPath))
      return real.runJobsInNetns(jobs, opts)
    },
  } satisfies typeof MultiExec,
})

t.test('a pod by address, by host veth, by the result cache; another node’s pod not at all', async (t) => {
  const found = await findPodNetns(['10.77.1.5', '10.77.1.6', '10.77.1.8', '10.77.1.7'], {
    nodeNetns: `/run/netns/${node}`,
    cniCacheDir: cacheDir,
  })
  t.match(
    found.get('10.77.1.5'),
    {
      path: `/run/netns/${p1}`,
      name: p1,
      ifname: 'eth0',
      via: 'address',
      hostVeth: undefined,
    },
    'p1 by its address',
  )
  t.match(
    found.get('10.77.1.6'),
    {
      path: `/run/netns/${p2}`,
      name: p2,
      ifname: 'eth0',
      via: 'host-veth',
      hostVeth: 'veth2',
    },
    'p2, which lost its address, by the veth its node routes it through',
  )
  t.match(
    found.get('10.77.1.8'),
    {
      path: `/run/netns/${p3}`,
      name: p3,
      ifname: 'eth0',
      via: 'cni-cache',
      containerId: 'c3',
    },
    'p3, with neither, by the result cache',
  )
  t.notOk(found.has('10.77.1.7'), 'the other node’s pod is not this node’s')
  t.ok(entered.includes(`/run/netns/${p1}`), 'its own pods are entered')
  t.same(
    entered.filter((p) => p.endsWith(other) || p.endsWith(otherPod)),
    [],
    'neither the other node nor its pod is entered',
  )
})
