// DEL is best effort (SPEC §2 DEL): a config field DEL does not use being invalid must not make it fail,
// through the shell front and through one Node process.
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t, {type Test} from 'tap'

import {hostVethName} from '../../src/reference-plugin/veth.js'
import {bundle, ipOnPath, Node, podJson, refConf} from '../helpers/ref-plugins.js'

const dir = await bundle(t)
const node = await Node.create(t, dir)
writeFileSync(join(dir, 'cnidbg-ref-1p'), `#!/bin/sh\nexec '${process.execPath}' "\${0%/*}/cnidbg-ref" "$@"\n`, {
  mode: 0o755,
})

const reservations = (network: string): string[] =>
  existsSync(node.storeDir(network)) ? readdirSync(node.storeDir(network)).filter((f) => /^[\d.:a-f]+$/.test(f)) : []
const hasLink = async (name: string): Promise<boolean> =>
  (await node.hostJson(['link', 'show'])).some((l: any) => l.ifname === name)

for (const [entry, how, x] of [
  ['cnidbg-ref', 'shell front', 'f'],
  ['cnidbg-ref-1p', 'one process', 'p'],
] as const) {
  t.test(`${how}: DEL succeeds and cleans up when mtu, dns or ipMasq is invalid`, async (t) => {
    const pod = await node.pod(`delmtu${x}`)
    const conf = refConf('1.1.0', {}, {name: `delmtu${x}`})
    const o = {containerID: `delmtu-${x}`, netns: pod.path, ifname: 'eth0'}
    t.equal((await node.invoke(entry, 'ADD', conf, o)).exitCode, 0)
    t.equal(reservations(`delmtu${x}`).length, 1)
    const del = await node.invoke(entry, 'DEL', {...conf, mtu: 'x', dns: 5, ipMasq: true}, o)
    t.equal(del.exitCode, 0, del.stdout)
    t.equal(del.stdout, '')
    t.notOk(await hasLink(hostVethName(o.containerID, 'eth0')), 'the node side is gone')
    t.same(reservations(`delmtu${x}`), [], 'the address is released')
  })

  t.test(`${how}: DEL succeeds when ipam.type is not a plugin name (nothing could have been reserved)`, async (t) => {
    const pod = await node.pod(`deltype${x}`)
    const conf = refConf('1.1.0', {}, {name: `deltype${x}`})
    const o = {containerID: `deltype-${x}`, netns: pod.path, ifname: 'eth0'}
    t.equal((await node.invoke(entry, 'ADD', conf, o)).exitCode, 0)
    for (const ipam of [{type: '../cnidbg-ipam'}, {type: 7}, 'not an object']) {
      const del = await node.invoke(entry, 'DEL', {...conf, ipam}, o)
      t.equal(del.exitCode, 0, `${JSON.stringify(ipam)}: ${del.stdout}`)
    }
    t.notOk(await hasLink(hostVethName(o.containerID, 'eth0')), 'the node side is gone')
    t.equal((await node.invoke(entry, 'DEL', conf, o)).exitCode, 0, 'the valid config then releases the address')
    t.same(reservations(`deltype${x}`), [])
  })
}

/**
 * A dir with an `ip` that, given a batch deleting a link, deletes it and then fails as the kernel answers
 * when the link vanished between ip's lookup of its name and the deletion: what a DEL racing the
 * deletion of the pod's namespace meets (conformance's del.netns-gone once saw it).
 */
function vanishingIp(t: Test): string {
  return ipOnPath(
    t,
    (real) => `#!/bin/sh
if [ "$1" = -batch ]; then
  input=$(cat)
  case "$input" in
  *"link del"*)
    printf '%s\\n' "$input" | '${real}' -batch - >/dev/null 2>&1
    echo 'RTNETLINK answers: No such device' >&2
    echo 'Command failed -:1' >&2
    exit 1
    ;;
  esac
  printf '%s\\n' "$input" | '${real}' -batch -
  exit $?
fi
exec '${real}' "$@"
`,
  )
}

for (const [entry, how, x] of [
  ['cnidbg-ref', 'shell front', 'f'],
  ['cnidbg-ref-1p', 'one process', 'p'],
] as const) {
  t.test(`${how}: a DEL whose node side vanishes under it ("No such device") succeeds`, async (t) => {
    const pod = await node.pod(`delrace${x}`)
    const conf = refConf('1.1.0', {}, {name: `delrace${x}`})
    const o = {containerID: `delrace-${x}`, netns: pod.path, ifname: 'eth0'}
    t.equal((await node.invoke(entry, 'ADD', conf, o)).exitCode, 0)
    const bin = vanishingIp(t)
    const del = await node.invoke(entry, 'DEL', conf, {...o, env: {PATH: `${bin}:${process.env.PATH}`}})
    t.equal(del.exitCode, 0, del.stdout)
    t.notOk(await hasLink(hostVethName(o.containerID, 'eth0')), 'the node side is gone')
    t.same(reservations(`delrace${x}`), [], 'the address is released')
  })
}

t.test('one process: a DEL that finds the node side gone runs no ip', async (t) => {
  const pod = await node.pod('delgone')
  const conf = refConf('1.1.0', {}, {name: 'delgone'})
  // An `ip` first on PATH that logs each run and then runs the real one.
  const bin = ipOnPath(t, (real, dir) => `#!/bin/sh\necho "$*" >>'${join(dir, 'log')}'\nexec '${real}' "$@"\n`)
  const log = join(bin, 'log')
  const o = {containerID: 'delgone-p', netns: pod.path, ifname: 'eth0', env: {PATH: `${bin}:${process.env.PATH}`}}
  // The plugin's runs (`ip -batch -`), not the sandbox's own `ip netns exec` that starts it.
  const runs = (): string[] =>
    existsSync(log)
      ? readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => l.startsWith('-'))
      : []
  t.equal((await node.invoke('cnidbg-ref-1p', 'ADD', conf, o)).exitCode, 0)
  const added = runs().length
  t.ok(added > 0, 'ADD ran the logging ip')
  t.equal((await node.invoke('cnidbg-ref-1p', 'DEL', conf, o)).exitCode, 0)
  t.same(runs().slice(added), ['-batch -'], 'the first DEL deletes the node side with one ip')
  t.notOk(await hasLink(hostVethName(o.containerID, 'eth0')), 'the node side is gone')
  t.equal((await node.invoke('cnidbg-ref-1p', 'DEL', conf, o)).exitCode, 0, 'a repeated DEL succeeds')
  t.equal(runs().length, added + 1, 'and runs no ip')
})

// Two attachments whose node-side names collide: hostVethName is a 32-bit hash, and these container
// IDs leave it in the same state, so they collide whatever interface name follows.
const [CID_A, CID_B] = ['c00000005b9cc', 'c0000000c2b18'] as const

/**
 * Runs cnidbg-ref in one Node process with a /sys/class/net that shows another namespace's link of
 * `name` (another ifindex) with `alias`: what a plugin started by `nsenter --net` without its own /sys
 * meets. Returns the entry's name in the plugin dir.
 */
function lyingSysfs(name: string, alias: string): string {
  const entry = `cnidbg-ref-sys-${name}`
  const sys = '/sys/class/net'
  writeFileSync(
    join(dir, entry),
    `#!/bin/sh
exec unshare --mount sh -c 'mount -t tmpfs none ${sys} && mkdir ${sys}/${name} &&
echo 99999 >${sys}/${name}/ifindex && printf "%s\\n" "$1" >${sys}/${name}/ifalias && exec "$2" "$3"' \
  sh '${alias}' '${process.execPath}' "\${0%/*}/cnidbg-ref"
`,
    {mode: 0o755},
  )
  return entry
}

for (const [entry, how, x, ifname] of [
  ['cnidbg-ref', 'shell front', 'f', 'eth0'],
  ['cnidbg-ref-1p', 'one process', 'p', 'eth1'],
] as const) {
  t.test(`${how}: attachments whose node-side names collide leave each other's veth alone`, async (t) => {
    const net = `coll${x}`
    const conf = refConf('1.1.0', {}, {name: net})
    const podA = await node.pod(`colla${x}`)
    const a = {containerID: CID_A, netns: podA.path, ifname}
    const b = {containerID: CID_B, netns: (await node.pod(`collb${x}`)).path, ifname}
    const hostIf = hostVethName(CID_A, ifname)
    t.equal(hostVethName(CID_B, ifname), hostIf, 'the two names collide')
    t.equal((await node.invoke(entry, 'ADD', conf, a)).exitCode, 0)

    const add = await node.invoke(entry, 'ADD', conf, b)
    t.equal(add.exitCode, 1)
    t.equal(add.json?.code, 101)
    t.match(add.json?.msg, `is taken by another attachment: network ${net}, container ${CID_A}, interface "${ifname}"`)
    t.notMatch(add.json?.details, /added twice/)
    t.equal(reservations(net).length, 1, "B's failed ADD reserved nothing")

    // SPEC §3: the runtime DELs an attachment whose ADD failed.
    const del = await node.invoke(entry, 'DEL', conf, b)
    t.equal(del.exitCode, 0, del.stdout)
    const link = (await node.hostJson(['link', 'show'])).find((l: any) => l.ifname === hostIf)
    t.equal(link?.ifalias, `cnidbg-ref ${net} ${CID_A} ${ifname}`, "A's node side is still there")
    t.ok(
      (await podJson(podA.name, ['link', 'show'])).some((l: any) => l.ifname === ifname),
      "and A's pod end",
    )
    t.equal(reservations(net).length, 1, "and A's address")

    t.equal((await node.invoke(entry, 'DEL', conf, a)).exitCode, 0)
    t.notOk(await hasLink(hostIf), "A's DEL deletes A's node side")
    t.same(reservations(net), [])
  })
}

t.test('a /sys of another namespace is not believed about whose link it is', async (t) => {
  const ifname = 'eth2'
  const conf = refConf('1.1.0', {}, {name: 'collsys'})
  const a = {containerID: CID_A, netns: (await node.pod('collsysa')).path, ifname}
  const b = {containerID: CID_B, netns: (await node.pod('collsysb')).path, ifname}
  const hostIf = hostVethName(CID_A, ifname)
  t.equal((await node.invoke('cnidbg-ref-1p', 'ADD', conf, a)).exitCode, 0)
  // This /sys says the link is B's: DEL of B would delete A's link if it believed it.
  const liar = lyingSysfs(hostIf, `cnidbg-ref collsys ${CID_B} ${ifname}`)
  t.equal((await node.invoke(liar, 'DEL', conf, b)).exitCode, 0)
  t.ok(await hasLink(hostIf), "A's node side is still there")
  // And says it is not A's: DEL of A still deletes it.
  const del = await node.invoke(lyingSysfs(hostIf, 'not ours'), 'DEL', conf, a)
  t.equal(del.exitCode, 0, del.stdout + del.stderr)
  t.notOk(await hasLink(hostIf), "A's DEL deletes A's node side")
  t.same(reservations('collsys'), [])
})
