// A --listen address the agent can't bind is the user's or the machine's error (exit 2 or 3) naming
// --listen, said once: not an internal error (exit 70) with a stack trace.
import {createServer} from 'node:net'
import {join} from 'node:path'

import t from 'tap'

import {isCnidbgError} from '../../src/core/errors.js'
import {EXIT} from '../../src/core/exit-codes.js'
import {Gate} from '../../src/kube/node-proxy-gate.js'
import type {AgentOps} from '../../src/agent/ops.js'
import {startAgentServer} from '../../src/agent/server.js'
import {selfSignedCert} from '../../src/agent/tls.js'
import {run} from '../../src/process/exec.js'
import {ROOT} from '../helpers/capture.js'

const holder = createServer()
await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())))
const port = (holder.address() as {port: number}).port

t.test('startAgentServer names --listen and says whose fault it is', async (t) => {
  const cert = await selfSignedCert('n1', ['127.0.0.1'])
  const refuseAll = new Gate(
    {reviewToken: async () => ({authenticated: false}), reviewAccess: async () => ({allowed: false})},
    {node: 'n1'},
  )
  // TEST-NET-1 (RFC 5737): never one of this machine's addresses.
  const cases: Array<[string, number, number, RegExp]> = [
    ['127.0.0.1', port, EXIT.ENVIRONMENT, /another process listens there/],
    ['192.0.2.1', 0, EXIT.USAGE, /not one of this machine's/],
  ]
  for (const [host, p, exit, message] of cases) {
    const logged: string[] = []
    const error: any = await startAgentServer({
      node: 'n1',
      ops: {nodeReader: {describe: 'none'}} as unknown as AgentOps,
      gate: refuseAll,
      host,
      port: p,
      tls: cert,
      log: (line) => logged.push(line),
    }).then(
      async (s) => {
        await s.close()
        return new Error('it listened')
      },
      (e: unknown) => e,
    )
    t.ok(isCnidbgError(error), `${host}:${p}: a cnidbg error, not a bare ${error?.code}`)
    t.equal(error?.oclif?.exit, exit, `${host}:${p}: exit ${exit}`)
    t.match(error?.message, `Cannot listen on --listen ${host}:${p}: `)
    t.match(error?.message, message)
    t.same(logged, [], 'thrown, not also logged')
  }
})

t.test('cnidbg agent exits 3 with one line when its --listen port is taken', async (t) => {
  // The node's namespace is only entered for a request: none is made.
  const r = await run(
    process.execPath,
    [
      join(ROOT, 'bin/run.js'),
      'agent',
      '--node',
      'n1',
      '--netns',
      'cnidbg-none',
      '--no-csr',
      '--listen',
      `127.0.0.1:${port}`,
    ],
    {timeoutMs: 60_000},
  )
  t.equal(r.exitCode, EXIT.ENVIRONMENT, r.stderr)
  t.equal(r.stderr.split(`Cannot listen on --listen 127.0.0.1:${port}`).length, 2, 'said once')
  t.notMatch(r.stderr, /bug in cnidbg|EADDRINUSE|\n\s+at /, 'no internal error, raw code or stack')
})
