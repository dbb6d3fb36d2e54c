// ADD against hostile input, through both ways of running it (the shell front and one Node process):
// an interface name, a CNI_NETNS or an IPAM route that would change the meaning of the plugin's `ip`
// commands must either be taken literally or be refused with a CNI error, and nothing else may run.
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

import {run} from '../../src/process/exec.js'
import {which} from '../../src/process/lite-exec.js'
import {ip} from '../../src/netns/netns.js'
import {hostVethName} from '../../src/reference-plugin/veth.js'
import {bundle, Node, podJson, refConf, type Invocation, type Tap} from '../helpers/ref-plugins.js'

const dir = await bundle(t)
const node = await Node.create(t, dir)
const scratch = mkdtempSync(join(tmpdir(), 'cnidbg-plugin-add-'))
t.teardown(() => rmSync(scratch, {recursive: true, force: true}))
writeFileSync(join(dir, 'cnidbg-ref-1p'), `#!/bin/sh\nexec '${process.execPath}' "\${0%/*}/cnidbg-ref" "$@"\n`, {
  mode: 0o755,
})

/** A process holding `netns` (its pid is what `ip … netns <pid>` takes), killed at teardown. */
async function holder(t: Tap, netns: string): Promise<number> {
  const sleeper = run('ip', ['netns', 'exec', netns, 'sleep', '300'], {timeoutMs: 300_000})
  let pid = 0
  for (let i = 0; i < 600 && !pid; i++) {
    pid = Number((await run('ip', ['netns', 'pids', netns])).stdout.trim().split('\n')[0]) || 0
    if (!pid) await new Promise((r) => setTimeout(r, 100))
  }
  t.teardown(async () => {
    if (pid) process.kill(pid, 'SIGKILL')
    await sleeper
  })
  if (!pid) throw new Error(`no process in ${netns}`)
  return pid
}

const reservations = (network: string): string[] =>
  existsSync(node.storeDir(network)) ? readdirSync(node.storeDir(network)).filter((f) => /^[\d.:a-f]+$/.test(f)) : []
const hostLinks = async (): Promise<any[]> => node.hostJson(['link', 'show'])
const isCniError = (r: Invocation): boolean =>
  r.exitCode !== 0 && typeof r.json?.code === 'number' && typeof r.json?.msg === 'string'

for (const [entry, how, x] of [
  ['cnidbg-ref', 'shell front', 'f'],
  ['cnidbg-ref-1p', 'one process', 'p'],
] as const) {
  t.test(`${how}: an interface name with quotes does not enslave the node side to a node bridge`, async (t) => {
    await ip(['link', 'add', `br${x}`, 'type', 'bridge'], node.sb.host.name)
    const pod = await node.pod(`master${x}`)
    const ifname = `x"'master'"br${x}`
    const conf = refConf('1.1.0', {}, {name: `masternet${x}`})
    const o = {containerID: `master-${x}`, netns: pod.path, ifname}
    const add = await node.invoke(entry, 'ADD', conf, o)
    t.equal(add.exitCode, 0, add.stdout + add.stderr)
    t.same(await node.hostJson(['link', 'show', 'master', `br${x}`]), [], 'nothing joined the bridge')
    t.equal(add.json.interfaces[1].name, ifname, 'the result names the interface as given')
    t.same(
      (await podJson(pod.name, ['link', 'show'])).map((l: any) => l.ifname),
      ['lo', ifname],
      'the pod has the interface by its literal name',
    )
    const [host] = await node.hostJson(['link', 'show', 'dev', hostVethName(o.containerID, ifname)])
    t.notOk(host.master, 'the node side is in no bridge')
    t.equal((await node.invoke(entry, 'CHECK', {...conf, prevResult: add.json}, o)).exitCode, 0, 'CHECK finds it')
    t.equal((await node.invoke(entry, 'DEL', conf, o)).exitCode, 0)
  })

  t.test(`${how}: an interface name with quotes does not move the node side into another netns`, async (t) => {
    const victim = await node.pod(`victim${x}`)
    const pid = await holder(t, victim.name)
    const pod = await node.pod(`move${x}`)
    // The name, x"'netns'"<pid>, has room for a 5-digit pid in 15 bytes; with a longer pid
    // (pid_max may reach 4194304) the leading x goes, which the old code read just the same.
    const ifname = [`x"'netns'"${pid}`, `"'netns'"${pid}`].find((n) => Buffer.byteLength(n) <= 15)
    if (!ifname) return t.pass(`skipped: pid ${pid} leaves no room for the name in 15 bytes`)
    const conf = refConf('1.1.0', {}, {name: `movenet${x}`})
    const o = {containerID: `move-${x}`, netns: pod.path, ifname}
    const add = await node.invoke(entry, 'ADD', conf, o)
    t.same(
      (await podJson(victim.name, ['link', 'show'])).map((l: any) => l.ifname),
      ['lo'],
      'the other netns got nothing',
    )
    if (ifname.startsWith('x')) {
      // Written bare: ADD succeeds with the literal name.
      t.equal(add.exitCode, 0, add.stdout + add.stderr)
      t.ok(
        (await hostLinks()).some((l) => l.ifname === hostVethName(o.containerID, ifname)),
        'the node side stays on the node',
      )
    } else {
      // It would need quoting and holds both quotes: refused, naming the field.
      t.match(add.json, {code: 4, msg: /^CNI_IFNAME/})
    }
    t.equal((await node.invoke(entry, 'DEL', conf, o)).exitCode, 0)
  })

  t.test(`${how}: "#" in an interface name is refused before anything is made`, async (t) => {
    const pod = await node.pod(`hash${x}`)
    const before = (await hostLinks()).map((l) => l.ifname)
    const add = await node.invoke(entry, 'ADD', refConf('1.1.0', {}, {name: `hashnet${x}`}), {
      containerID: `hash-${x}`,
      netns: pod.path,
      ifname: 'e#',
    })
    t.ok(isCniError(add), add.stdout + add.stderr)
    t.equal(add.json?.code, 4)
    t.match(add.json?.msg, /^CNI_IFNAME "e#"/)
    t.same(
      (await hostLinks()).map((l) => l.ifname),
      before,
      'no node side',
    )
    t.same(
      (await podJson(pod.name, ['link', 'show'])).map((l: any) => l.ifname),
      ['lo'],
      'nothing in the pod',
    )
    t.same(reservations(`hashnet${x}`), [], 'no address reserved')
  })

  t.test(`${how}: an attachment too long for the veth alias is refused before anything is made`, async (t) => {
    const pod = await node.pod(`long${x}`)
    const before = (await hostLinks()).map((l) => l.ifname)
    const net = `longnet${x}`
    for (const [containerID, name, code] of [
      [`long-${x}-${'c'.repeat(240)}`, net, 4],
      [`long-${x}`, `${net}-${'n'.repeat(250)}`, 7],
    ] as const) {
      const add = await node.invoke(entry, 'ADD', refConf('1.1.0', {}, {name}), {
        containerID,
        netns: pod.path,
        ifname: 'eth0',
      })
      t.ok(isCniError(add), add.stdout + add.stderr)
      t.equal(add.json?.code, code, 'names what to shorten by its code')
      t.match(add.json?.msg, /veth alias of \d+ bytes; the kernel keeps at most 255/)
      t.same(reservations(name), [], 'no address reserved')
    }
    t.same(
      (await hostLinks()).map((l) => l.ifname),
      before,
      'no node side',
    )
    // The longest that fits still works: 255 bytes exactly.
    const fits = `long-${x}-`.padEnd(255 - `cnidbg-ref ${net}  eth0`.length, 'c')
    const ok = await node.invoke(entry, 'ADD', refConf('1.1.0', {}, {name: net}), {
      containerID: fits,
      netns: pod.path,
      ifname: 'eth0',
    })
    t.equal(ok.exitCode, 0, ok.stdout + ok.stderr)
    const [host] = await node.hostJson(['link', 'show', 'dev', hostVethName(fits, 'eth0')])
    t.equal(host?.ifalias, `cnidbg-ref ${net} ${fits} eth0`, 'the whole alias is on the veth')
    const del = await node.invoke(entry, 'DEL', refConf('1.1.0', {}, {name: net}), {
      containerID: fits,
      netns: pod.path,
      ifname: 'eth0',
    })
    t.equal(del.exitCode, 0, del.stdout + del.stderr)
  })

  t.test(`${how}: a newline in CNI_NETNS runs no command`, async (t) => {
    const pod = await node.pod(`nl${x}`)
    const pid = await holder(t, pod.name)
    const canary = join(scratch, `netns-canary-${x}`)
    // A relative path that exists (from the plugin's working directory), whose first line is a pid:
    // `ip … netns <pid>` would take it, and the next line would be a command of its own.
    const netns = `${pid}\nnetns exec ${pod.name} touch ${canary}`
    const cwd = join(scratch, `cwd-${x}`)
    mkdirSync(join(cwd, netns), {recursive: true})
    const add = await node.invoke(entry, 'ADD', refConf('1.1.0', {}, {name: `nlnet${x}`}), {
      containerID: `nl-${x}`,
      netns,
      ifname: 'eth0',
      cwd,
    })
    t.notOk(existsSync(canary), 'the command on the second line did not run')
    t.ok(isCniError(add), add.stdout + add.stderr)
    t.equal(add.json?.code, 4)
    t.match(add.json?.msg, /^CNI_NETNS/)
    t.same(
      (await podJson(pod.name, ['link', 'show'])).map((l: any) => l.ifname),
      ['lo'],
    )
  })

  t.test(`${how}: a newline in an IPAM route's gw runs no command`, async (t) => {
    const pod = await node.pod(`gw${x}`)
    const canary = join(scratch, `gw-canary-${x}`)
    const stubDir = join(scratch, `stub-${x}`)
    mkdirSync(stubDir)
    const result = {
      cniVersion: '1.1.0',
      ips: [{address: '10.250.0.2/24', gateway: '10.250.0.1'}],
      routes: [{dst: '0.0.0.0/0', gw: `10.250.0.1\nnetns exec ${pod.name} touch ${canary} #`}],
    }
    // A stub IPAM plugin: prints the chosen result for ADD, succeeds quietly for DEL.
    writeFileSync(
      join(stubDir, 'stub-ipam'),
      `#!/bin/sh\n[ "$CNI_COMMAND" = ADD ] && cat <<'EOF'\n${JSON.stringify(result)}\nEOF\nexit 0\n`,
      {mode: 0o755},
    )
    const before = (await hostLinks()).map((l) => l.ifname)
    const add = await node.invoke(
      entry,
      'ADD',
      {...refConf('1.1.0', {}, {name: `gwnet${x}`}), ipam: {type: 'stub-ipam'}},
      {containerID: `gw-${x}`, netns: pod.path, ifname: 'eth0', path: `${stubDir}:${dir}`},
    )
    t.notOk(existsSync(canary), 'the command after the newline did not run')
    t.ok(isCniError(add), add.stdout + add.stderr)
    t.equal(add.json?.code, 7)
    t.match(add.json?.msg, /routes\[0\]\.gw/)
    t.same(
      (await hostLinks()).map((l) => l.ifname),
      before,
      'the node side was rolled back',
    )
    t.same(
      (await podJson(pod.name, ['link', 'show'])).map((l: any) => l.ifname),
      ['lo'],
    )
  })
}

t.test(
  'one process: when IPAM fails, the pair is deleted by the batch that made it, and nothing more runs',
  async (t) => {
    const pod = await node.pod('ipamfail')
    const bin = mkdtempSync(join(scratch, 'bin-'))
    const log = join(bin, 'log')
    // An `ip` first on PATH that logs each batch it is given, then hands it to the real one.
    writeFileSync(
      join(bin, 'ip'),
      `#!/bin/sh\nin=$(cat)\nprintf '%s\\n--\\n' "$in" >>'${log}'\nprintf '%s\\n' "$in" | exec '${which('ip')}' "$@"\n`,
      {mode: 0o755},
    )
    writeFileSync(
      join(bin, 'busy-ipam'),
      `#!/bin/sh\ncat >/dev/null\necho '{"cniVersion":"1.1.0","code":11,"msg":"busy, try later"}'\nexit 1\n`,
      {mode: 0o755},
    )
    const hostIf = hostVethName('ipamfail-p', 'eth0')
    const add = await node.invoke(
      'cnidbg-ref-1p',
      'ADD',
      {...refConf('1.1.0', {}, {name: 'ipamfail'}), ipam: {type: 'busy-ipam'}},
      {
        containerID: 'ipamfail-p',
        netns: pod.path,
        ifname: 'eth0',
        path: `${bin}:${dir}`,
        env: {PATH: `${bin}:${process.env.PATH}`},
      },
    )
    t.equal(add.json?.code, 11, add.stdout + add.stderr)
    t.notOk(
      (await hostLinks()).some((l) => l.ifname === hostIf),
      'no node side is left',
    )
    // The plugin's batches (the sandbox's own `ip netns exec`, which starts it, is given the config).
    const batches = readFileSync(log, 'utf8')
      .split('\n--\n')
      .filter((b) => !b.startsWith('{'))
    const made = batches.filter((b) => b.includes(`link add name ${hostIf} `))
    t.equal(made.length, 1, 'one batch made the pair')
    t.match(made[0], `link del dev ${hostIf}`, 'and deleted it')
    t.same(batches, [made[0], ''], 'and ip ran once: no second one to delete it, none in the pod')
  },
)
