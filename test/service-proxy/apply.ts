// The service proxy against the real iptables, in a cnidbg- namespace: any Service the API accepts
// round-trips through iptables-restore and iptables-save with its comments intact (the quoting
// proof), a ServiceProxy programs, skips an unchanged sync, removes what is gone, and refuses the
// namespace it runs in.
import fc from 'fast-check'
import t from 'tap'

import {createNetns, deleteNetns, netnsPath, runInNetns} from '../../src/netns/netns.js'
import {run} from '../../src/process/exec.js'
import {buildModel, servicePortName} from '../../src/service-proxy/model.js'
import {ServiceProxy, refuseRootNetns, type ProxySource} from '../../src/service-proxy/proxy.js'
import {renderRestore} from '../../src/service-proxy/restore.js'
import {buildRules, parseExisting, serviceChain} from '../../src/service-proxy/rules.js'

const ns = `cnidbg-services-api-${Math.random().toString(16).slice(2, 6)}`
await createNetns(ns)
t.teardown(() => deleteNetns(ns))
const path = netnsPath(ns)
const rootBefore = (await run('iptables-save', [])).stdout.replace(/^#.*\n/gm, '')

const inNs = (file: string, args: string[], input?: string) =>
  runInNetns(path, file, args, {input: input ?? '', timeoutMs: 30_000})

// What the API accepts as names and port names (DNS labels), generated to the limits.
const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/)
const portName = label
const octet = fc.integer({min: 1, max: 254})

t.test('every valid Service round-trips through iptables-restore and iptables-save', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      label,
      label,
      fc.option(portName, {nil: ''}),
      fc.constantFrom('TCP', 'UDP', 'SCTP'),
      fc.integer({min: 1, max: 65535}),
      fc.array(fc.tuple(octet, octet), {minLength: 0, maxLength: 4}),
      async (namespace, name, pName, protocol, port, eps) => {
        const svc = {
          metadata: {namespace, name},
          spec: {type: 'ClusterIP', clusterIP: '10.96.3.4', ports: [{name: pName, port, protocol}]},
        }
        const slice = {
          metadata: {namespace, name: `${name}-x`, labels: {'kubernetes.io/service-name': name}},
          addressType: 'IPv4',
          ports: [{name: pName, port: 8080, protocol}],
          endpoints: eps.map(([a, b]) => ({addresses: [`10.244.${a}.${b}`]})),
        }
        const model = buildModel([svc], [slice])
        const existing = parseExisting((await inNs('iptables-save', [])).stdout)
        const input = renderRestore(buildRules(model, {clusterCidr: '10.244.0.0/16'}, existing))
        const r = await inNs('iptables-restore', ['--noflush', '-w', '5'], input)
        if (r.exitCode !== 0) throw new Error(`iptables-restore refused:\n${input}\n${r.stderr}`)
        const saved = (await inNs('iptables-save', [])).stdout
        const spn = servicePortName(model.ports[0]!)
        const want =
          model.ports[0]!.endpoints.length === 0
            ? [`--comment "${spn} has no endpoints"`]
            : [
                `--comment "${spn} cluster IP"`,
                // iptables-save quotes every comment.
                `--comment "${spn}"`,
                `:${serviceChain(model.ports[0]!)} `,
              ]
        for (const w of want) if (!saved.includes(w)) throw new Error(`iptables-save lacks ${w}:\n${saved}`)
        // One Service at a time: what the previous case left must be gone.
        const stale = [...parseExisting(saved).chains.nat].filter(
          (c) => c.startsWith('KUBE-S') && c !== 'KUBE-SERVICES',
        )
        const expected = model.ports[0]!.endpoints.length === 0 ? 0 : 1 + model.ports[0]!.endpoints.length
        if (stale.length !== expected) throw new Error(`chains ${stale.join(' ')} after one Service:\n${saved}`)
      },
    ),
    {numRuns: 60},
  )
  t.pass('60 generated Services round-tripped')
})

class FakeSource implements ProxySource {
  synced = true
  svcs: unknown[] = []
  eps: unknown[] = []
  services = () => this.svcs
  slices = () => this.eps
}

t.test('a ServiceProxy programs its namespace, skips unchanged syncs and cleans up', async (t) => {
  await inNs('iptables', ['-t', 'nat', '-F'])
  const src = new FakeSource()
  let restores = 0
  const proxy = new ServiceProxy({
    node: 'n1',
    netnsPath: path,
    clusterCidr: '10.244.0.0/16',
    source: src,
    resyncMs: 0,
    exec: async (p, file, args, input) => {
      if (file === 'iptables-restore') restores++
      return runInNetns(p, file, args, {input: input ?? '', timeoutMs: 30_000})
    },
  })
  src.svcs = [{metadata: {namespace: 'a', name: 'web'}, spec: {clusterIP: '10.96.0.9', ports: [{port: 80}]}}]
  src.eps = [
    {
      metadata: {namespace: 'a', name: 'web-1', labels: {'kubernetes.io/service-name': 'web'}},
      addressType: 'IPv4',
      ports: [{port: 80, protocol: 'TCP'}],
      endpoints: [{addresses: ['10.244.1.2']}],
    },
  ]
  proxy.start()
  await proxy.idle()
  t.equal(proxy.status().lastError, undefined)
  let save = (await inNs('iptables-save', [])).stdout
  t.match(
    save,
    /-A KUBE-SERVICES -d 10\.96\.0\.9\/32 -p tcp -m comment --comment "a\/web cluster IP" -m tcp --dport 80 -j KUBE-SVC-/,
  )
  t.equal(save.match(/-A PREROUTING .* -j KUBE-SERVICES/g)?.length, 1)
  proxy.changed()
  await proxy.idle()
  t.equal(restores, 1, 'an unchanged sync applies nothing')
  proxy.changed(true)
  await proxy.idle()
  t.equal(restores, 2, 'a forced resync applies')
  save = (await inNs('iptables-save', [])).stdout
  t.equal(save.match(/-A PREROUTING .* -j KUBE-SERVICES/g)?.length, 1, 'jumps are not duplicated')

  src.eps = []
  proxy.changed()
  await proxy.idle()
  save = (await inNs('iptables-save', [])).stdout
  t.notMatch(save, /KUBE-S(VC|EP)-/, 'no endpoints: the chains are gone')
  t.match(save, /--comment "a\/web has no endpoints" -m tcp --dport 80 -j REJECT/)
  await proxy.stop()

  src.synced = false
  const waiting = new ServiceProxy({
    node: 'n1',
    netnsPath: path,
    clusterCidr: '10.244.0.0/16',
    source: src,
    resyncMs: 0,
  })
  waiting.start()
  await waiting.idle()
  t.equal(waiting.status().syncs, 0, 'nothing is applied before the source has listed')
  await waiting.stop()
})

t.test('the proxy refuses its own (the root) namespace', async (t) => {
  t.throws(() => refuseRootNetns('/proc/self/ns/net'), /refusing to program/)
  t.doesNotThrow(() => refuseRootNetns(path))
  // As from a proxy running inside the lab namespace: its own namespace is the lab's, so only the
  // check against pid 1's refuses the root one (this test's, since pid 1's may be hidden from it).
  const inLab = {own: path, root: '/proc/self/ns/net'}
  t.throws(() => refuseRootNetns('/proc/self/ns/net', inLab), /it is the root network namespace/)
  t.throws(() => refuseRootNetns(path, inLab), /it is our own network namespace/)
  t.throws(() => refuseRootNetns('/etc/hostname'), /it is no namespace/, 'a plain file')
  const p = new ServiceProxy({
    node: 'x',
    netnsPath: '/proc/self/ns/net',
    clusterCidr: '10.244.0.0/16',
    source: new FakeSource(),
  })
  t.throws(() => p.start(), /refusing to program/)
  t.equal(
    (await run('iptables-save', [])).stdout.replace(/^#.*\n/gm, ''),
    rootBefore,
    'the root namespace is untouched',
  )
})
