// An agent stopped while it is looking at its pending CSR: the look's answer is dropped and no next
// look is scheduled. The API and the HTTPS server are stand-ins, and the looks' timers are the test's
// to fire, so nothing here waits on a clock.
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import t from 'tap'

import type {CsrState} from '../../src/kube/agent-csr.js'
import {privateTmpdir} from '../helpers/machine.js'
import {mocker} from '../helpers/mocking.js'

const mockImport = await mocker(t, import.meta.url)
const tmp = privateTmpdir(t)
const kubeconfig = join(tmp, 'kubeconfig')
writeFileSync(
  kubeconfig,
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{name: 'c', cluster: {server: 'https://198.18.0.1:6443'}}],
    users: [{name: 'u', user: {token: 'x'}}],
    contexts: [{name: 'c', context: {cluster: 'c', user: 'u'}}],
    'current-context': 'c',
  }),
)

// The looks' timers (the only ones of this length), held for the test to fire.
const POLL_MS = 7777
const armed: Array<() => void> = []
const realSetTimeout = globalThis.setTimeout
globalThis.setTimeout = ((fn: () => void, ms?: number) => {
  if (ms !== POLL_MS) return realSetTimeout(fn, ms)
  armed.push(fn)
  return {unref: () => ({}), ref: () => ({}), hasRef: () => false}
}) as unknown as typeof setTimeout
t.teardown(() => {
  globalThis.setTimeout = realSetTimeout
})

const settle = () => new Promise((resolve) => setImmediate(resolve))

for (const outcome of ['answers', 'fails'] as const) {
  t.test(`the API ${outcome} after stop(): no certificate served, no next look`, async (t) => {
    armed.length = 0
    const reads: Array<{resolve: (s: CsrState) => void; reject: (e: Error) => void}> = []
    const served: unknown[] = []
    const logged: string[] = []
    const {startAgent} = await mockImport<typeof import('../../src/agent/agent.js')>(t, '../../src/agent/agent.js', {
      '../../src/kube/agent-csr.js': {
        ...(await import('../../src/kube/agent-csr.js')),
        kubeconfigEndpoint: async () => ({server: 'https://198.18.0.1:6443'}),
        createAgentCsr: async (_api: unknown, o: {name: string}) => ({name: o.name}),
        readAgentCsr: () => new Promise<CsrState>((resolve, reject) => reads.push({resolve, reject})),
      },
      '../../src/agent/server.js': {
        ...(await import('../../src/agent/server.js')),
        startAgentServer: async () => ({
          url: 'https://198.18.0.9:10265',
          host: '198.18.0.9',
          port: 10265,
          stats: () => ({byStatus: {}, inFlight: 0}),
          setCertificate: (c: unknown) => served.push(c),
          close: async () => {},
        }),
      },
    })
    const running = await startAgent({
      node: 'n1',
      listen: '198.18.0.9:10265',
      netns: 'cnidbg-none',
      kubeconfigPath: kubeconfig,
      csrPollSeconds: POLL_MS / 1000,
      reviewer: {
        reviewToken: async () => ({authenticated: false}),
        reviewAccess: async () => ({allowed: false}),
      },
      log: (line) => logged.push(line),
    })
    t.match(running.result, {certificate: 'self-signed'}, 'the CSR waits for approval')
    t.equal(armed.length, 1, 'a look is scheduled')
    armed[0]!()
    t.equal(reads.length, 1, 'the look asks the API')
    await running.stop()
    if (outcome === 'answers') reads[0]!.resolve({name: 'x'})
    else reads[0]!.reject(new Error('connection reset'))
    for (let i = 0; i < 5; i++) await settle()
    t.equal(armed.length, 1, 'no look after stop()')
    t.same(served, [], 'nothing served')
    t.notMatch(logged.join('\n'), /connection reset/, 'the late failure is not reported')
  })
}
