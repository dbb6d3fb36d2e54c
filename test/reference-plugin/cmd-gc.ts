// GC attributes node-side veths by their alias: an interface name that quotes could cut out of the
// alias must still come back intact, so a GC that lists the attachment as valid keeps its veth.
import {existsSync, readdirSync} from 'node:fs'

import t from 'tap'

import {ip} from '../../src/netns/netns.js'
import {hostVethName} from '../../src/reference-plugin/veth.js'
import {bundle, ipOnPath, Node, refConf} from '../helpers/ref-plugins.js'

const dir = await bundle(t)
const node = await Node.create(t, dir)

const reservations = (network: string): string[] =>
  existsSync(node.storeDir(network)) ? readdirSync(node.storeDir(network)).filter((f) => /^[\d.:a-f]+$/.test(f)) : []

t.test('GC keeps a valid attachment whose interface name holds quotes, and removes the stale one', async (t) => {
  const conf = refConf('1.1.0', {}, {name: 'gcquote'})
  // Unquoted into `alias "cnidbg-ref <net> <cid> <ifname>"`, this name would end the alias after "a"
  // and add "mtu 1400": a valid command, with an alias naming interface "a".
  const ifname = `a"'mtu'"1400`
  const a = await node.pod('gcqa')
  const b = await node.pod('gcqb')
  const keep = {containerID: 'gcq-keep', netns: a.path, ifname}
  const stale = {containerID: 'gcq-stale', netns: b.path, ifname: `b"'mtu'"1400`}
  for (const o of [keep, stale]) {
    const add = await node.invoke('cnidbg-ref', 'ADD', conf, o)
    t.equal(add.exitCode, 0, add.stdout + add.stderr)
  }
  const gc = await node.invoke(
    'cnidbg-ref',
    'GC',
    {...conf, 'cni.dev/valid-attachments': [{containerID: keep.containerID, ifname: keep.ifname}]},
    {},
  )
  t.equal(gc.exitCode, 0, gc.stdout)
  const links = (await node.hostJson(['link', 'show'])).map((l: any) => l.ifname)
  t.ok(links.includes(hostVethName(keep.containerID, keep.ifname)), 'the valid attachment keeps its veth')
  t.notOk(links.includes(hostVethName(stale.containerID, stale.ifname)), 'the stale one is removed')
  t.equal(reservations('gcquote').length, 1, 'IPAM and the veths agree')
  const [veth] = await node.hostJson(['link', 'show', 'dev', hostVethName(keep.containerID, keep.ifname)])
  t.equal(veth.ifalias, `cnidbg-ref gcquote gcq-keep a%22%27mtu%27%221400`, 'the alias carries the name encoded')
  t.equal((await node.invoke('cnidbg-ref', 'DEL', conf, keep)).exitCode, 0)
  t.same(reservations('gcquote'), [])
})

t.test("GC deletes only veths whose name is the one their alias's attachment derives", async (t) => {
  const conf = refConf('1.1.0', {}, {name: 'gcname'})
  // A veth that is not ours, whatever its alias claims (another tool's, or a forged alias).
  const host = node.sb.host.name
  await ip(['link', 'add', 'cnidbgforeign0', 'type', 'veth', 'peer', 'name', 'cnidbgforeign1'], host)
  t.teardown(() => ip(['link', 'del', 'cnidbgforeign0'], host).catch(() => {}))
  await ip(['link', 'set', 'cnidbgforeign0', 'alias', 'cnidbg-ref gcname stale-cid eth0'], host)
  const gc = await node.invoke('cnidbg-ref', 'GC', {...conf, 'cni.dev/valid-attachments': []}, {})
  t.equal(gc.exitCode, 0, gc.stdout)
  const links = (await node.hostJson(['link', 'show'])).map((l: any) => l.ifname)
  t.ok(links.includes('cnidbgforeign0'), 'a veth whose name is not hostVethName(cid, ifname) stays')
})

t.test('GC deletes every stale veth, even when one of them is gone by the time it is deleted', async (t) => {
  const conf = refConf('1.1.0', {}, {name: 'gcgone'})
  const atts = []
  for (const c of ['a', 'b']) {
    const pod = await node.pod(`gcg${c}`)
    const o = {containerID: `gcg-${c}`, netns: pod.path, ifname: 'eth0'}
    t.equal((await node.invoke('cnidbg-ref', 'ADD', conf, o)).exitCode, 0)
    atts.push(o)
  }
  // An `ip` first on PATH that, given a batch deleting several links, deletes the first one itself
  // before the batch runs: as when that pod's namespace was deleted meanwhile.
  const bin = ipOnPath(
    t,
    (real) => `#!/bin/sh
for a in "$@"; do
  if [ "$a" = -batch ]; then
    input=$(cat)
    if [ "$(printf '%s\\n' "$input" | grep -c '^link del dev ')" -ge 2 ]; then
      first=$(printf '%s\\n' "$input" | sed -n 's/^link del dev "*\\([A-Za-z0-9]*\\)"*$/\\1/p' | head -n 1)
      '${real}' link del dev "$first"
    fi
    printf '%s\\n' "$input" | '${real}' "$@"
    exit $?
  fi
done
exec '${real}' "$@"
`,
  )
  const gc = await node.invoke(
    'cnidbg-ref',
    'GC',
    {...conf, 'cni.dev/valid-attachments': []},
    {env: {PATH: `${bin}:${process.env.PATH}`}},
  )
  t.equal(gc.exitCode, 0, gc.stdout)
  const links = (await node.hostJson(['link', 'show'])).map((l: any) => l.ifname)
  for (const o of atts)
    t.notOk(links.includes(hostVethName(o.containerID, o.ifname)), `${o.containerID}'s veth is gone`)
  t.same(reservations('gcgone'), [], 'and both addresses are released')
})

t.test('GC with a malformed valid-attachments entry removes nothing: veths and addresses stay (code 7)', async (t) => {
  const conf = refConf('1.1.0', {}, {name: 'gcbad'})
  const pod = await node.pod('gcbad')
  const o = {containerID: 'gcbad-a', netns: pod.path, ifname: 'eth0'}
  t.equal((await node.invoke('cnidbg-ref', 'ADD', conf, o)).exitCode, 0)
  // Read as "nothing of gcbad-a is valid", the veth would go; cnidbg-ipam refuses the list, so the address would stay.
  const gc = await node.invoke('cnidbg-ref', 'GC', {...conf, 'cni.dev/valid-attachments': [null]}, {})
  t.equal(gc.exitCode, 1)
  t.equal(gc.json?.code, 7, gc.stdout)
  const links = (await node.hostJson(['link', 'show'])).map((l: any) => l.ifname)
  t.ok(links.includes(hostVethName(o.containerID, o.ifname)), 'the veth stays')
  t.equal(reservations('gcbad').length, 1, 'and its address')
  t.equal((await node.invoke('cnidbg-ref', 'DEL', conf, o)).exitCode, 0)
})
