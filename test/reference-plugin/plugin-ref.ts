// cnidbg-ref against real kernel state: ADD/CHECK/DEL at every version, rollback, idempotent DEL,
// CHECK after tampering. Every namespace lives in a Sandbox and is removed at teardown.
import {existsSync, readdirSync, readFileSync, unlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {run} from '../../src/process/exec.js'
import {ip} from '../../src/netns/netns.js'
import {hostVethName} from '../../src/reference-plugin/veth.js'
import {bundle, Node, podJson, refConf, VERSIONS} from '../helpers/ref-plugins.js'

const dir = await bundle(t)
const node = await Node.create(t, dir)

const reservations = (network = 'refnet'): string[] =>
  existsSync(node.storeDir(network)) ? readdirSync(node.storeDir(network)).filter((f) => /^[\d.:a-f]+$/.test(f)) : []

// The versions are independent attachments (own pod, container ID and network), so they run in
// parallel. Top-level tests run one at a time: the rollback ones compare the node's whole link list.
t.test('ADD, CHECK, DEL round trip at every version', async (t) => {
  t.jobs = VERSIONS.length
  for (const v of VERSIONS) {
    t.test(`[${v}] ADD, CHECK, DEL round trip`, async (t) => {
      const pod = await node.pod(`rt${v.replaceAll('.', '')}`)
      const cid = `rt-${v}`
      // Each version on its own network (its own /24 and reservations), so the versions run side by side.
      const network = `refnet${v.replaceAll('.', '')}`
      const conf = refConf(v, {}, {name: network, dns: {nameservers: ['10.96.0.10'], search: ['svc.cluster.local']}})
      const subnet = conf.ipam.ranges[0]![0]!.subnet!
      const gw = subnet.replace(/0\/24$/, '1')
      const add = await node.invoke('cnidbg-ref', 'ADD', conf, {containerID: cid, netns: pod.path, ifname: 'eth0'})
      t.equal(add.exitCode, 0, add.stdout + add.stderr)
      const res = add.json
      t.equal(res.cniVersion, v)
      const hostIf = hostVethName(cid, 'eth0')
      t.equal(res.interfaces.length, 2)
      t.match(res.interfaces[0], {name: hostIf})
      t.notOk(res.interfaces[0].sandbox, 'the host veth has no sandbox')
      t.match(res.interfaces[1], {name: 'eth0', sandbox: pod.path})
      if (v === '1.1.0') t.equal(res.interfaces[1].mtu, 1400)
      else t.notOk('mtu' in res.interfaces[1], 'mtu only in 1.1.0')
      t.equal(res.ips.length, 1)
      t.equal(res.ips[0].interface, 1)
      t.equal(res.ips[0].gateway, gw)
      if (v.startsWith('0.')) t.equal(res.ips[0].version, '4')
      else t.notOk('version' in res.ips[0], 'no ips[].version in 1.x')
      t.same(res.routes, [{dst: subnet}, {dst: '0.0.0.0/0'}])
      t.same(res.dns, {nameservers: ['10.96.0.10'], search: ['svc.cluster.local']})

      // The pod side, as the kernel has it.
      const [link] = await podJson(pod.name, ['addr', 'show', 'dev', 'eth0'])
      t.equal(link.address, res.interfaces[1].mac, 'pod MAC as reported')
      t.equal(link.mtu, 1400)
      t.ok(link.flags.includes('UP'))
      const v4 = link.addr_info.find((a: any) => a.family === 'inet')
      t.equal(`${v4.local}/${v4.prefixlen}`, res.ips[0].address)
      const routes = await podJson(pod.name, ['route', 'show'])
      t.ok(
        routes.some((r: any) => r.dst === 'default' && r.gateway === gw && r.dev === 'eth0'),
        'default route',
      )
      t.ok(
        routes.some((r: any) => r.dst === subnet && r.gateway === gw),
        'cluster route',
      )
      t.ok(
        routes.some((r: any) => r.dst === gw && r.scope === 'link'),
        'gateway link route',
      )

      // The node side.
      const [hl] = await node.hostJson(['addr', 'show', 'dev', hostIf])
      t.equal(hl.address, res.interfaces[0].mac, 'host MAC as reported')
      t.equal(hl.mtu, 1400)
      t.ok(
        hl.addr_info.some((a: any) => a.local === gw && a.prefixlen === 32),
        'gateway /32 on the host veth',
      )
      const hr = await node.hostJson(['route', 'show', 'dev', hostIf])
      t.ok(
        hr.some((r: any) => r.dst === res.ips[0].address.split('/')[0]),
        'host route to the pod',
      )
      const fwd = await node.sb.run('cat', ['/proc/sys/net/ipv4/ip_forward'])
      t.equal(fwd.stdout.trim(), '1', 'forwarding on in the sandbox host')
      t.equal(
        readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(),
        readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(),
      )

      const withPrev = {...conf, prevResult: res}
      if (v !== '0.3.0' && v !== '0.3.1') {
        const check = await node.invoke('cnidbg-ref', 'CHECK', withPrev, {
          containerID: cid,
          netns: pod.path,
          ifname: 'eth0',
        })
        t.equal(check.exitCode, 0, check.stdout)
        t.equal(check.stdout, '', 'CHECK prints nothing on success')
      } else {
        const check = await node.invoke('cnidbg-ref', 'CHECK', withPrev, {
          containerID: cid,
          netns: pod.path,
          ifname: 'eth0',
        })
        t.equal(check.json?.code, 1, 'CHECK needs 0.4.0')
      }
      t.equal(reservations(network).length, 1)

      const del = await node.invoke('cnidbg-ref', 'DEL', withPrev, {containerID: cid, netns: pod.path, ifname: 'eth0'})
      t.equal(del.exitCode, 0, del.stdout)
      const left = await podJson(pod.name, ['link', 'show'])
      t.same(
        left.map((l: any) => l.ifname),
        ['lo'],
        'eth0 gone',
      )
      const hostLinks = await node.hostJson(['link', 'show'])
      t.notOk(
        hostLinks.some((l: any) => l.ifname === hostIf),
        'host veth gone',
      )
      t.same(reservations(network), [], 'address released')
      const again = await node.invoke('cnidbg-ref', 'DEL', withPrev, {
        containerID: cid,
        netns: pod.path,
        ifname: 'eth0',
      })
      t.equal(again.exitCode, 0, 'second DEL succeeds')
      await node.sb.removeNetns(pod.name)
    })
  }
})

t.test('DEL is best effort: no netns, deleted netns, no prevResult, unknown container', async (t) => {
  const conf = refConf('1.1.0', {}, {name: 'delnet'})
  const pod = await node.pod('delnone')
  const add = await node.invoke('cnidbg-ref', 'ADD', conf, {containerID: 'del-1', netns: pod.path, ifname: 'eth0'})
  t.equal(add.exitCode, 0, add.stdout)
  await node.sb.removeNetns(pod.name)
  // The netns is gone (so is the veth pair with it); DEL without CNI_NETNS must still release IPAM.
  const del = await node.invoke('cnidbg-ref', 'DEL', conf, {containerID: 'del-1', netns: pod.path, ifname: 'eth0'})
  t.equal(del.exitCode, 0, del.stdout)
  t.same(reservations('delnet'), [])
  const noNs = await node.invoke('cnidbg-ref', 'DEL', {...conf, prevResult: {}}, {containerID: 'del-1', ifname: 'eth0'})
  t.equal(noNs.exitCode, 0, noNs.stdout)
  const unknown = await node.invoke('cnidbg-ref', 'DEL', conf, {containerID: 'never-added', ifname: 'eth0'})
  t.equal(unknown.exitCode, 0, unknown.stdout)

  const pod2 = await node.pod('delnoprev')
  const add2 = await node.invoke('cnidbg-ref', 'ADD', conf, {containerID: 'del-2', netns: pod2.path, ifname: 'eth0'})
  t.equal(add2.exitCode, 0)
  // Interface removed out of band: DEL still succeeds and releases.
  await ip(['link', 'del', 'eth0'], pod2.name)
  const del2 = await node.invoke('cnidbg-ref', 'DEL', conf, {containerID: 'del-2', netns: pod2.path, ifname: 'eth0'})
  t.equal(del2.exitCode, 0, del2.stdout)
  t.same(reservations('delnet'), [])
})

t.test('CHECK fails on drift', async (t) => {
  const conf = refConf(
    '1.0.0',
    {ranges: [[{subnet: '10.246.1.0/24'}], [{subnet: 'fd00:10:246:1::/64'}]]},
    {name: 'driftnet'},
  )
  const cases: Array<[string, (p: {name: string}, v4: string, hostIf: string, v6: string) => Promise<unknown>]> = [
    ['address removed', (p, v4) => ip(['addr', 'del', v4, 'dev', 'eth0'], p.name)],
    ['IPv6 address removed', (p, _v4, _h, v6) => ip(['addr', 'del', v6, 'dev', 'eth0'], p.name)],
    ['link down', (p) => ip(['link', 'set', 'eth0', 'down'], p.name)],
    ['default route removed', (p) => ip(['route', 'del', 'default', 'via', '10.246.1.1'], p.name)],
    ['IPv6 default route removed', (p) => ip(['-6', 'route', 'del', 'default'], p.name)],
    [
      'node route removed',
      (_p, v4, hostIf) => ip(['route', 'del', v4.split('/')[0]!, 'dev', hostIf], node.sb.host.name),
    ],
    ['node side down', (_p, _v4, hostIf) => ip(['link', 'set', hostIf, 'down'], node.sb.host.name)],
    [
      'reservation removed',
      (_p, v4) => Promise.resolve(unlinkSync(`${node.storeDir('driftnet')}/${v4.split('/')[0]}`)),
    ],
  ]
  // Each case tampers only with its own attachment (pod, node veth, route, reservation): they run in parallel.
  t.jobs = cases.length
  await Promise.all(
    cases.map(([what, tamper], n) =>
      t.test(what, async (t) => {
        const pod = await node.pod(`drift${n}`)
        const o = {containerID: `drift-${n}`, netns: pod.path, ifname: 'eth0'}
        const add = await node.invoke('cnidbg-ref', 'ADD', conf, o)
        t.equal(add.exitCode, 0, add.stdout)
        const withPrev = {...conf, prevResult: add.json}
        t.equal((await node.invoke('cnidbg-ref', 'CHECK', withPrev, o)).exitCode, 0, `CHECK passes before: ${what}`)
        await tamper(pod, add.json.ips[0].address, hostVethName(o.containerID, 'eth0'), add.json.ips[1].address)
        const r = await node.invoke('cnidbg-ref', 'CHECK', withPrev, o)
        t.not(r.exitCode, 0, `CHECK fails: ${what}`)
        t.equal(r.json?.code, 110, `${what}: ${r.json?.msg}`)
        t.equal((await node.invoke('cnidbg-ref', 'DEL', withPrev, o)).exitCode, 0)
        await node.sb.removeNetns(pod.name)
      }),
    ),
  )
  t.same(reservations('driftnet'), [])
})

// The same failure paths through both ways of running ADD: the shell front (Node plans, a shell runs
// the ip batches; what runtimes exec) and one Node process (`node cnidbg-ref`, as the single
// executable does it), through a wrapper that runs the same file with node.
writeFileSync(join(dir, 'cnidbg-ref-1p'), `#!/bin/sh\nexec '${process.execPath}' "\${0%/*}/cnidbg-ref" "$@"\n`, {
  mode: 0o755,
})
for (const [entry, how, x] of [
  ['cnidbg-ref', 'shell front', ''],
  ['cnidbg-ref-1p', 'one process', 'p'],
] as const) {
  t.test(`${how}: an existing CNI_IFNAME fails ADD and is left untouched`, async (t) => {
    const pod = await node.pod(`exists${x}`)
    await ip(['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0'], pod.name)
    const [before] = await podJson(pod.name, ['link', 'show', 'eth0'])
    const conf = refConf('1.1.0', {}, {name: `existsnet${x}`})
    const add = await node.invoke(entry, 'ADD', conf, {containerID: `exists-1${x}`, netns: pod.path, ifname: 'eth0'})
    t.not(add.exitCode, 0)
    t.equal(add.json?.code, 101, add.json?.msg)
    t.match(add.json?.msg, /CNI_IFNAME eth0 already exists/)
    const [after] = await podJson(pod.name, ['link', 'show', 'eth0'])
    t.equal(after.ifindex, before.ifindex)
    t.equal(after.address, before.address)
    t.same(reservations(`existsnet${x}`), [], 'the IPAM allocation was rolled back')
    t.notOk((await node.hostJson(['link', 'show'])).some((l: any) => l.ifname === hostVethName(`exists-1${x}`, 'eth0')))
  })

  t.test(`${how}: a second ADD of the same attachment fails and does not harm the first`, async (t) => {
    const pod = await node.pod(`twice${x}`)
    const conf = refConf('1.1.0', {}, {name: `twicenet${x}`})
    const o = {containerID: `twice-1${x}`, netns: pod.path, ifname: 'eth0'}
    const first = await node.invoke(entry, 'ADD', conf, o)
    t.equal(first.exitCode, 0)
    const second = await node.invoke(entry, 'ADD', conf, o)
    t.equal(second.json?.code, 101)
    t.equal(reservations(`twicenet${x}`).length, 1, 'first reservation kept')
    t.equal((await node.invoke(entry, 'CHECK', {...conf, prevResult: first.json}, o)).exitCode, 0)
    t.equal((await node.invoke(entry, 'DEL', conf, o)).exitCode, 0)
  })

  t.test(`${how}: a failed ADD rolls back the veth and the address`, async (t) => {
    const pod = await node.pod(`rollback${x}`)
    // A route whose gateway is not reachable fails on the pod side, after the veth pair exists.
    const conf = refConf('1.1.0', {routes: [{dst: '192.168.0.0/16', gw: '172.16.0.1'}]}, {name: `rbnet${x}`})
    const before = (await node.hostJson(['link', 'show'])).map((l: any) => l.ifname)
    const add = await node.invoke(entry, 'ADD', conf, {containerID: `rb-1${x}`, netns: pod.path, ifname: 'eth0'})
    t.not(add.exitCode, 0)
    t.equal(add.json?.code, 100, add.json?.msg)
    t.same(
      (await podJson(pod.name, ['link', 'show'])).map((l: any) => l.ifname),
      ['lo'],
      'no eth0 left',
    )
    t.same(
      (await node.hostJson(['link', 'show'])).map((l: any) => l.ifname),
      before,
      'no host veth left',
    )
    t.same(reservations(`rbnet${x}`), [], 'address released')
    // Pool exhausted at IPAM ADD: nothing is created at all.
    const tiny = refConf('1.1.0', {ranges: [[{subnet: '10.9.0.0/30'}]]}, {name: `tiny${x}`})
    const a = await node.invoke(entry, 'ADD', tiny, {containerID: `tiny-1${x}`, netns: pod.path, ifname: 'eth0'})
    t.equal(a.exitCode, 0)
    const b = await node.invoke(entry, 'ADD', tiny, {containerID: `tiny-2${x}`, netns: pod.path, ifname: 'eth1'})
    t.equal(b.json?.code, 103, b.json?.msg)
    t.notOk((await podJson(pod.name, ['link', 'show'])).some((l: any) => l.ifname === 'eth1'))
    t.equal(
      (await node.invoke(entry, 'DEL', tiny, {containerID: `tiny-1${x}`, netns: pod.path, ifname: 'eth0'})).exitCode,
      0,
    )
  })
}

// The rest are attachments that share nothing but the node (own pods, container IDs and networks, or
// one network used as two pods would use it), and none compares the node's whole state: in parallel.
t.test('independent attachments', async (t) => {
  t.jobs = 6
  t.test('env and config errors are spec error objects', async (t) => {
    const pod = await node.pod('errs')
    const conf = refConf('1.1.0')
    const long = await node.invoke('cnidbg-ref', 'ADD', conf, {
      containerID: 'e1',
      netns: pod.path,
      ifname: 'a23456789012345x',
    })
    t.equal(long.json?.code, 4)
    t.match(long.json?.msg, /CNI_IFNAME/)
    const ok15 = await node.invoke('cnidbg-ref', 'ADD', conf, {
      containerID: 'e15',
      netns: pod.path,
      ifname: 'a23456789012345',
    })
    t.equal(ok15.exitCode, 0, '15 characters work')
    t.equal(
      (await node.invoke('cnidbg-ref', 'DEL', conf, {containerID: 'e15', netns: pod.path, ifname: 'a23456789012345'}))
        .exitCode,
      0,
    )
    const noIf = await node.invoke('cnidbg-ref', 'ADD', conf, {containerID: 'e1', netns: pod.path})
    t.equal(noIf.json?.code, 4)
    t.match(noIf.json?.msg, /CNI_IFNAME/)
    const bad = await node.invoke('cnidbg-ref', 'ADD', '{not json', {
      containerID: 'e1',
      netns: pod.path,
      ifname: 'eth0',
    })
    t.equal(bad.json?.code, 6)
    const ver = await node.invoke(
      'cnidbg-ref',
      'ADD',
      {...conf, cniVersion: '0.9.9'},
      {containerID: 'e1', netns: pod.path, ifname: 'eth0'},
    )
    t.equal(ver.json?.code, 1)
    t.match(ver.json?.details, /0\.9\.9/)
    const noName = await node.invoke(
      'cnidbg-ref',
      'ADD',
      {...conf, name: ''},
      {containerID: 'e1', netns: pod.path, ifname: 'eth0'},
    )
    t.equal(noName.json?.code, 7)
    const badSubnet = await node.invoke('cnidbg-ref', 'ADD', refConf('1.1.0', {ranges: [[{subnet: '10.1.2.3/33'}]]}), {
      containerID: 'e1',
      netns: pod.path,
      ifname: 'eth0',
    })
    t.equal(badSubnet.json?.code, 7)
    const gc = await node.invoke('cnidbg-ref', 'GC', {...conf, cniVersion: '1.0.0'}, {})
    t.equal(gc.json?.code, 1, 'GC needs 1.1.0')
    const version = await node.invoke('cnidbg-ref', 'VERSION', {cniVersion: '0.4.0'}, {})
    t.same(version.json, {cniVersion: '0.4.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']})
    t.same(
      (await podJson(pod.name, ['link', 'show'])).map((l: any) => l.ifname),
      ['lo'],
    )
  })

  t.test('kubelet CNI_ARGS, unknown args, capabilities and cni.dev keys are tolerated', async (t) => {
    const pod = await node.pod('tolerate')
    const conf = {
      ...refConf('1.1.0'),
      args: {cni: {labels: [{key: 'a', value: 'b'}]}, 'vendor.x': {y: 1}},
      capabilities: {portMappings: true},
      runtimeConfig: {portMappings: [{hostPort: 8080, containerPort: 80, protocol: 'tcp'}]},
      'cni.dev/foo': 1,
    }
    const o = {
      containerID: 'tol-1',
      netns: pod.path,
      ifname: 'eth0',
      cniArgs:
        'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=tol-1;K8S_POD_UID=123',
    }
    const add = await node.invoke('cnidbg-ref', 'ADD', conf, o)
    t.equal(add.exitCode, 0, add.stdout)
    t.equal((await node.invoke('cnidbg-ref', 'DEL', conf, o)).exitCode, 0)
  })

  t.test('STATUS and GC', async (t) => {
    const conf = refConf('1.1.0', {}, {name: 'gcnet'})
    const st = await node.invoke('cnidbg-ref', 'STATUS', conf, {})
    t.equal(st.exitCode, 0, st.stdout)
    const a = await node.pod('gca')
    const b = await node.pod('gcb')
    t.equal(
      (await node.invoke('cnidbg-ref', 'ADD', conf, {containerID: 'gc-a', netns: a.path, ifname: 'eth0'})).exitCode,
      0,
    )
    t.equal(
      (await node.invoke('cnidbg-ref', 'ADD', conf, {containerID: 'gc-b', netns: b.path, ifname: 'eth0'})).exitCode,
      0,
    )
    t.equal(reservations('gcnet').length, 2)
    const gc = await node.invoke(
      'cnidbg-ref',
      'GC',
      {...conf, 'cni.dev/valid-attachments': [{containerID: 'gc-a', ifname: 'eth0'}]},
      {},
    )
    t.equal(gc.exitCode, 0, gc.stdout)
    t.equal(gc.stdout, '')
    t.equal(reservations('gcnet').length, 1, 'b released')
    const hostLinks = (await node.hostJson(['link', 'show'])).map((l: any) => l.ifname)
    t.ok(hostLinks.includes(hostVethName('gc-a', 'eth0')), 'a kept')
    t.notOk(hostLinks.includes(hostVethName('gc-b', 'eth0')), 'b node side removed')
    t.same(
      (await podJson(b.name, ['link', 'show'])).map((l: any) => l.ifname),
      ['lo'],
    )
    t.equal(
      (await node.invoke('cnidbg-ref', 'DEL', conf, {containerID: 'gc-a', netns: a.path, ifname: 'eth0'})).exitCode,
      0,
    )
    t.same(reservations('gcnet'), [])
  })

  t.test('CNI_NETNS as /proc/<pid>/ns/net works like /run/netns/<name> (P13)', async (t) => {
    const pod = await node.pod('procns')
    const sleeper = run('ip', ['netns', 'exec', pod.name, 'sleep', '120'], {timeoutMs: 120_000})
    let pid = 0
    for (let i = 0; i < 100 && !pid; i++) {
      pid = Number((await run('ip', ['netns', 'pids', pod.name])).stdout.trim().split('\n')[0]) || 0
      if (!pid) await new Promise((r) => setTimeout(r, 100))
    }
    t.ok(pid > 0, 'a process holds the pod netns')
    const conf = refConf('1.1.0', {}, {name: 'procnet'})
    const o = {containerID: 'proc-1', netns: `/proc/${pid}/ns/net`, ifname: 'eth0'}
    const add = await node.invoke('cnidbg-ref', 'ADD', conf, o)
    t.equal(add.exitCode, 0, add.stdout)
    t.equal(add.json.interfaces[1].sandbox, o.netns)
    t.same((await podJson(pod.name, ['link', 'show', 'eth0']))[0].ifname, 'eth0')
    t.equal((await node.invoke('cnidbg-ref', 'CHECK', {...conf, prevResult: add.json}, o)).exitCode, 0)
    t.equal((await node.invoke('cnidbg-ref', 'DEL', conf, o)).exitCode, 0)
    process.kill(pid, 'SIGKILL')
    await sleeper
  })

  t.test('two networks with the same range keep separate reservations (P22)', async (t) => {
    const ranges = [[{subnet: '10.247.0.0/24'}]]
    const a = refConf('1.0.0', {ranges}, {name: 'same-a'})
    const b = refConf('1.0.0', {ranges}, {name: 'same-b'})
    const pa = await node.pod('samea')
    const pb = await node.pod('sameb')
    const oa = {containerID: 'same-1', netns: pa.path, ifname: 'eth0'}
    const ob = {containerID: 'same-2', netns: pb.path, ifname: 'eth0'}
    const ra = await node.invoke('cnidbg-ref', 'ADD', a, oa)
    const rb = await node.invoke('cnidbg-ref', 'ADD', b, ob)
    t.equal(ra.exitCode, 0, ra.stdout)
    t.equal(rb.exitCode, 0, rb.stdout)
    t.equal(reservations('same-a').length, 1)
    t.equal(reservations('same-b').length, 1)
    t.equal((await node.invoke('cnidbg-ref', 'DEL', b, ob)).exitCode, 0)
    t.equal(reservations('same-a').length, 1, "b's DEL leaves a alone")
    t.equal((await node.invoke('cnidbg-ref', 'CHECK', {...a, prevResult: ra.json}, oa)).exitCode, 0)
    t.equal((await node.invoke('cnidbg-ref', 'DEL', a, oa)).exitCode, 0)
  })

  t.test('a chained ADD keeps prevResult and appends to it (SPEC §2 ADD)', async (t) => {
    const pod = await node.pod('chain')
    const prevResult = {
      cniVersion: '1.0.0',
      interfaces: [{name: 'other0', mac: '02:00:00:00:00:99'}],
      ips: [{address: '192.0.2.5/24', interface: 0}],
      routes: [{dst: '192.0.2.0/24'}],
      dns: {nameservers: ['192.0.2.53']},
    }
    const conf = {...refConf('1.0.0', {}, {name: 'chainnet'}), prevResult}
    const o = {containerID: 'chain-1', netns: pod.path, ifname: 'eth0'}
    const add = await node.invoke('cnidbg-ref', 'ADD', conf, o)
    t.equal(add.exitCode, 0, add.stdout)
    t.equal(add.json.interfaces.length, 3)
    t.same(add.json.interfaces[0], prevResult.interfaces[0])
    t.same(add.json.ips[0], prevResult.ips[0])
    t.equal(add.json.ips[1].interface, 2, 'our address points at our pod interface')
    t.same(add.json.dns, prevResult.dns)
    t.equal((await node.invoke('cnidbg-ref', 'DEL', conf, o)).exitCode, 0)
  })
})
