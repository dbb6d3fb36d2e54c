// The daemon's HTTP server against malformed requests: each gets a 4xx, the next good request is
// served, and the daemon process (in the lab, the supervisor hosting every node's daemon) lives on.
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import t from 'tap'

import {readListenFile} from '../../src/daemon/state.js'
import {startHttp} from '../../src/daemon/http.js'
import {startApiServer} from '../../src/lab/apiserver/server.js'
import {createNetns, deleteNetns} from '../../src/netns/netns.js'
import {eventually} from '../helpers/machine.js'
import {bundleEntries, child, good, hostileCases, raw, stall, stallCases, type Target} from '../helpers/raw-http.js'

t.setTimeout(300_000)

const endpoints = {
  '/healthz': async () => ({status: 200, body: {ok: true}}),
  '/diag': async () => ({status: 200, body: {node: 'a'}}),
}

t.test('every malformed request gets a 4xx and the next request is served', async (t) => {
  const logged: string[] = []
  const s = await startHttp('127.0.0.1:0', endpoints, {log: (l) => logged.push(l)})
  t.teardown(() => s.close())
  const target: Target = {port: Number(s.address.split(':')[1])}
  for (const c of hostileCases('/diag', '/diag')) {
    const got = await raw(target, c.data)
    t.ok(c.expect.includes(got.status), `${c.name}: ${got.status || got.error} (want ${c.expect.join(' or ')})`)
    t.equal((await good(target, '/healthz')).status, 200, `${c.name}: the next request is served`)
  }
  t.same(logged, [], 'none of them was an internal error')
})

t.test('a stalled client is cut off and does not hold up others', async (t) => {
  const s = await startHttp('127.0.0.1:0', endpoints, {
    limits: {headersTimeout: 300, requestTimeout: 600, connectionsCheckingInterval: 50},
  })
  t.teardown(() => s.close())
  const target: Target = {port: Number(s.address.split(':')[1])}
  for (const c of stallCases('/diag', '/diag')) {
    const stalled = stall(target, c.data)
    t.equal((await good(target, '/diag')).status, 200, `${c.name}: served while a client stalls`)
    const got = await stalled
    t.ok([408, 413].includes(got.status), `${c.name}: the stalled connection is closed with ${got.status}`)
  }
})

t.test('the daemon process survives them all', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cnidbg-servers-dmn-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  const api = await startApiServer()
  t.teardown(() => api.close())
  const kubeconfig = join(dir, 'kubeconfig')
  api.writeKubeconfig(kubeconfig)
  const bundle = await bundleEntries({'daemon-child': 'test/helpers/daemon-child.ts'})
  // An empty namespace and no Node object: the daemon serves and waits, with nothing to program.
  const netns = `cnidbg-servers-${process.pid}`
  await createNetns(netns)
  t.teardown(() => deleteNetns(netns))
  const d = child(t, join(bundle, 'daemon-child.mjs'), ['n1', kubeconfig, dir, netns])
  let address: string | undefined
  const listening = await eventually(() => {
    address = readListenFile(join(dir, 'n1'))
    return Boolean(address) || d.proc.exitCode !== null
  }, 60_000)
  t.ok(listening && address, `the daemon serves on ${address}`, {output: d.output()})
  if (!address) return
  const target: Target = {port: Number(address.split(':')[1])}
  // Every path but /healthz asks for a token first: a 401 is the daemon answering.
  t.equal((await good(target, '/')).status, 401)
  for (const c of hostileCases('/diag', '/diag')) {
    const got = await raw(target, c.data)
    t.ok(c.expect.includes(got.status), `${c.name}: ${got.status || got.error}`)
  }
  t.equal((await good(target, '/')).status, 401, 'still answered after all of them')
  t.equal(d.proc.exitCode, null, 'the daemon process is alive')
  t.equal(d.proc.signalCode, null)
  t.notMatch(d.output(), /TypeError|Uncaught|unhandled/i, 'nothing escaped the handlers')
})
