// cnidbg-ref's plugin server (serve.ts) with the real shell front: served ADD/DEL against kernel state,
// errors and a delegate's stderr through it, the fall-backs (not served, a dead server, a client left
// waiting), parallel ADDs, and a clean stop. Everything runs in one Sandbox, removed at teardown.
import {execFileSync} from 'node:child_process'
import {
  chmodSync,
  closeSync,
  constants,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

import {runOk} from '../../src/process/exec.js'
import {startTime} from '../../src/reference-plugin/ipam/lock.js'
import {hostVethName} from '../../src/reference-plugin/veth.js'
import {zombie} from '../helpers/machine.js'
import {bundle, Node, podJson, refConf} from '../helpers/ref-plugins.js'

const dir = await bundle(t)
const node = await Node.create(t, dir)
const srvDir = join(node.sb.hostPath('/run/cni'), 'cnidbg-ref')

interface Running {
  pid: number
  /** Stops it and returns its log (its stderr): one line per request it served or turned away. */
  stop(signal?: NodeJS.Signals): Promise<string>
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** `cnidbg-ref --serve` in the sandboxed host, as a node would run it; resolves once it serves. */
async function startServer(): Promise<Running> {
  const pidFile = join(srvDir, 'pid')
  const done = node.sb.run(process.execPath, [join(dir, 'cnidbg-ref'), '--serve'], {timeoutMs: 600_000})
  let exited = false
  void done.then(() => (exited = true))
  // Ready once the pid file names this server (a stale file may name something else).
  const serving = (): number | undefined => {
    try {
      const pid = Number(readFileSync(pidFile, 'utf8').split(' ')[0])
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--serve') ? pid : undefined
    } catch {
      return undefined
    }
  }
  // Up to 60 s: a bound for reporting a failure, never reached on a pass even on a loaded machine.
  for (let i = 0; i < 2400 && !serving(); i++) {
    if (exited) throw new Error(`the server exited: ${(await done).stderr}`)
    await sleep(25)
  }
  const pid = serving()
  if (!pid) throw new Error('the server did not start')
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    try {
      process.kill(pid, signal)
    } catch {
      // Gone already.
    }
    return (await done).stderr
  }
  t.teardown(() => stop())
  return {pid, stop}
}

const conf = refConf('1.1.0', {}, {name: 'servenet'})
const served = (o: {containerID: string; netns: string; ifname?: string}, verb = 'ADD', c: unknown = conf) =>
  node.invoke('cnidbg-ref', verb, c, {ifname: 'eth0', ...o})

t.test('served ADD and DEL leave the same kernel state as the standalone plugin', async (t) => {
  const server = await startServer()
  t.ok(readFileSync(join(srvDir, 'pid'), 'utf8').startsWith(`${server.pid} ${startTime(server.pid)}`), 'pid file')
  const pod = await node.pod('sv1')
  const o = {containerID: 'sv-1', netns: pod.path}
  const add = await served(o)
  t.equal(add.exitCode, 0, add.stdout + add.stderr)
  t.match(add.json, {cniVersion: '1.1.0', ips: [{address: /^10\.244\.\d+\.2\/24$/, interface: 1}]})
  const [link] = await podJson(pod.name, ['addr', 'show', 'dev', 'eth0'])
  t.equal(link.address, add.json.interfaces[1].mac, 'pod MAC as reported')
  t.ok(
    link.addr_info.some((a: any) => `${a.local}/${a.prefixlen}` === add.json.ips[0].address),
    'pod address as reported',
  )
  const hostIf = hostVethName('sv-1', 'eth0')
  const hr = await node.hostJson(['route', 'show', 'dev', hostIf])
  t.ok(
    hr.some((r: any) => r.dst === add.json.ips[0].address.split('/')[0]),
    'node route to the pod',
  )
  t.same(readdirSync(srvDir).sort(), ['pid', 'req'], 'no client FIFO or config copy is left')
  // A second ADD of the same attachment: the error object and exit code come back through the server.
  const again = await served(o)
  t.equal(again.exitCode, 1)
  t.equal(again.json?.code, 101, again.stdout)
  t.match(again.json?.msg, /already exists/)
  const del = await served(o, 'DEL')
  t.equal(del.exitCode, 0, del.stdout + del.stderr)
  t.equal(del.stdout, '', 'DEL prints nothing')
  const links = await node.hostJson(['link', 'show'])
  t.notOk(
    links.some((l: any) => l.ifname === hostIf),
    'node veth gone',
  )
  const del2 = await served(o, 'DEL')
  t.equal(del2.exitCode, 0, 'DEL again is fine (idempotent)')
  const log = await server.stop()
  t.match(
    log,
    /ADD sv-1\/eth0: exit 0 .*\n.*ADD sv-1\/eth0: exit 1 .*\n.*DEL sv-1\/eth0: exit 0 .*\n.*DEL sv-1\/eth0: exit 0 /,
    'the server did all four, in order',
  )
  t.notMatch(log, /not served/)
  t.notOk(existsSync(srvDir), 'a stopped server removes its directory')
})

t.test("an exec'd IPAM plugin's stderr reaches the client's stderr (P105)", async (t) => {
  const server = await startServer()
  // A stand-in IPAM plugin that logs to stderr and answers ADD with a fixed address.
  const ipamDir = join(node.sb.hostPath('/run/cni'), 'ipam-bin')
  await runOk('mkdir', ['-p', ipamDir])
  writeFileSync(
    join(ipamDir, 'loud-ipam'),
    `#!/bin/sh
echo "loud-ipam: $CNI_COMMAND marker" >&2
echo "second line" >&2
[ "$CNI_COMMAND" = ADD ] && echo '{"cniVersion":"1.1.0","ips":[{"address":"10.99.0.5/24","gateway":"10.99.0.1"}]}'
exit 0
`,
  )
  chmodSync(join(ipamDir, 'loud-ipam'), 0o755)
  const pod = await node.pod('sv2')
  const c = {cniVersion: '1.1.0', name: 'loudnet', type: 'cnidbg-ref', ipam: {type: 'loud-ipam'}}
  const o = {containerID: 'sv-2', netns: pod.path, ifname: 'eth0', path: `/run/cni/ipam-bin:${dir}`}
  const add = await node.invoke('cnidbg-ref', 'ADD', c, o)
  t.equal(add.exitCode, 0, add.stdout + add.stderr)
  t.equal(add.json?.ips?.[0]?.address, '10.99.0.5/24')
  t.match(add.stderr, /loud-ipam: ADD marker\nsecond line\n/, 'both stderr lines, in order')
  t.notMatch(add.stdout, /marker/, 'stderr stays off stdout')
  const del = await node.invoke('cnidbg-ref', 'DEL', c, o)
  t.equal(del.exitCode, 0, del.stdout + del.stderr)
  t.match(del.stderr, /loud-ipam: DEL marker/)
  t.match(await server.stop(), /ADD sv-2\/eth0: exit 0 [^]*DEL sv-2\/eth0: exit 0 /, 'both served')
})

t.test('a request the server will not take is done by the client, with its config intact', async (t) => {
  const server = await startServer()
  const pod = await node.pod('sv3')
  // A test hook is only honoured in the client's own process: the server says "-".
  const o = {containerID: 'sv-3', netns: pod.path, ifname: 'eth0', env: {CNIDBG_TEST_HOLD: 'nothing-here'}}
  const add = await node.invoke('cnidbg-ref', 'ADD', conf, o)
  t.equal(add.exitCode, 0, add.stdout + add.stderr)
  t.match(add.json, {cniVersion: '1.1.0', ips: [{interface: 1}]}, 'the re-read config gave a full result')
  t.same(readdirSync(srvDir).sort(), ['pid', 'req'], 'the client removed its config copy')
  const del = await node.invoke('cnidbg-ref', 'DEL', conf, o)
  t.equal(del.exitCode, 0, del.stdout + del.stderr)
  const log = await server.stop()
  t.equal(log.match(/not served \(another network namespace, or a test hook\)/g)?.length, 2, 'both turned away')
  t.notMatch(log, /sv-3/, 'and done by the client, not the server')
})

t.test('a dead server is never waited for, and a new one wakes clients left waiting', async (t) => {
  const server = await startServer()
  await server.stop('SIGKILL')
  t.ok(existsSync(join(srvDir, 'req')) && existsSync(join(srvDir, 'pid')), 'a killed server leaves its files')
  const pod = await node.pod('sv4')
  const o = {containerID: 'sv-4', netns: pod.path}
  const add = await served(o)
  t.equal(add.exitCode, 0, `the stale pid file is not trusted: ${add.stdout}${add.stderr}`)
  t.equal(add.stderr, '', 'quietly')
  t.equal((await served(o, 'DEL')).exitCode, 0)

  // A server that died but was not yet waited for (a zombie, its start time still matching) is dead too:
  // were it trusted, the client would wait on its FIFO and this ADD would never return.
  const dead = await zombie(t)
  writeFileSync(join(srvDir, 'pid'), `${dead.pid} ${dead.start}\n`)
  const addZ = await served(o)
  t.equal(addZ.exitCode, 0, `a zombie server is not trusted: ${addZ.stdout}${addZ.stderr}`)
  t.equal((await served(o, 'DEL')).exitCode, 0)

  // A pid file naming a live process that is no server (ours): the client sends its request and waits.
  writeFileSync(join(srvDir, 'pid'), `${process.pid} ${startTime(process.pid)}\n`)
  const pod2 = await node.pod('sv5')
  const waiting = served({containerID: 'sv-5', netns: pod2.path})
  for (let i = 0; i < 2400 && !readdirSync(srvDir).some((f) => /^c\.\d+$/.test(f)); i++) await sleep(25)
  t.ok(
    readdirSync(srvDir).some((f) => /^c\.\d+$/.test(f)),
    'the client waits on its FIFO',
  )
  // That "server" dies (its pid file now names a dead process); a real one starting wakes the client
  // (end-of-file), and the client does the ADD itself.
  writeFileSync(join(srvDir, 'pid'), `${server.pid} gone\n`)
  const fresh = await startServer()
  const add2 = await waiting
  t.equal(add2.exitCode, 0, add2.stdout + add2.stderr)
  t.match(add2.json, {ips: [{interface: 1}]})
  t.same(readdirSync(srvDir).sort(), ['pid', 'req'], 'nothing of the woken client is left')
  const del2 = await served({containerID: 'sv-5', netns: pod2.path}, 'DEL')
  t.equal(del2.exitCode, 0)
  const log = await fresh.stop()
  t.notMatch(log, /ADD sv-5/, 'the woken client did its ADD itself')
  t.match(log, /DEL sv-5\/eth0: exit 0 /, 'the new server serves what comes after')
})

t.test('parallel served ADDs get unique addresses, and DELs release them all', async (t) => {
  const server = await startServer()
  const n = 16
  const pods = await Promise.all(Array.from({length: n}, (_, i) => node.pod(`sp${i}`)))
  const adds = await Promise.all(pods.map((p, i) => served({containerID: `sp-${i}`, netns: p.path})))
  t.same(
    adds.map((a) => a.exitCode),
    Array(n).fill(0),
    adds.map((a) => a.stdout).join(''),
  )
  const ips = adds.map((a) => a.json.ips[0].address)
  t.equal(new Set(ips).size, n, 'unique addresses')
  const store = node.storeDir('servenet')
  t.equal(readdirSync(store).filter((f) => /^[\d.]+$/.test(f)).length, n, 'one reservation each')
  const dels = await Promise.all(pods.map((p, i) => served({containerID: `sp-${i}`, netns: p.path}, 'DEL')))
  t.same(
    dels.map((d) => d.exitCode),
    Array(n).fill(0),
  )
  t.equal(readdirSync(store).filter((f) => /^[\d.]+$/.test(f)).length, 0, 'all released')
  t.same(readdirSync(srvDir).sort(), ['pid', 'req'])
  const log = await server.stop()
  t.equal(log.match(/ADD sp-\d+\/eth0: exit 0 /g)?.length, n, 'every ADD served')
  t.equal(log.match(/DEL sp-\d+\/eth0: exit 0 /g)?.length, n, 'every DEL served')
})

t.test('a SIGTERM the moment the pid file names the server stops it cleanly', async (t) => {
  // Held just after its pid file is written (test-hold.ts): whoever started it may stop it from this
  // moment on. A signal that came before its handler would kill it outright, FIFO and pid file left.
  const holdDir = mkdtempSync(join(tmpdir(), 'cnidbg-hold-'))
  t.teardown(() => rmSync(holdDir, {recursive: true, force: true}))
  const holdFile = join(holdDir, 'pid')
  const heldDir = join(node.sb.hostPath('/run/cni'), 'cnidbg-ref-held')
  const done = node.sb.run(process.execPath, [join(dir, 'cnidbg-ref'), '--serve', '/run/cni/cnidbg-ref-held'], {
    env: {CNIDBG_TEST_HOLD: 'serve-ready', CNIDBG_TEST_HOLD_FILE: holdFile},
    timeoutMs: 120_000,
  })
  let exited = false
  void done.then(() => (exited = true))
  // Up to 60 s: a bound for reporting a failure, never reached on a pass.
  for (let i = 0; i < 2400 && !existsSync(holdFile) && !exited; i++) await sleep(25)
  if (!existsSync(holdFile)) {
    const r = await done
    t.fail('the server never reached the hold point', {exitCode: r.exitCode, signal: r.signal, stderr: r.stderr})
    return
  }
  const pid = Number(readFileSync(holdFile, 'utf8'))
  t.match(readFileSync(join(heldDir, 'pid'), 'utf8'), `${pid} `, 'its pid file names it')
  process.kill(pid, 'SIGTERM')
  rmSync(holdFile)
  const r = await done
  t.equal(r.signal, null, 'not killed by the signal')
  t.equal(r.exitCode, 0, 'it exits 0')
  t.match(r.stderr, /cnidbg-ref server: stopped/, 'after stopping as on any SIGTERM')
  t.notOk(existsSync(heldDir), 'its pid file and FIFO are gone with its directory')
})

t.test('a second server on the same directory refuses to start', async (t) => {
  const server = await startServer()
  const r = await node.sb.run(process.execPath, [join(dir, 'cnidbg-ref'), '--serve'], {timeoutMs: 60_000})
  t.equal(r.exitCode, 1)
  t.match(r.stderr, new RegExp(`already served by pid ${server.pid}`))
  t.ok(existsSync(join(srvDir, 'pid')), 'the running server keeps its files')
  await server.stop()
})

t.test('garbage and planted files do not end or hold the server; it serves on and stops on SIGTERM', async (t) => {
  const server = await startServer()
  const pod = await node.pod('sg1')
  const outside = mkdtempSync(join(tmpdir(), 'cnidbg-serve-victim-'))
  t.teardown(() => rmSync(outside, {recursive: true, force: true}))
  const victim = join(outside, 'victim')
  writeFileSync(victim, 'precious\n')
  /** Writes straight into the request FIFO, as anyone who can open it could. */
  const sendRaw = (data: string) => {
    const fd = openSync(join(srvDir, 'req'), constants.O_WRONLY)
    try {
      const buf = Buffer.from(data)
      for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off)
    } finally {
      closeSync(fd)
    }
  }
  /** A hand-made client in the server's namespaces: `setup` is shell run after `c.$$` is made. */
  const fakeClient = (setup: string, env: Record<string, string>) =>
    node.sb.run('sh', ['-c', `srv=$1; mkfifo -m 600 "$srv/c.$$" || exit 9; ${setup}`, 'fake', srvDir], {
      env: {PATH: process.env.PATH ?? '/usr/bin:/bin', CONF: JSON.stringify(conf), CNI_PATH: dir, ...env},
      extendEnv: false,
      timeoutMs: 120_000,
    })
  const cni = (verb: string, cid: string) => ({
    CNI_COMMAND: verb,
    CNI_CONTAINERID: cid,
    CNI_IFNAME: 'eth0',
    CNI_NETNS: pod.path,
  })

  // An unterminated line of 1 MiB; the next good client's request is appended to it and lost, and the
  // server finds that client waiting on its FIFO and serves it anyway.
  sendRaw('x'.repeat(1 << 20))
  const first = await served({containerID: 'sg-1', netns: pod.path})
  t.equal(first.exitCode, 0, `a good ADD after an unterminated line: ${first.stdout}${first.stderr}`)
  // Lines that are no pid, a pid that runs no client (the server itself), one that does not exist.
  sendRaw(`\nabc\n0x10\n-5\n1e3\n${'9'.repeat(40)}\n${server.pid}\n999999999\n`)
  // Planted at the reply FIFO's name: a symlink to a file outside, and a FIFO nobody will ever open.
  symlinkSync(victim, join(srvDir, `c.${process.pid}`))
  execFileSync('mkfifo', ['-m', '600', join(srvDir, `c.${process.ppid}`)])
  sendRaw(`${process.pid}\n${process.ppid}\n`)
  // A client whose config copy is a FIFO: it gets an error (code 5), it does not freeze the server.
  const fifoIn = await fakeClient(
    `mkfifo -m 600 "$srv/c.$$.in"; echo $$ >>"$srv/req"; cat <"$srv/c.$$"`,
    cni('ADD', 'sg-fifo'),
  )
  t.match(fifoIn.stdout, /^1 0\n.*"code":5/, `a FIFO for a config is an error: ${fifoIn.stdout}${fifoIn.stderr}`)
  // A config copy that is a symlink to a file outside: never read through.
  const linkIn = await fakeClient(`ln -s ${victim} "$srv/c.$$.in"; echo $$ >>"$srv/req"; cat <"$srv/c.$$"`, {
    ...cni('ADD', 'sg-link'),
  })
  t.match(linkIn.stdout, /^1 0\n.*"code":5/, `a symlink for a config is an error: ${linkIn.stdout}`)
  // Clients that vanish: before opening their FIFO, and right after.
  const gone = await fakeClient(
    `printf '%s' "$CONF" >"$srv/c.$$.in"; echo $$ >>"$srv/req"; echo $$`,
    cni('DEL', 'sg-gone'),
  )
  t.equal(gone.exitCode, 0)
  const left = await fakeClient(
    `printf '%s' "$CONF" >"$srv/c.$$.in"; echo $$ >>"$srv/req"; echo $$; exec 3<"$srv/c.$$"`,
    cni('DEL', 'sg-left'),
  )
  t.equal(left.exitCode, 0)
  // A newline in CNI_IFNAME must not forge a line in the log.
  await served({containerID: 'sg-forge', netns: pod.path, ifname: 'eth0\nADD forged/eth0: exit 0 in 0.1 ms'})

  // It still serves, in order, and is still the same process.
  const del = await served({containerID: 'sg-1', netns: pod.path}, 'DEL')
  t.equal(del.exitCode, 0, del.stdout + del.stderr)
  const pod2 = await node.pod('sg2')
  const add = await served({containerID: 'sg-2', netns: pod2.path})
  t.equal(add.exitCode, 0, add.stdout + add.stderr)
  t.equal((await served({containerID: 'sg-2', netns: pod2.path}, 'DEL')).exitCode, 0)
  t.doesNotThrow(() => process.kill(server.pid, 0), 'the same server process runs')

  // SIGTERM ends it though a planted FIFO is still unopened.
  const log = await server.stop()
  const lines = log.split('\n')
  t.match(log, /request line longer than 32 bytes \(x{32}\.\.\.\): dropped/, 'the long line, logged once')
  t.equal(log.match(/longer than/g)?.length, 1)
  t.match(log, /waiting without a request line: served\n.*ADD sg-1\/eth0: exit 0 /, 'the swallowed request was served')
  for (const bad of ['abc', '0x10', '-5', '1e3']) t.match(log, `request ${bad} is no pid: dropped`)
  t.match(log, `request ${'9'.repeat(40)} is no pid: dropped`)
  t.match(log, `client ${server.pid}: no reply FIFO: dropped`, 'a pid that is no client')
  t.match(log, 'client 999999999: no such process: dropped')
  t.match(log, `client ${process.pid}: reply FIFO: ELOOP: dropped`, 'a symlink is no reply FIFO')
  t.match(log, `client ${process.ppid}: the server stops: dropped`, 'the unopened FIFO was given up at SIGTERM')
  t.match(log, /ADD sg-fifo\/eth0: exit 1 /)
  t.match(log, /ADD sg-link\/eth0: exit 1 /)
  t.match(
    log,
    new RegExp(`client ${gone.stdout.trim()}: (gone|no such process): dropped`),
    'a client that left before opening its FIFO',
  )
  // It may be gone before the server looks at it, or only when the reply is written.
  t.match(
    log,
    new RegExp(`client ${left.stdout.trim()}: not served \\(gone\\)|DEL sg-left/eth0: exit 0 `),
    'a client that left after opening it',
  )
  t.match(log, /ADD sg-forge\/eth0\\x0aADD forged\/eth0: exit 0 in 0\.1 ms: exit \d+ /, 'the newline is escaped')
  t.notOk(
    lines.some((l) => /^(cnidbg-ref server: )?ADD forged/.test(l)),
    'no forged line',
  )
  t.match(log, /DEL sg-1\/eth0: exit 0 [^]*ADD sg-2\/eth0: exit 0 [^]*DEL sg-2\/eth0: exit 0 /, 'served on')
  t.match(lines.at(-2), /stopped$/, 'stopped cleanly')
  t.notMatch(log, /unexpected/, 'nothing escaped a handler')
  t.equal(readFileSync(victim, 'utf8'), 'precious\n', 'nothing written outside through a planted symlink')
  t.notOk(existsSync(srvDir), 'and it removed its directory, planted files included')
})
