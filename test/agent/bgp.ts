// The agent's GET /v1/bgp: the node daemon's BGP sessions, asked from the daemon's /diag with the
// caller's own token (the daemon's gate decides again), behind the agent's own gate. A stand-in
// daemon here records what it was sent; test/lab/bgp.ts reads a real one through a lab's agents.
import http from 'node:http'
import type {AddressInfo} from 'node:net'

import t from 'tap'

import {AgentClient, AgentError, AgentNode} from '../../src/agent/client.js'
import {AgentOps} from '../../src/agent/ops.js'
import {startAgentServer, type AgentServer} from '../../src/agent/server.js'
import {selfSignedCert, type ServingCert} from '../../src/agent/tls.js'
import {Gate} from '../../src/kube/node-proxy-gate.js'
import {allowOnly} from '../helpers/agent-reviewer.js'

const TOKEN = 'agent-bgp-test-token-0123456789'

const allowTester = allowOnly(TOKEN)

const SESSIONS = {
  asn: 64512,
  reflector: false,
  speaker: {running: true, pid: 4242, socket: '/var/lib/cnidbg/node-0/bird/bird.ctl', lastError: null},
  sessions: [{protocol: 'peer_198_18_0_3', peerIP: '198.18.0.3', peerNode: 'node-1', role: 'mesh', state: 'Active'}],
  protocolsError: null,
}

/** What the stand-in daemon answers next, and the Authorization headers it was sent. */
let answer: {status: number; body: unknown} = {status: 200, body: {mode: 'bgp', bgp: SESSIONS}}
const seen: Array<string | undefined> = []

const daemon = http.createServer((req, res) => {
  seen.push(req.headers.authorization)
  const text = JSON.stringify(answer.body)
  res.writeHead(req.url === '/diag' ? answer.status : 404, {'content-type': 'application/json'})
  res.end(text)
})
let daemonUrl: string
let cert: ServingCert
const agents: AgentServer[] = []

async function agentWith(url: string | undefined): Promise<AgentClient> {
  const agent = await startAgentServer({
    node: 'node-0',
    ops: new AgentOps({node: 'node-0', nodeNetns: '/proc/self/ns/net', daemonUrl: url}),
    gate: new Gate(allowTester, {node: 'node-0'}),
    host: '127.0.0.1',
    port: 0,
    tls: cert,
  })
  agents.push(agent)
  return new AgentClient({url: agent.url, token: TOKEN, fingerprint: cert.fingerprint})
}

t.before(async () => {
  await new Promise<void>((resolve) => daemon.listen(0, '127.0.0.1', resolve))
  daemonUrl = `http://127.0.0.1:${(daemon.address() as AddressInfo).port}`
  cert = await selfSignedCert('node-0', ['127.0.0.1'])
})

t.teardown(async () => {
  for (const a of agents) await a.close()
  daemon.closeAllConnections()
  await new Promise((resolve) => daemon.close(resolve))
})

const failure = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => 'no failure',
    (e: unknown) => e,
  )

t.test('the daemon’s sessions, asked with the caller’s token', async (t) => {
  const client = await agentWith(`${daemonUrl}/`)
  seen.length = 0
  answer = {status: 200, body: {mode: 'bgp', bgp: SESSIONS}}
  t.same(await client.bgp(), {node: 'node-0', daemon: daemonUrl, bgp: SESSIONS})
  t.same(seen, [`Bearer ${TOKEN}`], 'the daemon got the caller’s token, once')
  t.same(await AgentNode.remote(client).bgp(), SESSIONS, 'AgentNode.bgp: the sessions trace reads')

  answer = {status: 200, body: {mode: 'vxlan', bgp: null}}
  t.same(await client.bgp(), {node: 'node-0', daemon: daemonUrl, bgp: null}, 'a daemon not in bgp mode: null')
  t.match(await AgentNode.remote(client).bgp(), {error: /does not run in bgp mode/})
})

t.test('no caller token: 401 at the agent, the daemon is never asked', async (t) => {
  const client = await agentWith(daemonUrl)
  seen.length = 0
  const anon = new AgentClient({url: client.opts.url, fingerprint: cert.fingerprint})
  t.match(await failure(anon.bgp()), {status: 401})
  t.same(seen, [], 'nothing reached the daemon')
})

t.test('what the daemon refuses, or a daemon that is gone, is a 502 that says so', async (t) => {
  const client = await agentWith(daemonUrl)
  answer = {status: 403, body: {error: 'tester may not get nodes/proxy on node-0'}}
  const refused = await failure(client.bgp())
  t.ok(refused instanceof AgentError)
  t.match(refused, {status: 502, message: /HTTP 403 \(tester may not get nodes\/proxy on node-0\)/})
  t.match(await AgentNode.remote(client).bgp(), {error: /HTTP 403/}, 'trace gets the reason as an error')

  // A port nothing listens on: bind one, note it, close it.
  const spare = http.createServer()
  await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve))
  const port = (spare.address() as AddressInfo).port
  await new Promise((resolve) => spare.close(resolve))
  const gone = await agentWith(`http://127.0.0.1:${port}`)
  t.match(await failure(gone.bgp()), {status: 502, message: /unreachable \(ECONNREFUSED\): is it running\?/})
})

t.test('an agent without --daemon-url says so', async (t) => {
  const client = await agentWith(undefined)
  t.match(await failure(client.bgp()), {status: 404, message: /without --daemon-url/})
})
