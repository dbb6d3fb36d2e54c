// Services, EndpointSlices, NetworkPolicies and Namespaces through the real kubectl: apply, label,
// delete and get --watch on each; ClusterIP allocation from 10.96.0.0/12; the endpoints controller;
// and RBAC deciding what a ServiceAccount may do with them.
import fs from 'node:fs'
import path from 'node:path'

import t from 'tap'

import {run, type RunResult} from '../../../src/process/exec.js'
import {startApiServer} from '../../../src/lab/apiserver/server.js'
import {contains, parseCIDR, parseIP} from '../../../src/core/ip.js'
import {writeServingCert} from '../../../src/lab/credentials.js'
import {nodeObject, podObject, runningStatus, waitFor} from './helpers/fixtures.js'

const KUBECTL = process.env.CNIDBG_KUBECTL || 'kubectl'
const RANGE = parseCIDR('10.96.0.0/12')!

t.test('kubectl manages Services, EndpointSlices, NetworkPolicies and Namespaces', async (t) => {
  const dir = t.testdir()
  // TLS: kubectl sends no token to a plain-HTTP server.
  const tls = {dir: path.join(dir, 'tls'), tlsCert: path.join(dir, 'tls', 'crt'), tlsKey: path.join(dir, 'tls', 'key')}
  fs.mkdirSync(tls.dir)
  await writeServingCert(tls)
  const server = await startApiServer({
    token: 'admin-token-for-this-test',
    tls: {cert: fs.readFileSync(tls.tlsCert), key: fs.readFileSync(tls.tlsKey)},
  })
  t.teardown(() => server.close())
  const kubeconfig = path.join(dir, 'kubeconfig')
  server.writeKubeconfig(kubeconfig)
  const k = (args: string[], input?: string, config = kubeconfig): Promise<RunResult> =>
    run(KUBECTL, ['--cache-dir', path.join(dir, 'cache'), ...args], {
      env: {KUBECONFIG: config},
      input,
      timeoutMs: 120_000,
    })
  const ok = async (args: string[], input?: string): Promise<string> => {
    const r = await k(args, input)
    t.equal(r.exitCode, 0, `kubectl ${args.join(' ')}${r.exitCode === 0 ? '' : `: ${r.spawnError ?? r.stderr}`}`)
    return r.stdout
  }
  const {store} = server
  const json = (o: unknown) => JSON.stringify(o)

  // --- Namespaces
  await ok(['apply', '-f', '-'], json({apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'shop'}}))
  await ok(['label', 'namespace', 'shop', 'team=blue'])
  t.equal(store.get('namespaces', undefined, 'shop')?.metadata.labels?.team, 'blue', 'kubectl label namespace')

  // --- pods the Services select: two ready, one not ready, one of another app
  store.create('nodes', undefined, nodeObject('lab-n1', '10.99.0.1'))
  const pod = (name: string, ip: string | undefined, labels: Record<string, string>, ready = true) => {
    const p = podObject(name, 'lab-n1', labels) as {spec: {containers: Record<string, unknown>[]}}
    p.spec.containers[0].ports = [{name: 'http', containerPort: name === 'web-2' ? 8081 : 8080}]
    store.create('pods', 'shop', p)
    if (ip) {
      const st = runningStatus(ip)
      if (!ready) st.status.conditions = [{type: 'Ready', status: 'False'}]
      store.patch('pods', 'shop', name, 'merge', st, {subresource: 'status'})
    }
  }
  pod('web-1', '10.244.1.5', {app: 'web'})
  pod('web-2', '10.244.1.6', {app: 'web'})
  pod('web-3', '10.244.1.7', {app: 'web'}, false)
  pod('db-1', '10.244.1.8', {app: 'db'})

  // --- Services: apply, allocation, named targetPort
  const svc = (name: string, spec: Record<string, unknown>) =>
    json({apiVersion: 'v1', kind: 'Service', metadata: {name, namespace: 'shop'}, spec})
  await ok(
    ['apply', '-f', '-'],
    svc('web', {selector: {app: 'web'}, ports: [{name: 'http', port: 80, targetPort: 'http'}]}),
  )
  const web = store.get('services', 'shop', 'web')!
  const ip = (web.spec as {clusterIP: string}).clusterIP
  t.ok(contains(RANGE, parseIP(ip)!), `ClusterIP ${ip} is in 10.96.0.0/12`)
  t.same((web.spec as {clusterIPs: string[]}).clusterIPs, [ip])
  t.match(web.spec, {type: 'ClusterIP', sessionAffinity: 'None', ports: [{protocol: 'TCP', targetPort: 'http'}]})
  // Applying the same manifest again is a no-op that keeps the address.
  await ok(
    ['apply', '-f', '-'],
    svc('web', {selector: {app: 'web'}, ports: [{name: 'http', port: 80, targetPort: 'http'}]}),
  )
  t.equal(
    (store.get('services', 'shop', 'web')!.spec as {clusterIP: string}).clusterIP,
    ip,
    'reapply keeps the ClusterIP',
  )

  const got = await ok(['get', 'svc', '-n', 'shop', '-o', 'wide'])
  t.match(
    got,
    new RegExp(`web\\s+ClusterIP\\s+${ip.replace(/\./g, '\\.')}\\s+<none>\\s+80/TCP\\s+\\S+\\s+app=web`),
    got,
  )

  t.match(await ok(['describe', 'svc', 'web', '-n', 'shop']), new RegExp(`IP:\\s+${ip.replace(/\./g, '\\.')}\\n`))
  t.match(await ok(['get', 'all', '-n', 'shop']), /service\/web\s+ClusterIP/, 'Services are in the "all" category')

  // The endpoints controller: one slice per distinct port mapping (web-2 serves http on 8081).
  await waitFor('the endpoints controller', () => store.list('endpointslices', {namespace: 'shop'}).items.length >= 2)
  const slices = store.list('endpointslices', {
    namespace: 'shop',
    labelSelector: 'kubernetes.io/service-name=web',
  }).items
  const byPort = new Map(slices.map((s) => [(s.ports as {port: number}[])[0]?.port, s]))
  t.same([...byPort.keys()].sort(), [8080, 8081], 'slices per port mapping')
  t.match(byPort.get(8080), {
    addressType: 'IPv4',
    metadata: {labels: {'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io'}},
    ports: [{name: 'http', port: 8080, protocol: 'TCP'}],
  })
  const eps = (byPort.get(8080)!.endpoints as {addresses: string[]; conditions: {ready: boolean}}[]).map((e) => [
    e.addresses[0],
    e.conditions.ready,
  ])
  t.same(eps, [
    ['10.244.1.5', true],
    ['10.244.1.7', false],
  ])
  const sliceList = await ok(['get', 'endpointslices', '-n', 'shop'])
  t.match(sliceList, /web-\w+\s+IPv4\s+8080\s+10\.244\.1\.5,10\.244\.1\.7/, sliceList)

  // A pod that becomes ready shows up as ready.
  store.patch('pods', 'shop', 'web-3', 'merge', runningStatus('10.244.1.7'), {subresource: 'status'})
  await waitFor('web-3 ready', () =>
    store
      .list('endpointslices', {namespace: 'shop'})
      .items.some((s) =>
        (s.endpoints as {addresses: string[]; conditions: {ready: boolean}}[]).some(
          (e) => e.addresses[0] === '10.244.1.7' && e.conditions.ready,
        ),
      ),
  )
  t.pass('a pod turning ready is marked ready in its slice')

  // A requested ClusterIP: honoured when free and in range, refused with a Status otherwise.
  await ok(['apply', '-f', '-'], svc('fixed', {clusterIP: '10.96.7.7', selector: {app: 'db'}, ports: [{port: 5432}]}))
  t.equal(
    (store.get('services', 'shop', 'fixed')!.spec as {clusterIP: string}).clusterIP,
    '10.96.7.7',
    'requested ClusterIP honoured',
  )
  const taken = await k(['apply', '-f', '-'], svc('taken', {clusterIP: '10.96.7.7', ports: [{port: 1}]}))
  t.not(taken.exitCode, 0)
  t.match(taken.stderr, /provided IP is already allocated/, 'a taken ClusterIP is refused')
  const outside = await k(['apply', '-f', '-'], svc('outside', {clusterIP: '192.168.0.1', ports: [{port: 1}]}))
  t.not(outside.exitCode, 0)
  t.match(
    outside.stderr,
    /not in the valid range\. The range of valid IPs is 10\.96\.0\.0\/12/,
    'an out-of-range ClusterIP is refused',
  )
  const changed = await k(['patch', 'svc', 'fixed', '-n', 'shop', '-p', json({spec: {clusterIP: '10.96.7.8'}})])
  t.not(changed.exitCode, 0)
  t.match(changed.stderr, /may not change once set/, 'a ClusterIP is immutable')

  // Released on delete: the address may be requested again at once.
  await ok(['delete', 'svc', 'fixed', '-n', 'shop'])
  await ok(['apply', '-f', '-'], svc('again', {clusterIP: '10.96.7.7', ports: [{port: 1}]}))
  t.pass('a deleted Service gave its ClusterIP back')

  // kubectl's own generator: port name "80-8080", selector app=made.
  await ok(['create', 'service', 'clusterip', 'made', '-n', 'shop', '--tcp=80:8080'])
  t.match(store.get('services', 'shop', 'made')?.spec, {
    selector: {app: 'made'},
    ports: [{name: '80-8080', port: 80, targetPort: 8080}],
  })

  // A Service without endpoints keeps an empty slice.
  await ok(['apply', '-f', '-'], svc('nobody', {selector: {app: 'none'}, ports: [{port: 80}]}))
  await waitFor(
    'the placeholder slice',
    () =>
      store.list('endpointslices', {namespace: 'shop', labelSelector: 'kubernetes.io/service-name=nobody'}).items
        .length === 1,
  )
  t.same(
    store.list('endpointslices', {namespace: 'shop', labelSelector: 'kubernetes.io/service-name=nobody'}).items[0]
      .endpoints,
    [],
  )

  // Labels on Services, EndpointSlices and NetworkPolicies.
  await ok(['label', 'svc', 'web', '-n', 'shop', 'tier=front'])
  t.equal(store.get('services', 'shop', 'web')?.metadata.labels?.tier, 'front', 'kubectl label svc')
  await ok(
    ['apply', '-f', '-'],
    json({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {name: 'deny-all', namespace: 'shop'},
      spec: {podSelector: {}, policyTypes: ['Ingress']},
    }),
  )
  await ok(
    ['apply', '-f', '-'],
    json({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {name: 'allow-web', namespace: 'shop'},
      spec: {
        podSelector: {matchLabels: {app: 'web'}},
        ingress: [
          {
            from: [{podSelector: {matchLabels: {role: 'client'}}}],
            ports: [{port: 'http'}, {port: 9000, endPort: 9100}],
          },
        ],
      },
    }),
  )
  await ok(['label', 'netpol', 'allow-web', '-n', 'shop', 'tier=front'])
  t.equal(store.get('networkpolicies', 'shop', 'allow-web')?.metadata.labels?.tier, 'front', 'kubectl label netpol')
  t.same((store.get('networkpolicies', 'shop', 'allow-web')!.spec as {policyTypes: string[]}).policyTypes, ['Ingress'])
  const pols = await ok(['get', 'networkpolicies', '-n', 'shop'])
  t.match(pols, /allow-web\s+app=web/)
  t.match(pols, /deny-all\s+<none>/)
  // Reapplying with a changed ingress list replaces it (atomic list), no merge-key error.
  await ok(
    ['apply', '-f', '-'],
    json({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {name: 'allow-web', namespace: 'shop'},
      spec: {podSelector: {matchLabels: {app: 'web'}}, ingress: [{ports: [{port: 8080}]}]},
    }),
  )
  t.same((store.get('networkpolicies', 'shop', 'allow-web')!.spec as {ingress: unknown}).ingress, [
    {ports: [{port: 8080}]},
  ])
  const slice = store.list('endpointslices', {namespace: 'shop'}).items[0].metadata.name as string
  await ok(['label', 'endpointslice', slice, '-n', 'shop', 'seen=yes'])
  // A user-written slice of a selectorless Service, and its label.
  await ok(
    ['apply', '-f', '-'],
    json({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {name: 'manual-1', namespace: 'shop', labels: {'kubernetes.io/service-name': 'manual'}},
      addressType: 'IPv4',
      endpoints: [{addresses: ['10.244.9.9'], conditions: {ready: true}}],
      ports: [{name: '', port: 80, protocol: 'TCP'}],
    }),
  )
  await ok(['label', 'endpointslice', 'manual-1', '-n', 'shop', 'seen=yes'])
  t.equal(store.get('endpointslices', 'shop', 'manual-1')?.metadata.labels?.seen, 'yes')

  // --- get --watch on each kind sees a change, then ends with the server's watch.
  // kubectl -o name prints each object once as listed, then once per event.
  for (const [kind, shown, change] of [
    ['services', 'service/web', () => store.patch('services', 'shop', 'web', 'merge', {metadata: {labels: {w: 'y'}}})],
    [
      'endpointslices',
      'endpointslice.discovery.k8s.io/manual-1',
      () => store.patch('endpointslices', 'shop', 'manual-1', 'merge', {metadata: {labels: {w: 'y'}}}),
    ],
    [
      'networkpolicies',
      'networkpolicy.networking.k8s.io/deny-all',
      () => store.patch('networkpolicies', 'shop', 'deny-all', 'merge', {metadata: {labels: {w: 'y'}}}),
    ],
    [
      'namespaces',
      'namespace/shop',
      () => store.patch('namespaces', undefined, 'shop', 'merge', {metadata: {labels: {w: 'y'}}}),
    ],
  ] as const) {
    const before = server.watchCount
    const watching = k(['get', kind, ...(kind === 'namespaces' ? [] : ['-n', 'shop']), '--watch', '-o', 'name'])
    await waitFor(`kubectl to watch ${kind}`, () => server.watchCount > before)
    change()
    server.endWatches()
    const out = await watching
    t.notOk(out.timedOut, `kubectl get ${kind} --watch ended with the server's watch`)
    const lines = out.stdout.split('\n').filter((l) => l === shown)
    t.equal(
      lines.length,
      2,
      `kubectl get ${kind} --watch listed ${shown}, then its change:\n${out.stdout}${out.stderr}`,
    )
  }

  // --- RBAC: a ServiceAccount allowed to read Services, nothing else.
  store.create('serviceaccounts', 'shop', {metadata: {name: 'reader'}})
  await ok(
    ['apply', '-f', '-'],
    json({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: {name: 'svc-reader'},
      rules: [{apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'watch']}],
    }),
  )
  await ok(
    ['apply', '-f', '-'],
    json({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: {name: 'svc-reader'},
      roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'svc-reader'},
      subjects: [{kind: 'ServiceAccount', name: 'reader', namespace: 'shop'}],
    }),
  )
  const saConfig = path.join(dir, 'sa-kubeconfig')
  server.writeKubeconfig(saConfig, {token: server.mintToken('shop', 'reader')})
  const read = await k(['get', 'svc', '-n', 'shop'], undefined, saConfig)
  t.equal(read.exitCode, 0, `the reader lists Services: ${read.stderr}`)
  const write = await k(['delete', 'svc', 'web', '-n', 'shop'], undefined, saConfig)
  t.not(write.exitCode, 0)
  t.match(write.stderr, /Forbidden|forbidden/, 'the reader may not delete a Service')
  const netpol = await k(['get', 'netpol', '-n', 'shop'], undefined, saConfig)
  t.not(netpol.exitCode, 0)
  t.match(netpol.stderr, /forbidden/, 'nor read NetworkPolicies')

  // --- delete: a Service takes its slices with it; a namespace takes everything in it.
  await ok(['delete', 'svc', 'web', '-n', 'shop'])
  await waitFor(
    'web slices to go',
    () =>
      store.list('endpointslices', {namespace: 'shop', labelSelector: 'kubernetes.io/service-name=web'}).items
        .length === 0,
  )
  t.pass('deleting a Service deletes its slices')
  await ok(['delete', 'netpol', 'deny-all', '-n', 'shop'])
  await ok(['delete', 'endpointslice', 'manual-1', '-n', 'shop'])
  await ok(['delete', 'namespace', 'shop'])
  t.same(store.list('services', {namespace: 'shop'}).items, [], 'the namespace took its Services')
  t.same(store.list('networkpolicies', {namespace: 'shop'}).items, [], 'and its NetworkPolicies')
  t.ok(fs.existsSync(kubeconfig))
})
