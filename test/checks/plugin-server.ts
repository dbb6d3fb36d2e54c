// Served mode's case servers (src/checks/plugin-server.ts) through CaseEnv, on the bundled cnidbg-ref:
// two cases at once get a server each, in their own sandbox, that serves only their own calls; a case
// whose server died is told so, though its plugin calls fell back and worked; a plugin that does not
// serve fails the case at its start. Nothing is left behind.
import {chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {CaseEnv, type CaseSetup} from '../../src/checks/case-env.js'
import {withServerProblem} from '../../src/conformance/runner.js'
import {loadConfFile} from '../../src/runtime/conf.js'
import {ROOT} from '../helpers/capture.js'
import {alive, assertNothingLeft, machineState, privateTmpdir} from '../helpers/machine.js'
import {bundle} from '../helpers/ref-plugins.js'

t.setTimeout(600_000)
const before = await machineState()
// Bundled first: the private TMPDIR below is for the sandboxes' temp dirs alone.
const dir = await bundle(t)
const tmp = privateTmpdir(t)

function setup(cniPath = dir): CaseSetup {
  const conf = join(ROOT, 'fixtures/conf/ref.conflist')
  const list = loadConfFile(conf)
  return {
    cniPath: [cniPath],
    confPath: conf,
    host: false,
    list: {...list, cniVersion: '1.1.0'},
    role: 'interface',
    served: true,
    subject: 0,
    timeoutMs: 60_000,
    version: '1.1.0',
  }
}

/** The pid the server's pid file in this case's sandbox names. */
const pidOf = (env: CaseEnv) =>
  Number(readFileSync(join(env.sb.hostPath('/run/cni'), 'cnidbg-ref', 'pid'), 'utf8').split(' ')[0])
const netOf = (path: string) => statSync(path).ino

/** The process group of `pid` (field 5 of its stat). */
const groupOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2])
}

t.test('two cases at once: a server each, in its own sandbox, serving its own calls only', async (t) => {
  const [a, b] = await Promise.all([CaseEnv.create(setup()), CaseEnv.create(setup())])
  t.teardown(() => Promise.all([a.dispose(), b.dispose()]))
  const [pa, pb] = [pidOf(a), pidOf(b)]
  t.not(pa, pb, 'two servers')
  t.equal(netOf(`/proc/${pa}/ns/net`), netOf(a.sb.host.path), "a's server is in a's sandbox host")
  t.equal(netOf(`/proc/${pb}/ns/net`), netOf(b.sb.host.path), "b's server is in b's sandbox host")
  t.equal(groupOf(pa), pa, 'it leads its process group, which a stop that hangs is killed by')
  const ra = a.rt(await a.netns())
  t.ok((await a.add(ra)).ok, 'ADD in a')
  t.ok((await a.del(ra)).ok, 'DEL in a')
  t.ok((await b.add(b.rt(await b.netns()))).ok, 'ADD in b')
  const [sa, sb] = [await a.stopServer(), await b.stopServer()]
  t.same(sa, {pid: pa, served: 2}, "a's server ran a's ADD and DEL, and stopped cleanly")
  t.same(sb, {pid: pb, served: 1}, "b's server ran b's ADD only")
  t.notOk(alive(pa) || alive(pb), 'both stopped')
  t.notOk(existsSync(join(a.sb.hostPath('/run/cni'), 'cnidbg-ref')), 'a stopped server removes its directory')
  t.equal(await a.stopServer(), undefined, 'stopped once')
})

t.test('a server that dies during the case: the plugin falls back, and the case is told', async (t) => {
  const env = await CaseEnv.create(setup())
  t.teardown(() => env.dispose())
  const pid = pidOf(env)
  process.kill(pid, 'SIGKILL')
  // Dead (a zombie counts) before the ADD starts: this case is a server found dead, and the window where
  // one dies between a client's check and its request is not what it tests (serve.ts says why).
  while (alive(pid)) await new Promise((r) => setTimeout(r, 10))
  const add = await env.add(env.rt(await env.netns()))
  t.ok(add.ok, 'the ADD worked all the same: the front did it itself')
  const report = await env.stopServer()
  t.equal(report?.pid, pid)
  t.equal(report?.served, 0, 'nothing was served')
  t.match(report?.problem, /exited during the case \(SIGKILL\)/)
  t.match(
    env.byHand()[1],
    /^# they run the plugin standalone: no plugin server is started by hand/,
    'the by-hand lines say they are not served',
  )
  const outcome = withServerProblem({status: 'pass'}, report!.problem!, env)
  t.match(outcome, {status: 'violation', severity: 'must', message: /^served mode: the plugin server/}, 'a pass fails')
  t.match(
    withServerProblem({message: 'DEL failed', status: 'violation'}, report!.problem!, env),
    {message: /^DEL failed; served mode: /},
    "a violation keeps the check's finding first",
  )
})

t.test('a plugin without a served mode: the case fails at its start, with why', async (t) => {
  // cnidbg-ref for everything but --serve, which fails as a plugin without a server would.
  const fake = join(tmp, 'fake-bin')
  mkdirSync(fake)
  writeFileSync(
    join(fake, 'cnidbg-ref'),
    `#!/bin/sh\n[ "$1" = --serve ] && { echo 'no server here' >&2; exit 1; }\nexec ${join(dir, 'cnidbg-ref')} "$@"\n`,
  )
  chmodSync(join(fake, 'cnidbg-ref'), 0o755)
  await t.rejects(CaseEnv.create(setup(fake)), /the plugin server did not start .*: it exited \(1\): no server here/)
})

t.test('the machine is as before', (t) => assertNothingLeft(t, before, tmp))
