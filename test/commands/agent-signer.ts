// `cnidbg agent-signer`: bad input is a usage error, and --once makes one pass against an API server
// (the lab's, its own signer off) with the --json envelope naming what it did. The controller itself
// is tested in test/kube/agent-signer.ts.
import {readFileSync, writeFileSync} from 'node:fs'

import t from 'tap'

import {newKeyAndCsr} from '../../src/agent/tls.js'
import {agentCommonName, createAgentCsr, kubeconfigEndpoint} from '../../src/kube/agent-csr.js'
import AgentSigner from '../../src/commands/agent-signer.js'
import {startPkiApiServer, type PkiApiServer} from '../helpers/apiserver.js'
import {runCommand} from '../helpers/capture.js'

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
