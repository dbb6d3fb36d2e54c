// The lab's forwarder (src/lab/forwarder-main.ts) relays bytes both ways between a TCP listener and a
// unix socket, in either direction, and a relay whose target is gone closes the client's connection.
import {mkdtempSync, rmSync, statSync} from 'node:fs'
import net from 'node:net'
import {join} from 'node:path'
import t from 'tap'

import {startForward} from '../../src/lab/forwarder-main.js'

/** Sends `line` through `connect` and resolves with everything the other side sent back before closing. */
function roundTrip(connect: () => net.Socket, line: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect()
    let got = ''
    s.on('data', (d) => (got += d.toString()))
    s.on('close', () => resolve(got))
    s.on('error', () => resolve(got))
    s.end(line)
  })
}

t.test('TCP to a unix socket and a unix socket to TCP, both ways', async (t) => {
  const dir = mkdtempSync('/tmp/cnidbgtest-fwd-')
  t.teardown(() => rmSync(dir, {recursive: true, force: true}))
  // An echo server on a unix socket, in upper case so the answer is not the request.
  const echo = net.createServer((c) => {
    let got = ''
    c.on('data', (d) => (got += d.toString()))
    c.on('end', () => c.end(got.toUpperCase()))
  })
  const echoPath = join(dir, 'echo.sock')
  await new Promise<void>((r) => echo.listen(echoPath, () => r()))
  t.teardown(() => echo.close())

  const tcp = await startForward({host: '127.0.0.1', port: 0}, {path: echoPath})
  t.teardown(() => tcp.close())
  const port = (tcp.address() as net.AddressInfo).port
  t.equal(await roundTrip(() => net.connect(port, '127.0.0.1'), 'hello'), 'HELLO', 'TCP → unix')

  const unixPath = join(dir, 'relay.sock')
  const unix = await startForward({path: unixPath}, {host: '127.0.0.1', port})
  t.teardown(() => unix.close())
  t.equal(statSync(unixPath).mode & 0o777, 0o600, 'its socket is 0600')
  t.equal(await roundTrip(() => net.connect(unixPath), 'again'), 'AGAIN', 'unix → TCP → unix')

  const dead = await startForward({host: '127.0.0.1', port: 0}, {path: join(dir, 'nobody.sock')})
  t.teardown(() => dead.close())
  const deadPort = (dead.address() as net.AddressInfo).port
  t.equal(await roundTrip(() => net.connect(deadPort, '127.0.0.1'), 'x'), '', 'no target: the connection is closed')
})
