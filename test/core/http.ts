import type http from 'node:http'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'
import t from 'tap'

import {createBoundedServer, HttpError, listen, parseJson, readBody, requestUrl, statusOf} from '../../src/core/http.js'
import {bundleEntries, child, good, raw, type Target} from '../helpers/raw-http.js'

t.test('statusOf: the client is to blame for HttpErrors and cut-short bodies, not for the rest', async (t) => {
  t.equal(statusOf(new HttpError(413, 'big')), 413)
  t.equal(statusOf(Object.assign(new Error('aborted'), {code: 'ECONNRESET'})), 400)
  t.equal(statusOf(new TypeError('x is undefined')), 500)
  t.equal(statusOf(undefined), 500)
  t.equal(statusOf('a string'), 500)
})

t.test('requestUrl and parseJson fail with 400', async (t) => {
  t.equal(requestUrl({url: '/a/b?c=1'} as http.IncomingMessage).pathname, '/a/b')
  t.throws(() => requestUrl({url: 'http://[bad/x'} as http.IncomingMessage), {name: 'HttpError', status: 400})
  t.same(parseJson('{"a":1}'), {a: 1})
  t.throws(() => parseJson('{"a":'), {status: 400, message: /not valid JSON/})
  t.throws(() => parseJson('['.repeat(20_000) + ']'.repeat(20_000)), {status: 400, message: /nested deeper than/})
})

async function serve(t: {teardown: (fn: () => unknown) => void}, handler: Parameters<typeof createBoundedServer>[0]) {
  const logged: string[] = []
  const server = createBoundedServer(handler, {limits: {maxBody: 10}, log: (l) => logged.push(l)})
  await listen(server, 0, '127.0.0.1')
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  )
  return {target: {port: (server.address() as AddressInfo).port} as Target, logged}
}

t.test('a handler that throws, rejects or fails mid-response cannot take the server down', async (t) => {
  const {target, logged} = await serve(t, async (req, res) => {
    const path = requestUrl(req).pathname
    if (path === '/sync') throw new TypeError('thrown')
    if (path === '/mid') {
      res.writeHead(200)
      res.write('partial')
      await Promise.reject(new Error('after the headers'))
    }
    if (path === '/client') throw new HttpError(409, 'your fault')
    res.end('ok')
  })
  const sync = await good(target, '/sync')
  t.equal(sync.status, 500)
  t.match(sync.text, '{"error":"internal error"}', 'a 500 says nothing of the internals')
  t.match(logged.join('\n'), /TypeError: thrown/, 'but its stack is logged')
  const client = await good(target, '/client')
  t.equal(client.status, 409)
  t.match(client.text, '{"error":"your fault"}')
  const mid = await good(target, '/mid')
  t.equal(mid.status, 200, 'headers were out')
  t.notMatch(mid.text, /0\r\n\r\n$/, 'the chunked response is cut, not ended as if complete')
  t.equal((await good(target, '/')).status, 200, 'still serving')
})

t.test('readBody: 413 past the limit (declared or streamed), the body itself within it', async (t) => {
  const {target} = await serve(t, async (req, res) => {
    res.end(`${(await readBody(req, 10)).toString()}`)
  })
  const post = (headers: string, body: string) =>
    raw(target, `POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n${body}`)
  const ok = await post('Content-Length: 5\r\n', 'hello')
  t.equal(ok.status, 200)
  t.match(ok.text, /\r\n\r\nhello$/)
  t.equal((await post('Content-Length: 11\r\n', 'hello world')).status, 413)
  t.equal((await post('Transfer-Encoding: chunked\r\n', '6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n')).status, 413)
  t.equal((await post('Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n0\r\n\r\n')).status, 200)
})

t.test('a long-running entry point logs a stray rejection and keeps running', async (t) => {
  const dir = await bundleEntries({'rejection-child': 'test/helpers/rejection-child.ts'})
  const c = child(t, join(dir, 'rejection-child.mjs'), [])
  t.equal(await c.exited, 0)
  t.match(c.output(), /unhandled rejection \(kept running\): Error: a stray rejection/)
  t.match(c.output(), /still alive/)
})
