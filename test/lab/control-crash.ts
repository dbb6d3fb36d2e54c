// The supervisor's control socket against malformed requests: each gets a 4xx, the next good request
// is served, and the supervisor process (which hosts every node's daemon and kubelet) lives on.
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import t from 'tap'

import {startApiServer} from '../../src/lab/apiserver/server.js'
import {startControlServer} from '../../src/lab/control.js'
import {type LabState, writeLabState} from '../../src/lab/state.js'
import {eventually} from '../helpers/machine.js'
import {bundleEntries, child, good, hostileCases, raw, stall, stallCases, type Target} from '../helpers/raw-http.js'

t.setTimeout(300_000)

async function control(t: {teardown: (fn: () => unknown) => void}, limits = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'cnidbg-servers-ctl-'))
  const socket = join(dir, 'supervisor.sock')
  const logged: string[] = []
  const s = await startControlServer(
    socket,
    async (method, path) =>
      method === 'GET' && path === '/status' ? {status: 200, body: {ok: true}} : {status: 404, body: {error: 'no'}},
    {limits, log: (l) => logged.push(l)},
  )
  t.teardown(async () => {
    await s.close()
    rmSync(dir, {recursive: true, force: true})
  })
  return {target: {path: socket} as Target, logged}
}

t.test('every malformed request gets a 4xx and the next request is served', async (t) => {
  const {target, logged} = await control(t)
  for (const c of hostileCases('/status', '/topology')) {
    const got = await raw(target, c.data)
    t.ok(c.expect.includes(got.status), `${c.name}: ${got.status || got.error} (want ${c.expect.join(' or ')})`)
    t.equal((await good(target, '/status')).status, 200, `${c.name}: the next request is served`)
  }
  t.same(logged, [], 'none of them was an internal error')
})

t.test('a stalled client is cut off and does not hold up others', async (t) => {
  const {target} = await control(t, {headersTimeout: 300, requestTimeout: 600, connectionsCheckingInterval: 50})
  for (const c of stallCases('/status', '/topology')) {
    const stalled = stall(target, c.data)
    t.equal((await good(target, '/status')).status, 200, `${c.name}: served while a client stalls`)
    const got = await stalled
    t.ok([408, 413].includes(got.status), `${c.name}: the stalled connection is closed with ${got.status}`)
  }
})

t.test('the supervisor process survives them all', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'cnidbg-servers-sup-'))
  t.teardown(() => rmSync(root, {recursive: true, force: true}))
  const api = await startApiServer()
  t.teardown(() => api.close())
  const dir = join(root, 'crash')
  const kubeconfig = join(root, 'kubeconfig')
  api.writeKubeconfig(kubeconfig)
  // A lab with no nodes: the supervisor starts its informer and its control socket, nothing else.
  const state: LabState = {
    schemaVersion: 1,
    name: 'crash',
    mode: 'vxlan',
    dir,
    createdAt: new Date().toISOString(),
    phase: 'running',
    owner: null,
    kubeconfig,
    clusterCIDR: '10.244.0.0/16',
    underlay: {netns: 'cnidbg-servers-none', bridge: 'none', cidr: '198.18.0.0/15'},
    nodes: [],
    podsPerNode: 0,
    faults: [],
  }
  writeLabState(state)
  const bundle = await bundleEntries({'supervisor-main': 'src/lab/supervisor-main.ts'})
  const sup = child(t, join(bundle, 'supervisor-main.mjs'), ['--dir', dir])
  const socket = join(dir, 'supervisor.sock')
  const up = await eventually(() => /supervisor up/.test(sup.output()) || sup.proc.exitCode !== null, 60_000)
  t.ok(up && existsSync(socket), 'the supervisor serves its control socket', {output: sup.output()})
  const target: Target = {path: socket}
  t.equal((await good(target, '/status')).status, 200)
  for (const c of hostileCases('/status', '/topology')) {
    const got = await raw(target, c.data)
    t.ok(c.expect.includes(got.status), `${c.name}: ${got.status || got.error}`)
  }
  t.equal((await good(target, '/status')).status, 200, 'still served after all of them')
  t.equal(sup.proc.exitCode, null, 'the supervisor process is alive')
  t.equal(sup.proc.signalCode, null)
  t.notMatch(sup.output(), /TypeError|Uncaught|unhandled/i, 'nothing escaped the handlers')
})
