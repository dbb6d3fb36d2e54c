// The delegation protocol (SPEC §4) with a spy IPAM plugin: found in CNI_PATH, same environment,
// complete stdin, stderr passed through, IPAM DEL after a failed ADD, every verb forwarded.
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

import {bundle, Node, refConf} from '../helpers/ref-plugins.js'

const dir = await bundle(t)
const node = await Node.create(t, dir)
const work = mkdtempSync(join(tmpdir(), 'cnidbg-delegate-'))
t.teardown(() => rmSync(work, {recursive: true, force: true}))

const SPY = `#!/bin/sh
d=$(dirname "$0")
input=$(cat)
echo "$CNI_COMMAND" >> "$d/log"
printf '%s' "$input" > "$d/stdin.$CNI_COMMAND"
env > "$d/env.$CNI_COMMAND"
echo "spy-stderr-marker-$CNI_COMMAND" >&2
if [ -f "$d/fail.$CNI_COMMAND" ]; then cat "$d/fail.$CNI_COMMAND"; exit 1; fi
if [ "$CNI_COMMAND" = ADD ]; then cat "$d/result"; fi
exit 0
`

/** A spy IPAM named `name` in its own dir; returns the dir. */
function spy(name: string): string {
  const d = join(work, name + '-' + Math.random().toString(36).slice(2, 8))
  mkdirSync(d)
  writeFileSync(join(d, name), SPY)
  chmodSync(join(d, name), 0o755)
  writeFileSync(
    join(d, 'result'),
    JSON.stringify({
      cniVersion: '1.0.0',
      ips: [{address: '10.123.0.9/24', gateway: '10.123.0.1'}],
      routes: [{dst: '0.0.0.0/0'}],
    }),
  )
  return d
}
const log = (d: string): string[] =>
  existsSync(join(d, 'log')) ? readFileSync(join(d, 'log'), 'utf8').split('\n').filter(Boolean) : []
const envOf = (d: string, verb: string): Record<string, string> =>
  Object.fromEntries(
    readFileSync(join(d, `env.${verb}`), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('CNI_'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  )

t.test('ADD/CHECK/DEL/STATUS/GC go to the delegate with our env and our stdin', async (t) => {
  const d = spy('spy-ipam')
  const pod = await node.pod('spy1')
  const conf = refConf('1.0.0', {type: 'spy-ipam'}, {name: 'spynet'})
  const o = {
    containerID: 'spy-1',
    netns: pod.path,
    ifname: 'eth0',
    cniArgs: 'IgnoreUnknown=1;K8S_POD_NAME=x',
    path: `${d}:${dir}`,
  }
  const add = await node.invoke('cnidbg-ref', 'ADD', conf, o)
  t.equal(add.exitCode, 0, add.stdout + add.stderr)
  t.equal(add.json.ips[0].address, '10.123.0.9/24', 'the delegate result is used')
  t.equal(add.json.ips[0].interface, 1)
  t.same(JSON.parse(readFileSync(join(d, 'stdin.ADD'), 'utf8')), conf, 'the complete config, unchanged')
  t.match(envOf(d, 'ADD'), {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'spy-1',
    CNI_NETNS: pod.path,
    CNI_IFNAME: 'eth0',
    CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=x',
    CNI_PATH: `${d}:${dir}`,
  })
  t.match(add.stderr, /spy-stderr-marker-ADD/, 'delegate stderr passed through')
  const withPrev = {...conf, prevResult: add.json}
  t.equal((await node.invoke('cnidbg-ref', 'CHECK', withPrev, o)).exitCode, 0)
  t.equal((await node.invoke('cnidbg-ref', 'DEL', withPrev, o)).exitCode, 0)
  const v11 = {...conf, cniVersion: '1.1.0'}
  t.equal((await node.invoke('cnidbg-ref', 'STATUS', v11, {path: o.path})).exitCode, 0)
  // A list that is not empty: the delegate must get it whole, not any list (checklist P104).
  const gc = {...v11, 'cni.dev/valid-attachments': [{containerID: 'spy-1', ifname: 'eth0'}]}
  t.equal((await node.invoke('cnidbg-ref', 'GC', gc, {path: o.path})).exitCode, 0)
  t.same(log(d), ['ADD', 'CHECK', 'DEL', 'STATUS', 'GC'])
  t.same(JSON.parse(readFileSync(join(d, 'stdin.GC'), 'utf8')), gc, 'the complete config, unchanged')
})

t.test('a failing delegate: its error is returned, and ADD is followed by IPAM DEL', async (t) => {
  const d = spy('spy-ipam')
  writeFileSync(join(d, 'fail.ADD'), JSON.stringify({cniVersion: '1.0.0', code: 11, msg: 'busy, try later'}))
  writeFileSync(join(d, 'fail.STATUS'), JSON.stringify({cniVersion: '1.1.0', code: 50, msg: 'no addresses'}))
  writeFileSync(join(d, 'fail.CHECK'), JSON.stringify({cniVersion: '1.1.0', code: 110, msg: 'reservation gone'}))
  const pod = await node.pod('spy2')
  const conf = refConf('1.1.0', {type: 'spy-ipam'}, {name: 'spynet2'})
  const o = {containerID: 'spy-2', netns: pod.path, ifname: 'eth0', path: `${d}:${dir}`}
  const add = await node.invoke('cnidbg-ref', 'ADD', conf, o)
  t.equal(add.json?.code, 11, add.json?.msg)
  t.same(log(d), ['ADD', 'DEL'], 'IPAM DEL after the failed ADD (P106)')
  const st = await node.invoke('cnidbg-ref', 'STATUS', conf, {path: o.path})
  t.equal(st.json?.code, 50, 'STATUS error passed through (P90)')
  // A delegate failing CHECK fails ours.
  rmSync(join(d, 'fail.ADD'))
  const ok = await node.invoke('cnidbg-ref', 'ADD', conf, o)
  t.equal(ok.exitCode, 0)
  const chk = await node.invoke('cnidbg-ref', 'CHECK', {...conf, prevResult: ok.json}, o)
  t.equal(chk.json?.code, 110)
  t.match(chk.json?.msg, /reservation gone/)
  t.equal((await node.invoke('cnidbg-ref', 'DEL', conf, o)).exitCode, 0)
})

t.test('a cnidbg-ipam that is not our sibling is exec’d, not run in-process', async (t) => {
  const d = spy('cnidbg-ipam')
  const pod = await node.pod('spy3')
  const conf = refConf('1.0.0', {type: 'cnidbg-ipam'}, {name: 'spynet3'})
  const o = {containerID: 'spy-3', netns: pod.path, ifname: 'eth0', path: `${d}:${dir}`}
  const add = await node.invoke('cnidbg-ref', 'ADD', conf, o)
  t.equal(add.exitCode, 0, add.stdout)
  t.same(log(d), ['ADD'], 'the first cnidbg-ipam in CNI_PATH ran')
  t.equal((await node.invoke('cnidbg-ref', 'DEL', conf, o)).exitCode, 0)
  // And a missing delegate is an error that names CNI_PATH.
  const none = await node.invoke('cnidbg-ref', 'ADD', refConf('1.0.0', {type: 'nope-ipam'}, {name: 'spynet4'}), {
    ...o,
    containerID: 'spy-4',
  })
  t.equal(none.json?.code, 4)
  t.match(none.json?.msg, /CNI_PATH/)
})
