// `cnidbg agent-signer` (src/kube/agent-signer.ts) against the lab API server with its own approver
// and signer off, as a real cluster is: it runs as the ServiceAccount of
// deploy/optional/40-agent-signer.yaml (that file's RBAC applied, so the role is proven enough), and
// must approve and sign an agent's CSR for its own node, leave anything else pending with why, sign
// what a person approved, refuse an approved request that is not an agent's, and do it by itself
// when watching.
import {X509Certificate, createPrivateKey} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import t from 'tap'

import {newKeyAndCsr} from '../../src/agent/tls.js'
import {agentCommonName, createAgentCsr, kubeconfigEndpoint, readAgentCsr} from '../../src/kube/agent-csr.js'
import {AgentSigner, type SignerEvent} from '../../src/kube/agent-signer.js'
import {readManifests} from '../../src/lab/manifests.js'
import {run} from '../../src/process/exec.js'
import {startPkiApiServer, type PkiApiServer} from '../helpers/apiserver.js'
import {ROOT} from '../helpers/capture.js'
import {eventually} from '../helpers/machine.js'

let server: PkiApiServer
let dir: string

t.before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnidbg-signer-test-'))
  // No signing: nothing approves or signs but the controller under test. The signer's ServiceAccount
  // and role from deploy/optional (its Deployment is for a real cluster).
  server = await startPkiApiServer(dir, {
    signing: false,
    nodes: {node1: '198.18.0.10', node2: '198.18.0.11'},
    more: readManifests(path.join(ROOT, 'deploy', 'optional')).filter((o) => o.kind !== 'Deployment'),
  })
})

t.teardown(async () => {
  await server?.api.close()
  fs.rmSync(dir, {recursive: true, force: true})
})

const saToken = (sa: string, node?: string) => server.saToken(sa, node)

let serial = 0
async function ask(token: string, cn: string, ips: string[]) {
  const {key, csr} = await newKeyAndCsr(cn, ips)
  const name = `agent-${++serial}`
  const endpoint = await kubeconfigEndpoint(server.kubeconfig(token))
  const state = await createAgentCsr(endpoint, {name, request: csr})
  return {key, name, state, read: () => readAgentCsr(endpoint, name)}
}

async function signerAs(log?: (e: SignerEvent) => void): Promise<AgentSigner> {
  return new AgentSigner({kc: server.kubeconfig(await saToken('cnidbg-agent-signer')), ca: server.caFiles, log})
}

t.test("an agent's CSR for its own node: approved and signed with the cluster CA", async (t) => {
  const agent = await ask(await saToken('cnidbg-agent', 'node1'), agentCommonName('node1'), ['198.18.0.10'])
  t.same(agent.state, {name: agent.name}, 'pending: nothing else signs here')
  const events = await (await signerAs()).pass()
  t.same(
    events.filter((e) => e.csr === agent.name),
    [{csr: agent.name, outcome: 'signed', approved: true}],
  )
  const signed = await agent.read()
  const cert = new X509Certificate(signed.certificate!)
  t.ok(cert.checkIssued(server.ca) && cert.verify(server.ca.publicKey), 'issued by the cluster CA')
  t.ok(cert.checkPrivateKey(createPrivateKey(agent.key)), 'for its key')
  t.equal(cert.subject, 'CN=cnidbg-agent:node1')
  t.equal(cert.subjectAltName, 'IP Address:198.18.0.10')
  t.equal(cert.ca, false)
  const stored = server.api.store.get('certificatesigningrequests', undefined, agent.name)!
  t.match((stored.status as {conditions: unknown[]}).conditions, [{type: 'Approved', reason: 'AutoApproved'}])
  t.same(await (await signerAs()).pass(), [], 'a signed CSR is left alone')
})

t.test('anything else stays pending, reported once with why; what a person approves is signed', async (t) => {
  const token = await saToken('cnidbg-agent', 'node1')
  const foreignIp = await ask(token, agentCommonName('node1'), ['198.18.0.11'])
  const notAgent = await ask(token, 'system:node:node1', ['198.18.0.10'])
  const signer = await signerAs()
  const first = await signer.pass()
  t.match(first, [
    {csr: foreignIp.name, outcome: 'pending', why: /IP SANs 198\.18\.0\.11 are not addresses of node node1/},
    {csr: notAgent.name, outcome: 'pending', why: /subject CN=system:node:node1 is not CN=cnidbg-agent:node1/},
  ])
  t.same(await signer.pass(), [], 'not reported again while unchanged')
  t.same(await foreignIp.read(), {name: foreignIp.name}, 'still pending')

  for (const name of [foreignIp.name, notAgent.name]) {
    const r = await run(
      'kubectl',
      ['--kubeconfig', server.admin, '--cache-dir', path.join(dir, 'kcache'), 'certificate', 'approve', name],
      {timeoutMs: 60_000},
    )
    t.equal(r.exitCode, 0, `kubectl certificate approve ${name}: ${r.stderr}`)
  }
  const second = await signer.pass()
  t.match(second, [
    {csr: foreignIp.name, outcome: 'signed', approved: false},
    {csr: notAgent.name, outcome: 'failed', why: /not an agent's serving certificate/},
  ])
  t.equal(new X509Certificate((await foreignIp.read()).certificate!).subjectAltName, 'IP Address:198.18.0.11')
  t.match(await notAgent.read(), {refused: /^Failed: not an agent's serving certificate/})
})

t.test('watching, it signs a new agent CSR by itself, and stops', async (t) => {
  const events: SignerEvent[] = []
  const signer = await signerAs((e) => events.push(e))
  signer.start()
  t.teardown(() => signer.stop())
  const agent = await ask(await saToken('cnidbg-agent', 'node2'), agentCommonName('node2'), ['198.18.0.11'])
  t.ok(await eventually(async () => Boolean((await agent.read()).certificate)), 'the certificate issued')
  t.match(events, [{csr: agent.name, outcome: 'signed', approved: true}])
  await signer.stop()
})

t.test("the agent's own role can't do the signer's work", async (t) => {
  const agentSigner = new AgentSigner({
    kc: server.kubeconfig(await saToken('cnidbg-agent', 'node1')),
    ca: server.caFiles,
  })
  await t.rejects(agentSigner.pass(), /403|Forbidden/i, 'it may not list CSRs')
})
