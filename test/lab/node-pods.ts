// deploy/ as the lab runs it (src/lab/manifests.ts, node-pods.ts), without a lab: the DaemonSets of the
// repository's own manifests become, for a lab node, the argv, env, volumes and capabilities the
// manifest gives their container. A change to deploy/ that the lab could not run fails here.
import {join} from 'node:path'
import t from 'tap'

import type {V1DaemonSet} from '../../src/kube/client.js'
import {parseForward} from '../../src/lab/forwarder-main.js'
import {labOverlay, readManifests} from '../../src/lab/manifests.js'
import {
  expandVars,
  nodeHostPath,
  overlaysFor,
  planNodePod,
  nodeBirdDir,
  NodePodProcess,
  podLaunchArgv,
  SERVICE_ACCOUNT_DIR,
} from '../../src/lab/node-pods.js'
import {podRole} from '../../src/lab/supervisor.js'
import {planLab} from '../../src/lab/up.js'
import {REPO} from '../helpers/lab.js'

const lab = planLab({name: 'unit', nodes: 2, podsPerNode: 0, mode: 'host-gw'}, '/run/cnidbg/lab/unit')
const node = lab.nodes[1]!
const objects = labOverlay(readManifests(join(REPO, 'deploy')), 'host-gw')
const daemonSets = objects.filter((o) => o.kind === 'DaemonSet') as V1DaemonSet[]
const cnidbg = ['/usr/bin/node', '/opt/cnidbg/bin/run.js']
const plan = (name: string) => {
  const ds = daemonSets.find((d) => d.metadata?.name === name)!
  const p = planNodePod(ds, node, {cnidbg, basePath: '/usr/bin:/bin'})
  if (!p) throw new Error(`no pod for ${name}`)
  return p
}

t.test('deploy/ holds what the lab applies, in file order', async (t) => {
  t.same(
    objects.map((o) => `${o.kind}/${o.metadata?.name}`),
    [
      'Namespace/cnidbg',
      'ServiceAccount/cnidbg-daemon',
      'ServiceAccount/cnidbg-agent',
      'ClusterRole/cnidbg-daemon',
      'ClusterRoleBinding/cnidbg-daemon',
      'ClusterRole/cnidbg-agent',
      'ClusterRoleBinding/cnidbg-agent',
      'ClusterRole/cnidbg-tracer',
      'ClusterRoleBinding/cnidbg-tracers',
      'DaemonSet/cnidbg-node',
      'DaemonSet/cnidbg-agent',
    ],
  )
})

t.test('$(VAR) expansion as the kubelet does it', async (t) => {
  const env = {A: 'x', NODE_IP: '198.18.0.3'}
  t.equal(expandVars('--listen=$(NODE_IP):10265', env), '--listen=198.18.0.3:10265')
  t.equal(expandVars('$(MISSING)-$(A)', env), '$(MISSING)-x', 'an undefined reference stays as written')
  t.equal(expandVars('$$(A) $$', env), '$(A) $', '$$ is a literal $')
})

t.test("the daemon's pod: the manifest's command on node2, with the lab's mode", async (t) => {
  const p = plan('cnidbg-node')
  t.equal(podRole(p), 'daemon')
  t.equal(p.name, 'cnidbg-node-node2')
  t.equal(p.serviceAccount, 'cnidbg-daemon')
  t.same(p.command, [
    'cnidbg',
    'ref',
    'daemon',
    '--node=node2',
    '--host-network',
    '--mode=host-gw',
    '--iface=eth0',
    '--cluster-cidr=10.244.0.0/16',
    '--subnet-file=/run/cnidbg/subnet.env',
    '--state-dir=/var/lib/cnidbg',
    '--listen=198.18.0.3:10266',
  ])
  t.same(p.argv.slice(0, 2), cnidbg, "the image's cnidbg is this machine's")
  t.same(p.argv.slice(2), p.command.slice(1))
  t.equal(p.listen, '198.18.0.3:10266', "on the node's IP")
  t.match(p.env, {
    NODE_NAME: 'node2',
    NODE_IP: '198.18.0.3',
    KUBERNETES_SERVICE_HOST: '198.18.0.1',
    KUBERNETES_SERVICE_PORT: '6443',
  })
  t.same(p.capabilities, ['net_admin', 'net_bind_service'])
  const mounts = Object.fromEntries(p.mounts.map((m) => [m.target, m]))
  // The subnet file the daemon writes at /run/cnidbg/subnet.env is the one the node's IPAM reads.
  t.equal(mounts['/run/cnidbg']!.source, node.dir)
  t.equal(join(mounts['/run/cnidbg']!.source, 'subnet.env'), node.subnetFile)
  t.equal(mounts['/var/lib/cnidbg']!.source, join(node.dir, 'host', 'var/lib/cnidbg'))
  t.equal(mounts['/tmp']!.source, join(p.dir, 'volumes', 'tmp'), 'an emptyDir is the pod’s own')
  t.same(mounts[SERVICE_ACCOUNT_DIR], {
    source: join(p.dir, 'serviceaccount'),
    target: SERVICE_ACCOUNT_DIR,
    readOnly: true,
  })
})

t.test(
  "the agent's pod: read-only host mounts, its capabilities, the token where in-cluster config looks",
  async (t) => {
    const p = plan('cnidbg-agent')
    t.equal(podRole(p), 'agent')
    t.same(p.command, [
      'cnidbg',
      'agent',
      '--node=node2',
      '--host-network',
      '--listen=198.18.0.3:10265',
      '--daemon-url=http://198.18.0.3:10266',
      '--json',
    ])
    t.same(p.capabilities, ['sys_admin', 'sys_ptrace', 'net_admin', 'net_raw'])
    t.same(
      p.mounts.map((m) => [m.target, m.source, m.readOnly]),
      [
        ['/run/netns', '/run/netns', true],
        ['/var/lib/cni', node.varLibCni, true],
        ['/sys/kernel/tracing', 'tracefs', false],
        ['/tmp', join(p.dir, 'volumes', 'tmp'), false],
        [SERVICE_ACCOUNT_DIR, join(p.dir, 'serviceaccount'), true],
      ],
    )
    const argv = podLaunchArgv(p, node.netns)
    t.same(argv.slice(0, 4), ['ip', 'netns', 'exec', node.netns], "in the node's namespace, with its own /sys")
    const setpriv = argv.indexOf('setpriv')
    t.same(argv.slice(setpriv, setpriv + 3), [
      'setpriv',
      '--bounding-set=-all,+sys_admin,+sys_ptrace,+net_admin,+net_raw',
      '--',
    ])
    t.same(
      argv.slice(setpriv + 3),
      ['env', '-u', 'NODE_OPTIONS', '--', ...p.argv],
      "the manifest's command, without this process's NODE_OPTIONS",
    )
  },
)

t.test('bgp on a routed underlay: the daemon also peers with its router (--bgp-peer-gateway)', async (t) => {
  const args = (mode: 'bgp' | 'vxlan', topology: 'flat' | 'routed') => {
    const ds = labOverlay(readManifests(join(REPO, 'deploy')), mode, {topology}).find(
      (o) => o.kind === 'DaemonSet' && o.metadata?.name === 'cnidbg-node',
    ) as V1DaemonSet
    const c = ds.spec!.template.spec!.containers[0]!
    return [...(c.command ?? []), ...(c.args ?? [])]
  }
  const routed = args('bgp', 'routed')
  t.ok(routed.includes('--mode=bgp'))
  t.equal(routed[routed.indexOf('--mode=bgp') + 1], '--bgp-peer-gateway', 'right after --mode')
  t.notOk(args('bgp', 'flat').includes('--bgp-peer-gateway'), 'flat: the nodes peer with each other only')
  t.notOk(args('vxlan', 'routed').includes('--bgp-peer-gateway'), 'vxlan: no BGP')
  const bird = nodeBirdDir(
    planLab({name: 'unit', nodes: 2, podsPerNode: 0, mode: 'bgp'}, '/run/cnidbg/lab/unit').nodes[0]!,
  )
  t.equal(
    bird,
    '/run/cnidbg/lab/unit/nodes/node1/host/var/lib/cnidbg/node1/bird',
    "the daemon's --state-dir, a hostPath",
  )
})

t.test("a checkout under a volume's mount point (the emptyDir on /tmp) is mounted back for the pod", async (t) => {
  const ds = daemonSets.find((d) => d.metadata?.name === 'cnidbg-agent')!
  const hidden = planNodePod(ds, node, {cnidbg: ['/usr/bin/node', '/tmp/ck/bin/run.js'], basePath: '/bin'})!
  t.same(hidden.mounts.at(-1), {source: '/tmp/ck', target: '/tmp/ck', readOnly: true}, 'last, read-only, at its path')
  t.notOk(
    plan('cnidbg-agent').mounts.some((m) => m.target === '/opt/cnidbg'),
    'a checkout no volume hides is not mounted again',
  )
})

t.test('a DaemonSet that is not hostNetwork is not run by the lab', async (t) => {
  const ds = JSON.parse(JSON.stringify(daemonSets[0])) as V1DaemonSet
  ds.spec!.template.spec!.hostNetwork = false
  t.equal(planNodePod(ds, node, {cnidbg, basePath: '/bin'}), undefined)
})

t.test('host paths of a lab node, and overlays only for mount points the machine lacks', async (t) => {
  t.equal(nodeHostPath(node, '/run/cnidbg/'), node.dir)
  t.equal(nodeHostPath(node, '/etc/cni/net.d'), node.confDir)
  t.equal(nodeHostPath(node, '/srv/x'), join(node.dir, 'host', 'srv/x'))
  t.same(overlaysFor([{source: '/a', target: '/tmp', readOnly: false}]), [], '/tmp exists')
  t.same(
    overlaysFor([
      {source: '/a', target: '/proc/cnidbg-no-such/x', readOnly: false},
      {source: '/a', target: '/proc/cnidbg-no-such/y/z', readOnly: false},
    ]),
    ['/proc'],
    'the nearest existing parent, once',
  )
  t.throws(() => overlaysFor([{source: '/a', target: '/cnidbg-no-such-top', readOnly: false}]), /overlay \//)
})

t.test("a hostPath with '..' is not given: the pod is not started, and its status and log say why", async (t) => {
  for (const path of ['/../../../../etc', '/srv/../../etc', '../etc', '/run/cnidbg/..'])
    t.equal(nodeHostPath(node, path), undefined, path)
  t.equal(nodeHostPath(node, 'constructor'), join(node.dir, 'host', 'constructor'), 'a name, not a lookup')
  const ds = JSON.parse(JSON.stringify(daemonSets.find((d) => d.metadata?.name === 'cnidbg-node'))) as V1DaemonSet
  const pod = ds.spec!.template.spec!
  pod.volumes!.push({name: 'escape', hostPath: {path: '/../../../../etc'}})
  pod.containers[0]!.volumeMounts!.push({name: 'escape', mountPath: '/mnt/etc'})
  const p = planNodePod(ds, node, {cnidbg, basePath: '/bin'})!
  t.equal(p.refused, `volume escape: hostPath "/../../../../etc" has a '..' element`)
  t.notOk(
    p.mounts.some((m) => m.target === '/mnt/etc' || m.source === '/etc'),
    "nothing of this machine's is mounted for it",
  )
  const logged: string[] = []
  const proc = new NodePodProcess(
    p,
    'cnidbg-no-such-netns',
    async () => {
      throw new Error('a refused pod gets no token')
    },
    (line) => logged.push(line),
  )
  await proc.start()
  t.match(proc.status(), {running: false, lastExit: `not started: ${p.refused}`})
  t.same(logged, [`${p.name}: not started: ${p.refused}`])
})

t.test('forwarder: LISTEN=TARGET, TCP or unix on either side', async (t) => {
  t.same(parseForward('198.18.0.1:6443=unix:/run/x.sock'), {
    listen: {host: '198.18.0.1', port: 6443},
    target: {path: '/run/x.sock'},
  })
  t.throws(() => parseForward('198.18.0.1:6443'), /LISTEN=TARGET/)
  t.throws(() => parseForward('a:1=unix:/x'), /HOST:PORT/)
})
