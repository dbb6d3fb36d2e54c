import t from 'tap'

import {mocker} from '../../helpers/mocking.js'

const mockImport = await mocker(t, import.meta.url)

t.test('ref daemon passes its flags to the service', async (t) => {
  let got: any
  const {default: RefDaemon} = await mockImport<typeof import('../../../src/commands/ref/daemon.js')>(
    t,
    '../../../src/commands/ref/daemon.js',
    {
      '../../../src/services/daemon.js': {
        ...(await import('../../../src/services/daemon.js')),
        DEFAULT_CLUSTER_CIDR: '10.244.0.0/16',
        DEFAULT_IFACE: 'eth0',
        DEFAULT_LISTEN: '127.0.0.1:0',
        DEFAULT_RESYNC_SECONDS: 300,
        runDaemon: async (o: any) => {
          got = o
          return {
            node: o.nodeName,
            mode: o.mode,
            address: '127.0.0.1:1234',
            healthy: true,
            diag: {
              node: o.nodeName,
              mode: o.mode,
              nodeIP: '198.18.0.1',
              podCIDR: '10.244.1.0/24',
              podMTU: 1450,
              peers: [],
              skippedPeers: [],
            },
          }
        },
      },
    },
  )
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = (() => true) as typeof process.stdout.write
  t.teardown(() => {
    process.stdout.write = write
  })
  const result = await RefDaemon.run([
    '--node',
    'n1',
    '--netns',
    'cnidbg-lab-n1',
    '--mode',
    'host-gw',
    '--kubeconfig',
    '/k.yaml',
    '--subnet-file',
    '/s/subnet.env',
    '--state-dir',
    '/st',
    '--listen',
    'unix:/st/d.sock',
    '--resync',
    '60',
    '--interval',
    '2',
    '--network-policy',
    'off',
    '--once',
    '--json',
  ])
  process.stdout.write = write
  t.match(got, {
    nodeName: 'n1',
    netns: 'cnidbg-lab-n1',
    hostNetwork: false,
    mode: 'host-gw',
    kubeconfigPath: '/k.yaml',
    iface: 'eth0',
    clusterCidr: '10.244.0.0/16',
    subnetFile: '/s/subnet.env',
    stateDir: '/st',
    listen: 'unix:/st/d.sock',
    resyncSeconds: 60,
    reconcileIntervalMs: 2000,
    vni: 1,
    vxlanPort: 8472,
    networkPolicy: 'off',
    once: true,
  })
  t.match(result, {node: 'n1', healthy: true})
})

t.test('--network-policy takes auto or off', async (t) => {
  const {default: RefDaemon} = await import('../../../src/commands/ref/daemon.js')
  const saved = process.exitCode
  t.teardown(() => {
    process.exitCode = saved
  })
  const out: string[] = []
  const write = process.stdout.write.bind(process.stdout)
  const errWrite = process.stderr.write.bind(process.stderr)
  process.stdout.write = ((s: string) => out.push(s) > 0) as typeof process.stdout.write
  process.stderr.write = (() => true) as typeof process.stderr.write
  try {
    await RefDaemon.run(['--node', 'n1', '--netns', 'x', '--network-policy', 'on', '--json'])
  } finally {
    process.stdout.write = write
    process.stderr.write = errWrite
  }
  t.equal(process.exitCode, 2)
  t.match(JSON.parse(out.join('')), {status: 2, error: {message: /network-policy/}})
})

t.test('ref daemon refuses to program its own namespace without --host-network', async (t) => {
  const {default: RefDaemon} = await import('../../../src/commands/ref/daemon.js')
  const saved = process.exitCode
  t.teardown(() => {
    process.exitCode = saved
  })
  const out: string[] = []
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: string) => {
    out.push(String(chunk))
    return true
  }) as typeof process.stdout.write
  try {
    await RefDaemon.run(['--node', 'n1', '--kubeconfig', '/nonexistent', '--json'])
  } finally {
    process.stdout.write = write
  }
  t.equal(process.exitCode, 2)
  const env = JSON.parse(out.join(''))
  t.match(env, {status: 2, error: {code: 'NEEDS_NETNS', suggestions: [/--netns/, /--host-network/]}})
})

t.test('--netns and --host-network are exclusive', async (t) => {
  const {default: RefDaemon} = await import('../../../src/commands/ref/daemon.js')
  const saved = process.exitCode
  t.teardown(() => {
    process.exitCode = saved
  })
  const write = process.stdout.write.bind(process.stdout)
  const errWrite = process.stderr.write.bind(process.stderr)
  process.stdout.write = (() => true) as typeof process.stdout.write
  process.stderr.write = (() => true) as typeof process.stderr.write
  try {
    await RefDaemon.run(['--node', 'n1', '--netns', 'x', '--host-network', '--json'])
  } finally {
    process.stdout.write = write
    process.stderr.write = errWrite
  }
  t.equal(process.exitCode, 2)
})

t.test('ref daemon --once against a one-node lab: converges, reports, exits', async (t) => {
  const {startDaemonLab} = await import('../../helpers/daemon-lab.js')
  const {link} = await import('../../helpers/daemon-lab.js')
  const {join} = await import('node:path')
  const {default: RefDaemon} = await import('../../../src/commands/ref/daemon.js')
  const lab = await startDaemonLab({nodes: 1})
  t.teardown(() => lab.dispose())
  const kubeconfig = join(lab.dir, 'kubeconfig')
  lab.api.writeKubeconfig(kubeconfig)
  const subnetFile = join(lab.dir, 'subnet.env')
  const out: string[] = []
  const write = process.stdout.write.bind(process.stdout)
  const errWrite = process.stderr.write.bind(process.stderr)
  process.stdout.write = ((c: string) => (out.push(String(c)), true)) as typeof process.stdout.write
  process.stderr.write = (() => true) as typeof process.stderr.write
  try {
    await RefDaemon.run([
      '--node',
      'node-0',
      '--netns',
      lab.nodes[0]!.ns,
      '--kubeconfig',
      kubeconfig,
      '--subnet-file',
      subnetFile,
      '--state-dir',
      join(lab.dir, 'cmd-state'),
      '--listen',
      `unix:${join(lab.dir, 'd.sock')}`,
      '--once',
      '--json',
    ])
  } finally {
    process.stdout.write = write
    process.stderr.write = errWrite
  }
  const env = JSON.parse(out.join(''))
  t.match(env, {
    status: 0,
    result: {
      node: 'node-0',
      healthy: true,
      address: `unix:${join(lab.dir, 'd.sock')}`,
      diag: {podCIDR: '10.244.0.0/24', nodeIP: '198.18.0.1', podMTU: 1450, vtep: {name: 'cnidbg.1', present: true}},
    },
  })
  t.notMatch(out.join(''), lab.token, 'no bearer token in the output')
  const vtep = await link(lab.nodes[0]!.ns, 'cnidbg.1')
  t.equal(vtep?.mtu, 1450, 'the VTEP stays after the command exits (kernel state survives the daemon)')
})
