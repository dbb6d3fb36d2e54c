// A --listen address the daemon can't bind is the user's or the machine's error (exit 2 or 3) naming
// --listen, said once: not an internal error (exit 70) with a stack trace.
import {randomBytes} from 'node:crypto'
import {mkdirSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {join} from 'node:path'

import t from 'tap'
import type {Test} from 'tap'

import {EXIT} from '../../src/core/exit-codes.js'
import {isCnidbgError} from '../../src/core/errors.js'
import {startHttp} from '../../src/daemon/http.js'
import {createNetns, deleteNetns} from '../../src/netns/index.js'
import {run} from '../../src/process/exec.js'
import {ROOT} from '../helpers/capture.js'
import {privateTmpdir} from '../helpers/machine.js'

const tmp = privateTmpdir(t)

/** A port another listener holds for the test's lifetime. */
async function heldPort(t: Test): Promise<number> {
  const holder: Server = createServer()
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())))
  return (holder.address() as {port: number}).port
}

/** What startHttp failed with. */
async function failure(listen: string): Promise<unknown> {
  const logged: string[] = []
  const error = await startHttp(listen, {}, {log: (line) => logged.push(line)}).then(
    async (s) => {
      await s.close()
      return new Error('it listened')
    },
    (e: unknown) => e,
  )
  return {error, logged}
}

t.test('startHttp names --listen and says whose fault it is', async (t) => {
  const port = await heldPort(t)
  const cases: Array<[string, number, RegExp]> = [
    [`127.0.0.1:${port}`, EXIT.ENVIRONMENT, /another process listens there/],
    ['unix:/nonexistent-dir-cnidbg/d.sock', EXIT.USAGE, /directory \/nonexistent-dir-cnidbg does not exist/],
    ['unix:/proc/cnidbg-d.sock', EXIT.ENVIRONMENT, /permission denied/],
    // TEST-NET-1 (RFC 5737): never one of this machine's addresses.
    ['192.0.2.1:0', EXIT.USAGE, /not one of this machine's/],
  ]
  for (const [listen, exit, message] of cases) {
    const {error, logged} = (await failure(listen)) as {error: any; logged: string[]}
    t.ok(isCnidbgError(error), `${listen}: a cnidbg error, not a bare ${error?.code}`)
    t.equal(error?.oclif?.exit, exit, `${listen}: exit ${exit}`)
    t.match(error?.message, `Cannot listen on --listen ${listen}`, listen)
    t.match(error?.message, message, listen)
    t.same(logged, [], `${listen}: thrown, not also logged`)
  }
})

t.test('ref daemon exits 3 with one line when its --listen port is taken', async (t) => {
  const port = await heldPort(t)
  const netns = `cnidbg-dl-${randomBytes(3).toString('hex')}`
  await createNetns(netns)
  t.teardown(() => deleteNetns(netns))
  const dir = join(tmp, 'daemon')
  mkdirSync(dir)
  // An API server that is never reached: the daemon fails before it needs one.
  const kubeconfig = join(dir, 'kubeconfig')
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{name: 'c', cluster: {server: 'https://127.0.0.1:1'}}],
      users: [{name: 'u', user: {token: 'x'}}],
      contexts: [{name: 'c', context: {cluster: 'c', user: 'u'}}],
      'current-context': 'c',
    }),
  )
  const daemon = (listen: string) =>
    run(
      process.execPath,
      [
        join(ROOT, 'bin/run.js'),
        'ref',
        'daemon',
        '--node',
        'n1',
        '--netns',
        netns,
        '--kubeconfig',
        kubeconfig,
        '--state-dir',
        join(dir, 'state'),
        '--subnet-file',
        join(dir, 'subnet.env'),
        '--network-policy',
        'off',
        '--listen',
        listen,
        '--once',
      ],
      {timeoutMs: 60_000},
    )
  const taken = await daemon(`127.0.0.1:${port}`)
  t.equal(taken.exitCode, EXIT.ENVIRONMENT, taken.stderr)
  t.equal(taken.stderr.split(`Cannot listen on --listen 127.0.0.1:${port}`).length, 2, 'said once')
  t.notMatch(taken.stderr, /bug in cnidbg|EADDRINUSE|\n\s+at /, 'no internal error, raw code or stack')

  const noDir = await daemon('unix:/nonexistent-dir-cnidbg/d.sock')
  t.equal(noDir.exitCode, EXIT.USAGE, noDir.stderr)
  t.match(noDir.stderr, 'the directory /nonexistent-dir-cnidbg does not exist')
})
