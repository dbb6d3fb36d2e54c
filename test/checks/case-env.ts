// Where CaseEnv looks for a plugin's state: in a sandbox its private /var/lib/cni and /run/cni, with
// --host (the plugins run on this host) the host's own, which is where those plugins write.
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import {CaseEnv, type CaseSetup} from '../../src/checks/case-env.js'
import {loadConfFile} from '../../src/runtime/conf.js'
import {ROOT} from '../helpers/capture.js'
import {assertNothingLeft, machineState} from '../helpers/machine.js'

const before = await machineState()

function setup(host: boolean): CaseSetup {
  const conf = join(ROOT, 'fixtures/conf/upstream-host-local.conflist')
  const list = loadConfFile(conf)
  return {
    cniPath: ['/usr/lib/cni'],
    confPath: conf,
    host,
    list: {...list, cniVersion: '1.0.0'},
    role: 'ipam',
    subject: 0,
    timeoutMs: 30_000,
    version: '1.0.0',
  }
}

/** The state-dir lines of a snapshot, after a file was made in the sandbox's own /var/lib/cni. */
async function stateLines(env: CaseEnv): Promise<string[]> {
  const dir = join(env.sb.hostPath('/var/lib/cni'), 'networks-case-env')
  mkdirSync(dir, {recursive: true})
  writeFileSync(join(dir, '10.9.9.9'), 'c\r\neth0')
  return (await env.snapshot()).filter((l) => /^\/(var\/lib|run)\/cni: /.test(l))
}

t.test("sandboxed: the sandbox's state dirs", async (t) => {
  const env = await CaseEnv.create(setup(false))
  t.teardown(() => env.dispose())
  t.equal(env.stateDir, env.sb.hostPath('/var/lib/cni'))
  t.same(await stateLines(env), ['/var/lib/cni: file networks-case-env/10.9.9.9'])
})

t.test("--host: the host's state dirs, where the plugins write, not the unused sandbox's", async (t) => {
  const env = await CaseEnv.create(setup(true))
  t.teardown(() => env.dispose())
  t.equal(env.stateDir, '/var/lib/cni')
  t.equal(env.statePath('/run/cni'), '/run/cni')
  t.notOk(
    (await stateLines(env)).some((l) => l.includes('networks-case-env')),
    "a file in the sandbox's /var/lib/cni is not the host's state",
  )
})

t.test('left nothing behind', async (t) => {
  await assertNothingLeft(t, before)
})
