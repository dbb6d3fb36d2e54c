// DEL is best effort (SPEC §2 DEL): a config field DEL does not use being invalid must not make it fail,
// through the shell front and through one Node process.
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t, {type Test} from 'tap'

import {hostVethName} from '../../src/reference-plugin/veth.js'
import {bundle, ipOnPath, Node, refConf} from '../helpers/ref-plugins.js'

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
