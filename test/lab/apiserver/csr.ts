// CertificateSigningRequests on the lab apiserver, as the node agents use them (src/kube/agent-csr.ts):
// deploy/'s RBAC applied, the agent's ServiceAccount token bound to its Node (TokenRequest
// boundObjectRef), a CSR for its node IP approved and signed at once with the cluster CA; anything
// else (another node's IP, another subject, a token bound to no node, another requester) left
// pending, and signed only once approved (`kubectl certificate approve`'s PUT …/approval); the
// agent's role can create and read CSRs but not approve them; a node-bound token dies with its Node.
import {X509Certificate} from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import t from 'tap'

import {newKeyAndCsr} from '../../../src/agent/tls.js'
import {
  AGENT_SIGNER,
  agentCommonName,
  createAgentCsr,
  kubeconfigEndpoint,
  readAgentCsr,
} from '../../../src/kube/agent-csr.js'
import type {KubeConfig} from '../../../src/kube/client.js'
import type {ApiServer} from '../../../src/lab/apiserver/server.js'
import {nodeObject} from './helpers/fixtures.js'
import {apiCaller, startPkiApiServer, type PkiApiServer} from '../../helpers/apiserver.js'

let server: PkiApiServer
let api: ApiServer
let ADMIN: string
let dir: string
let ca: X509Certificate
const kubeconfig = (token: string): KubeConfig => server.kubeconfig(token)

t.before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnidbg-csr-test-'))
  server = await startPkiApiServer(dir, {signing: true, nodes: {node1: '198.18.0.10', node2: '198.18.0.11'}})
  ;({api, ca, adminToken: ADMIN} = server)
})

t.teardown(async () => {
  await api?.close()
  fs.rmSync(dir, {recursive: true, force: true})
})

/** The agent's token, as the lab's kubelet mints it: bound to `node`, or to none. */
const agentToken = (node?: string): Promise<string> => server.saToken('cnidbg-agent', node)

let serial = 0
async function ask(token: string, cn: string, ips: string[]) {
  const {key, csr} = await newKeyAndCsr(cn, ips)
  const name = `test-${++serial}`
  return {key, name, state: await createAgentCsr(await kubeconfigEndpoint(kubeconfig(token)), {name, request: csr})}
}

t.test("an agent's CSR for its own node IP is approved and signed by the cluster CA at once", async (t) => {
  const token = await agentToken('node1')
  const {key, name, state} = await ask(token, agentCommonName('node1'), ['198.18.0.10'])
  t.ok(state.certificate, 'the certificate is in the answer')
  const cert = new X509Certificate(state.certificate!)
  t.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'issued by the cluster CA')
  t.ok(cert.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(key))), 'for its key')
  t.equal(cert.subject, 'CN=cnidbg-agent:node1')
  t.equal(cert.subjectAltName, 'IP Address:198.18.0.10')
  t.equal(cert.ca, false)
  t.same(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'server auth only')
  t.equal(cert.checkIP('198.18.0.10'), '198.18.0.10')
  t.same(await readAgentCsr(await kubeconfigEndpoint(kubeconfig(token)), name), state, 'the agent may read it back')
  const stored = api.store.get('certificatesigningrequests', undefined, name)!
  t.match(stored.spec, {
    signerName: AGENT_SIGNER,
    username: 'system:serviceaccount:cnidbg:cnidbg-agent',
    extra: {'authentication.kubernetes.io/node-name': ['node1']},
  })
  t.match((stored.status as {conditions: unknown[]}).conditions, [{type: 'Approved', reason: 'AutoApproved'}])
})

t.test('anything else stays pending until approved, then is signed', async (t) => {
  const token = await agentToken('node1')
  const pending = [
    await ask(token, agentCommonName('node1'), ['198.18.0.11']), // node2's IP
    await ask(token, agentCommonName('node2'), ['198.18.0.10']), // another node's name
    await ask(token, 'system:node:node1', ['198.18.0.10']), // not an agent's subject
    await ask(await agentToken(), agentCommonName('node1'), ['198.18.0.10']), // a token bound to no node
    await ask(ADMIN, agentCommonName('node1'), ['198.18.0.10']), // not the agent's ServiceAccount
  ]
  for (const p of pending) t.same(p.state, {name: p.name}, `${p.name} pending`)

  // The agent's own role can't approve.
  const approve = (tok: string, name: string) =>
    fetchJson(tok, 'PUT', `/apis/certificates.k8s.io/v1/certificatesigningrequests/${name}/approval`, {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: {name},
      status: {conditions: [{type: 'Approved', status: 'True', reason: 'ByHand', message: 'test'}]},
    })
  t.equal((await approve(token, pending[0]!.name)).status, 403, "the agent can't approve")
  const ok = await approve(ADMIN, pending[0]!.name)
  t.equal(ok.status, 200)
  const signed = await readAgentCsr(await kubeconfigEndpoint(kubeconfig(token)), pending[0]!.name)
  t.equal(new X509Certificate(signed.certificate!).subjectAltName, 'IP Address:198.18.0.11', 'signed once approved')
  // Approved, but not an agent's certificate: the signer refuses it.
  await approve(ADMIN, pending[2]!.name)
  t.match(await readAgentCsr(await kubeconfigEndpoint(kubeconfig(token)), pending[2]!.name), {
    refused: /^Failed: not an agent's serving/,
  })
})

t.test('the agent may create and read CSRs, nothing more', async (t) => {
  const token = await agentToken('node1')
  t.equal((await fetchJson(token, 'GET', '/apis/certificates.k8s.io/v1/certificatesigningrequests')).status, 403)
  t.equal(
    (await fetchJson(token, 'DELETE', '/apis/certificates.k8s.io/v1/certificatesigningrequests/test-1')).status,
    403,
  )
})

t.test('a node-bound token dies with its Node', async (t) => {
  api.store.create('nodes', undefined, nodeObject('node3', '198.18.0.12') as never)
  const token = await agentToken('node3')
  t.equal((await fetchJson(token, 'GET', '/apis/certificates.k8s.io/v1/certificatesigningrequests/test-1')).status, 200)
  api.store.delete('nodes', undefined, 'node3')
  t.equal((await fetchJson(token, 'GET', '/apis/certificates.k8s.io/v1/certificatesigningrequests/test-1')).status, 401)
})

const fetchJson = (token: string, method: string, p: string, body?: unknown) =>
  apiCaller(api.url, token, {ca: ca.toString()})(method, p, body)
