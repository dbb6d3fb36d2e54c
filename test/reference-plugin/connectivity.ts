// Two pods on one sandboxed node, wired by cnidbg-ref: each reaches the node and the other pod by ping
// (IPv4 and IPv6) and TCP. Traffic never leaves the sandbox's namespaces.
import t from 'tap'

import {runInNetns} from '../../src/netns/netns.js'
import {bundle, Node, refConf} from '../helpers/ref-plugins.js'

const dir = await bundle(t)
const node = await Node.create(t, dir)
const conf = refConf('1.1.0', {ranges: [[{subnet: '10.250.0.0/24'}], [{subnet: 'fd00:250::/64'}]]}, {name: 'connet'})

const a = await node.pod('a')
const b = await node.pod('b')
const addA = await node.invoke('cnidbg-ref', 'ADD', conf, {containerID: 'pod-a', netns: a.path, ifname: 'eth0'})
const addB = await node.invoke('cnidbg-ref', 'ADD', conf, {containerID: 'pod-b', netns: b.path, ifname: 'eth0'})
t.equal(addA.exitCode, 0, 'ADD pod A')
t.equal(addB.exitCode, 0, 'ADD pod B')
const ipOf = (r: any, i: number): string => r.json.ips[i].address.split('/')[0]
t.teardown(async () => {
  for (const [id, p] of [
    ['pod-a', a],
    ['pod-b', b],
  ] as const) {
    await node.invoke('cnidbg-ref', 'DEL', conf, {containerID: id, netns: p.path, ifname: 'eth0'})
  }
})

const ping = (from: string, to: string) => runInNetns(from, 'ping', ['-c', '1', '-W', '5', to], {timeoutMs: 20_000})

t.test('ping: pod to node, pod to pod, node to pod (IPv4 and IPv6)', async (t) => {
  for (const [from, to, what] of [
    [a.path, '10.250.0.1', 'A → node gateway'],
    [a.path, ipOf(addB, 0), 'A → B'],
    [b.path, ipOf(addA, 0), 'B → A'],
    [a.path, 'fd00:250::1', 'A → node gateway (v6)'],
    [a.path, ipOf(addB, 1), 'A → B (v6)'],
    [node.sb.host.path, ipOf(addA, 0), 'node → A'],
  ]) {
    const r = await ping(from!, to!)
    t.equal(r.exitCode, 0, r.exitCode === 0 ? what : `${what}: ${r.stdout}${r.stderr}`)
  }
})

/** A one-shot nc listener in `server`, and a client in `client` retried until the listener is up. */
async function tcp(server: string, client: string, to: string, port: number): Promise<string> {
  // openbsd nc listens on IPv4 only unless told otherwise.
  const listener = runInNetns(server, 'nc', [to.includes(':') ? '-6' : '-4', '-l', '-n', String(port)], {
    timeoutMs: 30_000,
  })
  for (let i = 0; i < 50; i++) {
    const c = await runInNetns(client, 'sh', ['-c', `echo hello-${port} | nc -N -n -w 3 ${to} ${port}`], {
      timeoutMs: 10_000,
    })
    if (c.exitCode === 0) break
    await new Promise((r) => setTimeout(r, 200))
  }
  return (await listener).stdout.trim()
}

t.test('TCP: pod to pod and node to pod', async (t) => {
  t.equal(await tcp(b.path, a.path, ipOf(addB, 0), 8080), 'hello-8080', 'A → B over TCP')
  t.equal(await tcp(a.path, node.sb.host.path, ipOf(addA, 0), 8081), 'hello-8081', 'node → A over TCP')
  t.equal(await tcp(a.path, b.path, `${ipOf(addA, 1)}`, 8082), 'hello-8082', 'B → A over TCP (v6)')
})
