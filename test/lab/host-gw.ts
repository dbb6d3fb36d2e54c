// Integration: a 2-node × 2-pod host-gw lab (direct routes via node IPs, no overlay). One lab for
// the file: reachability, TCP, kubectl, the faults that apply to host-gw, and lab down leaving the
// machine as it was.
import t, {type Test} from 'tap'

import {labBreak, labHeal} from '../../src/lab/break.js'
import {labDown} from '../../src/lab/down.js'
import {labNetnsPrefix, podNetns} from '../../src/lab/names.js'
import {readLabState} from '../../src/lab/state.js'
import {labStatus} from '../../src/lab/status.js'
import {type LabUpPod} from '../../src/lab/up.js'
import {runOk} from '../../src/process/exec.js'
import {ipJson, listNetns} from '../../src/netns/netns.js'
import {
  bundleLabLibexec,
  kernelStateDiff,
  labKernelState,
  pingEventually,
  pingFails,
  tcpOk,
  testLabName,
  testLabUp,
} from '../helpers/lab.js'
import {rootLinks} from '../helpers/machine.js'
import {cnidbgError} from '../helpers/errors.js'

t.setTimeout(2_400_000)

const name = testLabName()
const linksBefore = await rootLinks()
const libexec = await bundleLabLibexec()
t.teardown(async () => {
  await labDown({name}).catch(() => undefined)
})

const up = await testLabUp({name, nodes: 2, podsPerNode: 2, mode: 'host-gw', libexec})
const state = readLabState(name)!
const pod = (n: string): LabUpPod => up.pods.find((p) => p.name === n)!
const ns = (p: LabUpPod): string => podNetns(name, p.node, p.namespace, p.name)

t.test('host-gw: nodes route each other’s pod CIDRs via their underlay IPs, no VTEP', async (t) => {
  const [n1, n2] = state.nodes
  const routes = await ipJson<Array<{dst: string; gateway?: string; dev?: string}>>(['route', 'show'], n1!.netns)
  t.match(
    routes.find((r) => r.dst === n2!.podCIDR),
    {gateway: n2!.nodeIP, dev: 'eth0'},
    `node1: ${n2!.podCIDR} via ${n2!.nodeIP}`,
  )
  const links = await ipJson<Array<{ifname: string}>>(['link', 'show'], n1!.netns)
  t.notOk(
    links.some((l) => l.ifname === 'cnidbg.1'),
    'no VXLAN device',
  )
  t.equal(up.pods.length, 4)
})

t.test('every pod pings every other pod; TCP across nodes', async (t) => {
  for (const a of up.pods)
    for (const b of up.pods) if (a !== b) t.ok(await pingEventually(ns(a), b.ip, 3), `${a.name} → ${b.name} ${b.ip}`)
  t.ok(await tcpOk(ns(pod('pod-a')), ns(pod('pod-d')), pod('pod-d').ip), 'pod-a (node1) → pod-d (node2)')
  // host-gw has no encapsulation: full 1500-byte packets pass.
  t.ok(
    await pingEventually(ns(pod('pod-a')), pod('pod-c').ip, 3, ['-M', 'do', '-s', '1472']),
    '1500-byte packets across nodes',
  )
})

t.test('kubectl sees the host-gw lab', async (t) => {
  const pods = JSON.parse(
    (await runOk('kubectl', ['--kubeconfig', up.kubeconfig, 'get', 'pods', '-o', 'json'], {timeoutMs: 60_000})).stdout,
  )
  t.same(
    pods.items.map((p: any) => [p.metadata.name, p.status.podIP]).sort(),
    up.pods.map((p) => [p.name, p.ip]).sort(),
  )
  const s = await labStatus({name})
  t.equal(s.health, 'running')
  t.same(s.problems, [])
})

t.test('host-gw faults break traffic and heal', async (t) => {
  const a = ns(pod('pod-a'))
  const spaces = [...state.nodes.map((n) => n.netns), a, state.underlay.netns]
  const cIp = pod('pod-c').ip
  const cases: Array<{fault: string; opts?: Record<string, string>; check: (t: Test) => Promise<unknown>}> = [
    {
      fault: 'route-missing',
      opts: {node: 'node1'},
      check: async (t) => t.ok(await pingFails(a, cIp), 'pod-a → pod-c fails'),
    },
    {
      fault: 'route-wrong-node',
      opts: {node: 'node1'},
      check: async (t) => {
        const routes = await ipJson<Array<{dst: string; gateway?: string}>>(['route', 'show'], state.nodes[0]!.netns)
        t.equal(
          routes.find((r) => r.dst === '10.244.2.0/24')?.gateway,
          '198.18.0.250',
          'two nodes: via an address no node has',
        )
        t.ok(await pingFails(a, cIp), 'pod-a → pod-c fails')
      },
    },
    {
      fault: 'rp-filter-strict',
      opts: {node: 'node1'},
      check: async (t) => t.ok(await pingFails(a, cIp), 'pod-a → pod-c fails'),
    },
    {
      fault: 'underlay-mtu',
      check: async (t) => {
        t.ok(await pingEventually(a, cIp), 'small packets pass')
        t.ok(await pingFails(a, cIp, ['-M', 'do', '-s', '1472']), '1500-byte packets do not')
      },
    },
  ]
  for (const k of cases) {
    await t.test(k.fault, async (t) => {
      const before = await labKernelState(spaces)
      const applied = await labBreak({name, fault: k.fault, ...k.opts})
      await k.check(t)
      // Both daemons held stopped until the kernel state was compared: neither repairs what heal missed.
      for (const node of ['node1', 'node2']) await labBreak({name, fault: 'daemon-stopped', node})
      const healed = await labHeal({name, id: applied.id})
      t.same(
        healed.healed.map((h) => h.id),
        [applied.id],
      )
      t.same(kernelStateDiff(before, await labKernelState(spaces)), {}, 'the kernel state is as before the break')
      await labHeal({name, fault: 'daemon-stopped'})
      t.ok(await pingEventually(a, cIp, 10), 'works again')
      t.ok(await pingEventually(a, cIp, 10, ['-M', 'do', '-s', '1472']), 'full-size again')
    })
  }
  await t.rejects(
    labBreak({name, fault: 'fdb-missing'}),
    cnidbgError('FAULT_NOT_APPLICABLE'),
    'VXLAN-only fault refused',
  )
})

t.test('lab down leaves no namespace and the root links as they were', async (t) => {
  const down = await labDown({name})
  t.equal(down.was, 'running')
  t.same(
    listNetns().filter((n) => n.startsWith(labNetnsPrefix(name))),
    [],
  )
  t.equal(readLabState(name), undefined)
  t.same(await rootLinks(), linksBefore)
})
