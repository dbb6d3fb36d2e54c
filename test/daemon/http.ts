import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {request} from 'node:http'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import t from 'tap'

import {formatListen, parseListen, startHttp} from '../../src/daemon/http.js'
import {redact} from '../../src/kube/redact.js'

t.test('parseListen', async (t) => {
  t.same(parseListen('127.0.0.1:0'), {kind: 'tcp', host: '127.0.0.1', port: 0})
  t.same(parseListen(':9100'), {kind: 'tcp', host: '127.0.0.1', port: 9100})
  t.same(parseListen('[::1]:80'), {kind: 'tcp', host: '::1', port: 80})
  t.same(parseListen('unix:/run/x.sock'), {kind: 'unix', path: '/run/x.sock'})
  for (const bad of ['unix:rel.sock', '127.0.0.1', '1.2.3.4:99999', 'host:port'])
    t.equal(parseListen(bad), undefined, bad)
  t.equal(formatListen({kind: 'tcp', host: '::1', port: 80}), '[::1]:80')
})

function get(opts: {
  port?: number
  socketPath?: string
  path: string
  method?: string
  headers?: Record<string, string>
}) {
  return new Promise<{status: number; body: any; headers?: Record<string, unknown>}>((resolve, reject) => {
    // agent: false: a pooled keep-alive socket to a server closed since would fail with EPIPE.
    const req = request({host: '127.0.0.1', agent: false, ...opts}, (res) => {
      let text = ''
      res.on('data', (c) => (text += c))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: text ? JSON.parse(text) : undefined,
          ...(opts.headers ? {headers: res.headers} : {}),
        }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('all but an anonymous /healthz is refused before routing unless authorized', async (t) => {
  const seen: Array<string | undefined> = []
  let reached = 0
  const srv = await startHttp(
    '127.0.0.1:0',
    {
      '/healthz': async ({authorized}) => ({status: 200, body: authorized ? {ok: true, peers: ['b']} : {ok: true}}),
      '/diag': async () => {
        reached++
        return {status: 200, body: {node: 'a'}}
      },
    },
    {
      authorize: async (authorization) => {
        seen.push(authorization)
        if (!authorization) return {status: 401, error: 'a bearer token is required'}
        return authorization === 'Bearer reader' ? undefined : {status: 403, error: 'not allowed'}
      },
    },
  )
  t.teardown(() => srv.close())
  const port = Number(srv.address.split(':')[1])
  t.same(await get({port, path: '/healthz'}), {status: 200, body: {ok: true}}, '/healthz is open, to say ok')
  t.same(seen, [], '/healthz without credentials asks nothing')
  const withToken = (authorization: string) =>
    get({port, path: '/healthz', headers: {authorization}}).then((r) => [r.status, r.body])
  t.same(await withToken('Bearer reader'), [200, {ok: true, peers: ['b']}], 'a caller let in gets the report')
  t.same(await withToken('Bearer other'), [403, {error: 'not allowed'}], 'credentials refused: refused')
  t.same(seen, ['Bearer reader', 'Bearer other'])
  seen.length = 0
  const anonymous = await get({port, path: '/diag', headers: {}})
  t.equal(anonymous.status, 401)
  t.match(anonymous.headers?.['www-authenticate'], /^Bearer realm=/)
  t.same(anonymous.body, {error: 'a bearer token is required'})
  t.same(
    await get({port, path: '/diag', headers: {authorization: 'Bearer other'}}).then((r) => [r.status, r.body]),
    [403, {error: 'not allowed'}],
    'a caller without the permission: 403',
  )
  t.equal((await get({port, path: '/nope', headers: {}})).status, 401, 'an unknown path is refused before routing too')
  t.equal((await get({port, path: '/', headers: {}})).status, 401, 'so is the index')
  t.equal(reached, 0, 'no refused request reached the endpoint')
  t.same(await get({port, path: '/diag', headers: {authorization: 'Bearer reader'}}).then((r) => [r.status, r.body]), [
    200,
    {node: 'a'},
  ])
  t.equal(reached, 1)
})

t.test('serves JSON endpoints read-only on TCP and on a unix socket', async (t) => {
  const eps = {
    '/healthz': async () => ({status: 503, body: {ok: false}}),
    '/diag': async () => ({status: 200, body: {node: 'a'}}),
  }
  const tcp = await startHttp('127.0.0.1:0', eps)
  t.teardown(() => tcp.close())
  const port = Number(tcp.address.split(':')[1])
  t.ok(port > 0, `bound ${tcp.address}`)
  t.same(await get({port, path: '/healthz'}), {status: 503, body: {ok: false}})
  t.same(await get({port, path: '/diag?x=1'}), {status: 200, body: {node: 'a'}})
  t.equal((await get({port, path: '/nope'})).status, 404)
  t.equal((await get({port, path: '/diag', method: 'POST'})).status, 405)

  const dir = mkdtempSync(join(tmpdir(), 'cnidbg-dmn-http-'))
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  const sock = join(dir, 'd.sock')
  const unix = await startHttp(`unix:${sock}`, eps)
  t.equal(unix.address, `unix:${sock}`)
  t.same(await get({socketPath: sock, path: '/diag'}), {status: 200, body: {node: 'a'}})
  await unix.close()
  t.notOk(existsSync(sock), 'socket file removed on close')

  // A socket file left behind (a killed daemon) must not make the next start fail with EADDRINUSE.
  const leftover = createServer()
  await new Promise<void>((r) => leftover.listen(sock, r))
  t.ok(existsSync(sock))
  const again = await startHttp(`unix:${sock}`, eps)
  t.teardown(async () => {
    await again.close()
    leftover.close()
  })
  t.same((await get({socketPath: sock, path: '/healthz'})).status, 503)
})

t.test('redact removes credentials from anything reported', async (t) => {
  const s = redact(
    'Authorization: Bearer abc.def.ghi token=s3cr3t https://admin:pw@10.0.0.1:6443/api eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig -----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----',
  )
  for (const secret of ['abc.def.ghi', 's3cr3t', 'admin:pw', 'eyJhbGci', 'MIIB']) t.notMatch(s, secret)
  t.match(s, 'https://[redacted]@10.0.0.1:6443/api')
})
