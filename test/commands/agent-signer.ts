// `cnidbg agent-signer`: bad input is a usage error, and --once makes one pass against an API server
// (the lab's, its own signer off) with the --json envelope naming what it did. Watching, the built CLI
// signs as CSRs come and stays up, also while the API server can't be reached, until a signal. The
// controller itself is tested in test/kube/agent-signer.ts.
import {spawn} from 'node:child_process'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import t, {type Test} from 'tap'

import {newKeyAndCsr} from '../../src/agent/tls.js'
import {agentCommonName, createAgentCsr, kubeconfigEndpoint} from '../../src/kube/agent-csr.js'
import AgentSigner from '../../src/commands/agent-signer.js'
import {startPkiApiServer, type PkiApiServer} from '../helpers/apiserver.js'
import {ROOT, runCommand} from '../helpers/capture.js'
import {eventually} from '../helpers/machine.js'

/** One pass over the pending CSRs, with the server's CA, through `kubeconfig`. */
const onceArgs = (server: PkiApiServer, kubeconfig: string): string[] => [
  '--once',
  '--ca-cert',
  server.caFiles.certFile,
  '--ca-key',
  server.caFiles.keyFile,
  '--kubeconfig',
  kubeconfig,
]

t.test('a missing or unreadable CA file is a usage error', async (t) => {
  const missing = await runCommand(AgentSigner, 'agent-signer', ['--once', '--ca-key', '/nonexistent', '--json'])
  t.equal(missing.exitCode, 2, '--ca-cert is required')
  t.match(JSON.parse(missing.stdout), {status: 2, error: {code: 'USAGE'}})
  const unreadable = await runCommand(AgentSigner, 'agent-signer', [
    '--once',
    '--ca-cert',
    '/nonexistent/ca.crt',
    '--ca-key',
    '/nonexistent/ca.key',
    '--json',
  ])
  t.equal(unreadable.exitCode, 2)
  t.match(JSON.parse(unreadable.stdout), {
    status: 2,
    error: {code: 'SIGNER_FILE', message: /--ca-cert \/nonexistent\/ca.crt/},
  })
})

t.test('--once signs the pending agent CSR and says so', async (t) => {
  const server = await startPkiApiServer(t.testdir(), {signing: false, nodes: {node1: '198.18.0.10'}})
  t.teardown(() => server.api.close())
  const agent = server.kubeconfig(await server.saToken('cnidbg-agent', 'node1'))
  const {csr} = await newKeyAndCsr(agentCommonName('node1'), ['198.18.0.10'])
  await createAgentCsr(await kubeconfigEndpoint(agent), {name: 'agent-node1', request: csr})

  const args = onceArgs(server, server.admin)
  // As deploy/optional runs it: not root (it needs none, and must not ask for it).
  const getuid = process.getuid
  process.getuid = () => 65534
  const json = await runCommand(AgentSigner, 'agent-signer', [...args, '--json']).finally(() => {
    process.getuid = getuid
  })
  t.equal(json.exitCode, 0, json.stderr)
  t.match(JSON.parse(json.stdout), {
    command: 'agent-signer',
    status: 0,
    result: {watching: false, events: [{csr: 'agent-node1', outcome: 'signed', approved: true}]},
  })
  const again = await runCommand(AgentSigner, 'agent-signer', args)
  t.match(again.stdout, /No unsigned CertificateSigningRequest of cnidbg\.dev\/agent-serving/)
})

t.test('--once with no API server answering: an environment error, exit 3', async (t) => {
  const server = await startPkiApiServer(t.testdir(), {signing: false, nodes: {}})
  const dead = `${server.admin}.dead`
  writeFileSync(dead, readFileSync(server.admin, 'utf8').replace(/127\.0\.0\.1:\d+/, '127.0.0.1:1'))
  await server.api.close()
  const r = await runCommand(AgentSigner, 'agent-signer', [...onceArgs(server, dead), '--json'])
  t.equal(r.exitCode, 3, r.stdout)
  t.match(JSON.parse(r.stdout), {status: 3, error: {code: 'SIGNER_API', message: /did not answer the signer/}})
})

const noDist = existsSync(path.join(ROOT, 'dist', 'bundle', 'run.cjs'))
  ? false
  : 'dist/ is not built: run `npm run build` first'

/** The built CLI watching through `kubeconfig`, its JSON log lines collected as they come. */
function watchSigner(t: Test, server: PkiApiServer, kubeconfig: string) {
  const args = onceArgs(server, kubeconfig).filter((a) => a !== '--once')
  const proc = spawn(process.execPath, [path.join(ROOT, 'bin/run.js'), 'agent-signer', ...args, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (c, s) => resolve(c ?? s ?? '?')))
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
  })
  const out = {stdout: '', stderr: ''}
  proc.stdout.on('data', (d) => (out.stdout += d))
  proc.stderr.on('data', (d) => (out.stderr += d))
  const running = () => proc.exitCode === null && proc.signalCode === null
  /** How many log lines say the watch failed and will be retried. */
  const retries = () => out.stderr.split('\n').filter((l) => /"outcome":"error".*retrying in/.test(l)).length
  return {proc, exited, out, running, retries}
}

t.test('watching, it signs a new CSR, and outlives the API server until SIGTERM', {skip: noDist}, async (t) => {
  const server = await startPkiApiServer(t.testdir(), {signing: false, nodes: {node1: '198.18.0.10'}})
  t.teardown(() => server.api.close())
  const w = watchSigner(t, server, server.admin)
  const agent = server.kubeconfig(await server.saToken('cnidbg-agent', 'node1'))
  const {csr} = await newKeyAndCsr(agentCommonName('node1'), ['198.18.0.10'])
  await createAgentCsr(await kubeconfigEndpoint(agent), {name: 'agent-node1', request: csr})
  t.ok(await eventually(() => /"csr":"agent-node1","outcome":"signed"/.test(w.out.stderr) || !w.running()), 'signed')
  t.match(JSON.parse(w.out.stdout), {command: 'agent-signer', status: 0, result: {watching: true}})

  // The watch drops; a retry waits in a backoff, then fails again: the process must see it through.
  await server.api.close()
  t.ok(await eventually(() => w.retries() >= 2 || !w.running()), w.out.stderr)
  t.ok(w.running(), 'still watching after a backoff with no API server')
  w.proc.kill('SIGTERM')
  t.equal(await w.exited, 143, 'ends on SIGTERM')
})

t.test('watching with no API server from the start: it retries until SIGINT', {skip: noDist}, async (t) => {
  const server = await startPkiApiServer(t.testdir(), {signing: false, nodes: {}})
  const dead = `${server.admin}.dead`
  writeFileSync(dead, readFileSync(server.admin, 'utf8').replace(/127\.0\.0\.1:\d+/, '127.0.0.1:1'))
  await server.api.close()
  const w = watchSigner(t, server, dead)
  t.ok(await eventually(() => w.retries() >= 2 || !w.running()), w.out.stderr)
  t.ok(w.running(), 'still up after a backoff')
  w.proc.kill('SIGINT')
  t.equal(await w.exited, 130, 'ends on SIGINT')
})
