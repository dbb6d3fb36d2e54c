// The lab apiserver against malformed requests: each gets a 4xx Status (never a 500), and the next
// request is served. Requests carry the bearer token, so that what fails is the framing, not the
// authentication.
import {mkdtempSync, rmSync} from 'node:fs'
import {createServer} from 'node:http'
import {connect, type Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import t from 'tap'

import {serveOnSocket, startApiServer} from '../../../src/lab/apiserver/server.js'
import {good, hostileCases, raw, stall, stallCases, type Target} from '../../helpers/raw-http.js'

const TOKEN = 'crash-test-token'
const AUTH = `Authorization: Bearer ${TOKEN}\r\n`
const PODS = '/api/v1/namespaces/default/pods'

async function started(t: {teardown: (fn: () => unknown) => void}, limits = {}) {
  const logged: string[] = []
  const s = await startApiServer({token: TOKEN, limits: {maxBody: 1024, ...limits}, log: (l) => logged.push(l)})
  t.teardown(() => s.close())
  return {target: {port: s.port} as Target, logged}
}

function statusOf(text: string): Record<string, unknown> {
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>
}

t.test('an invalid URL is a 400 BadRequest Status, not a 500', async (t) => {
  const {target} = await started(t)
  const got = await raw(target, `GET http://[bad${PODS} HTTP/1.1\r\nHost: localhost\r\n${AUTH}\r\n`)
  t.equal(got.status, 400)
  t.match(statusOf(got.text), {kind: 'Status', code: 400, reason: 'BadRequest', message: /malformed request target/})
})

t.test('invalid JSON and an oversized body are 400 and 413 Statuses', async (t) => {
  const {target} = await started(t)
  const post = (body: string) =>
    raw(
      target,
      `POST ${PODS} HTTP/1.1\r\nHost: localhost\r\n${AUTH}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    )
  const bad = await post('{"kind": [')
  t.equal(bad.status, 400)
  t.match(statusOf(bad.text), {code: 400, reason: 'BadRequest'})
  const big = await post(JSON.stringify({metadata: {name: 'big'}, pad: 'x'.repeat(2000)}))
  t.equal(big.status, 413)
  t.match(statusOf(big.text), {code: 413, reason: 'RequestEntityTooLarge'})
})

t.test('a body nested deeper than cnidbg reads is a 400, not a 500 from an overflowed stack', async (t) => {
  const {target} = await started(t, {maxBody: 200_000})
  const deep = (body: string, method = 'POST', path = PODS, type = 'application/json') =>
    raw(
      target,
      `${method} ${path} HTTP/1.1\r\nHost: localhost\r\n${AUTH}Content-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    )
  const levels = '['.repeat(20_000) + ']'.repeat(20_000)
  const created = await deep(JSON.stringify({metadata: {name: 'deep'}}).replace(/}$/, `,"x":${levels}}`))
  t.equal(created.status, 400)
  t.match(statusOf(created.text), {code: 400, reason: 'BadRequest', message: /nested deeper than \d+ levels/})
  for (const type of ['application/merge-patch+json', 'application/strategic-merge-patch+json']) {
    const patched = await deep(`{"spec":${levels}}`, 'PATCH', `${PODS}/deep`, type)
    t.equal(patched.status, 400, type)
  }
  t.equal((await good(target, PODS, AUTH)).status, 200, 'the next request is served')
})

t.test('every malformed request gets a 4xx and the next request is served', async (t) => {
  const {target, logged} = await started(t)
  for (const c of hostileCases(PODS, PODS, AUTH)) {
    const got = await raw(target, c.data)
    t.ok(c.expect.includes(got.status), `${c.name}: ${got.status || got.error} (want ${c.expect.join(' or ')})`)
    t.equal((await good(target, PODS, AUTH)).status, 200, `${c.name}: the next request is served`)
  }
  t.notMatch(logged.join('\n'), / 5\d\d /, 'none of them was a 5xx')
})

t.test('a stalled client is cut off and does not hold up others', async (t) => {
  const {target} = await started(t, {headersTimeout: 300, requestTimeout: 600, connectionsCheckingInterval: 50})
  for (const c of stallCases(PODS, PODS, AUTH)) {
    const stalled = stall(target, c.data)
    t.equal((await good(target, PODS, AUTH)).status, 200, `${c.name}: served while a client stalls`)
    const got = await stalled
    t.equal(got.status, 408, `${c.name}: the stalled connection is closed with 408`)
  }
})

t.test('its unix socket has the connection bound too, and a failed accept there is logged', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cnidbg-api-sock-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  const socketPath = join(dir, 'api.sock')
  const s = await startApiServer({token: TOKEN, socketPath, limits: {maxConnections: 2}})
  t.teardown(() => s.close())
  const open: Socket[] = []
  t.teardown(() => open.forEach((c) => c.destroy()))
  /** What a connection on the socket gets for GET /healthz: its status line, or 'closed'. */
  const healthz = (): Promise<string> =>
    new Promise((resolve) => {
      const c = connect(socketPath)
      open.push(c)
      let text = ''
      c.on('data', (d) => {
        text += d
        if (text.includes('\r\n')) resolve(text.slice(0, text.indexOf('\r\n')))
      })
      c.on('close', () => resolve(text ? text.slice(0, text.indexOf('\r\n')) : 'closed'))
      c.on('error', () => {})
      c.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n')
    })
  // Two kept-alive connections are the bound; a third is closed unanswered.
  t.equal(await healthz(), 'HTTP/1.1 200 OK')
  t.equal(await healthz(), 'HTTP/1.1 200 OK')
  t.equal(await healthz(), 'closed', 'beyond maxConnections')
  open.splice(0).forEach((c) => c.destroy())

  // The accept errors of a listening socket (EMFILE…) are 'error' events: each is logged.
  const logged: string[] = []
  const server = createServer()
  const unix = await serveOnSocket(server, join(dir, 'other.sock'), (l) => logged.push(l))
  t.teardown(() => unix.close())
  for (let i = 0; i < 2; i++) unix.emit('error', Object.assign(new Error('accept EMFILE'), {code: 'EMFILE'}))
  t.equal(logged.length, 2, 'both logged, neither thrown')
  t.match(logged[1], /other\.sock: accept EMFILE/)
})
