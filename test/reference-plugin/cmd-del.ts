// DEL is best effort (SPEC §2 DEL): a config field DEL does not use being invalid must not make it fail,
// through the shell front and through one Node process.
import {existsSync, readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {hostVethName} from '../../src/reference-plugin/veth.js'
import {bundle, Node, refConf} from '../helpers/ref-plugins.js'

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
