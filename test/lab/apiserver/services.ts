// The Store's Services (defaults, validation, ClusterIP allocation) and the endpoints controller's
// pure part, without HTTP.
import t from 'tap'

import {desiredSlices, EndpointsController} from '../../../src/lab/apiserver/endpoints-controller.js'
import {Store} from '../../../src/lab/apiserver/store.js'
import {podObject, runningStatus, waitFor} from './helpers/fixtures.js'

const svc = (name: string, spec: Record<string, unknown> = {}) => ({
  metadata: {name},
  spec: {ports: [{port: 80}], ...spec},
})
const ipOf = (o: {spec?: Record<string, unknown>}) => o.spec?.clusterIP as string

t.test('ClusterIPs: unique, from the range, released on delete, refused when the range is full', async (t) => {
  // A /29 has 6 usable addresses (.1 to .6).
  const store = new Store({serviceCIDR: '10.96.0.0/29'})
  const ips = new Set<string>()
  for (let i = 0; i < 6; i++) ips.add(ipOf(store.create('services', 'default', svc(`s${i}`))))
  t.same([...ips].sort(), ['10.96.0.1', '10.96.0.2', '10.96.0.3', '10.96.0.4', '10.96.0.5', '10.96.0.6'])
  t.throws(() => store.create('services', 'default', svc('full')), {code: 422, message: /range is full/})
  const freed = ipOf(store.get('services', 'default', 's3')!)
  store.delete('services', 'default', 's3')
  t.equal(ipOf(store.create('services', 'default', svc('after'))), freed, 'the freed address is reused')
  // Headless Services take no address.
  t.equal(ipOf(store.create('services', 'default', svc('headless', {clusterIP: 'None'}))), 'None')
  t.throws(() => store.create('services', 'default', svc('net', {clusterIP: '10.96.0.0'})), {
    code: 422,
    message: /not in the valid range/,
  })
  t.throws(() => store.create('services', 'default', svc('v6', {clusterIP: 'fd00::1'})), {code: 422})
})

t.test('Service defaults and validation', async (t) => {
  const store = new Store()
  const s = store.create('services', 'default', svc('web', {ports: [{port: 80, name: 'http'}]}))
  t.match(s.spec, {
    type: 'ClusterIP',
    sessionAffinity: 'None',
    ipFamilies: ['IPv4'],
    ports: [{port: 80, protocol: 'TCP', targetPort: 80}],
  })
  t.match(s.status, {loadBalancer: {}})
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['np', {type: 'NodePort'}, /ClusterIP Services only/],
    ['noports', {ports: []}, /spec\.ports: Required/],
    ['twoports', {ports: [{port: 1}, {port: 2}]}, /spec\.ports\[0\]\.name: Required/],
    [
      'dup',
      {
        ports: [
          {port: 1, name: 'a'},
          {port: 2, name: 'a'},
        ],
      },
      /Duplicate value/,
    ],
    ['range', {ports: [{port: 70000}]}, /must be between 1 and 65535/],
    ['proto', {ports: [{port: 1, protocol: 'ICMP'}]}, /protocol: Unsupported value/],
    ['tp', {ports: [{port: 1, targetPort: 'Not_A_Name'}]}, /targetPort: Invalid value/],
    ['name', {ports: [{port: 1, name: 'UPPER'}]}, /must be a DNS label/],
  ]
  for (const [name, spec, msg] of bad) {
    t.throws(() => store.create('services', 'default', svc(name, spec)), {code: 422, message: msg}, name)
  }
  // An update without a clusterIP keeps the stored one; a different one is refused.
  const kept = store.update('services', 'default', 'web', {metadata: {name: 'web'}, spec: {ports: [{port: 81}]}})
  t.equal(ipOf(kept), ipOf(s))
  t.throws(() => store.patch('services', 'default', 'web', 'merge', {spec: {clusterIP: '10.96.9.9'}}), {
    code: 422,
    message: /may not change once set/,
  })
  // Strategic merge on ports merges by port number.
  const merged = store.patch('services', 'default', 'web', 'strategic', {spec: {ports: [{port: 81, name: 'x'}]}})
  t.match(merged.spec, {ports: [{port: 81, name: 'x', targetPort: 81}]})
})

t.test('desiredSlices: selector, readiness, named ports, terminal pods', async (t) => {
  const pod = (name: string, ip: string | undefined, opts: {ready?: boolean; phase?: string; port?: number} = {}) => {
    const p = podObject(name, 'n1', {app: 'web'}) as any
    p.metadata.namespace = 'default'
    p.metadata.uid = `uid-${name}`
    if (opts.port) p.spec.containers[0].ports = [{name: 'http', containerPort: opts.port}]
    if (ip) p.status = runningStatus(ip).status
    if (opts.ready === false) p.status.conditions = [{type: 'Ready', status: 'False'}]
    if (opts.phase) p.status.phase = opts.phase
    return p
  }
  const service = {
    metadata: {name: 'web', namespace: 'default'},
    spec: {selector: {app: 'web'}, ports: [{name: 'http', port: 80, targetPort: 'http', protocol: 'TCP'}]},
  }
  const got = desiredSlices(service, [
    pod('a', '10.244.1.2', {port: 8080}),
    pod('b', '10.244.1.3', {port: 8080, ready: false}),
    pod('c', undefined, {port: 8080}),
    pod('d', '10.244.1.4', {port: 8080, phase: 'Succeeded'}),
    pod('e', '10.244.1.5', {port: 9090}),
    pod('f', '10.244.1.6'),
  ])!
  t.same(
    got.map((s) => [s.ports.map((p) => p.port), s.endpoints.map((e) => [e.addresses[0], e.conditions.ready])]),
    [
      [
        [8080],
        [
          ['10.244.1.2', true],
          ['10.244.1.3', false],
        ],
      ],
      [[9090], [['10.244.1.5', true]]],
      // A pod without the named port is an endpoint without that port.
      [[], [['10.244.1.6', true]]],
    ],
  )
  t.same(
    desiredSlices({metadata: {name: 'x', namespace: 'default'}, spec: {ports: [{port: 1}]}}, []),
    undefined,
    'no selector: not ours',
  )
  t.same(desiredSlices(service, []), [{ports: [], endpoints: []}], 'nothing selected: one empty slice')
})

t.test('the controller follows pods and Services, and leaves user slices alone', async (t) => {
  const store = new Store()
  const c = new EndpointsController(store)
  c.start()
  t.teardown(() => c.stop())
  store.create('services', 'default', {metadata: {name: 'web'}, spec: {selector: {app: 'web'}, ports: [{port: 80}]}})
  const user = {
    metadata: {name: 'mine', labels: {'kubernetes.io/service-name': 'web'}},
    addressType: 'IPv4',
    endpoints: [{addresses: ['10.0.0.1']}],
  }
  store.create('endpointslices', 'default', user)
  store.create('pods', 'default', podObject('p1', 'n1'))
  store.patch('pods', 'default', 'p1', 'merge', runningStatus('10.244.1.9'), {subresource: 'status'})
  const managed = () =>
    store
      .list('endpointslices', {namespace: 'default', labelSelector: 'endpointslice.kubernetes.io/managed-by'})
      .items.flatMap((s) => (s.endpoints as {addresses: string[]}[]).map((e) => e.addresses[0]))
  await waitFor('p1 listed', () => managed().includes('10.244.1.9'))
  store.delete('pods', 'default', 'p1')
  await waitFor('p1 gone', () => managed().length === 0)
  store.delete('services', 'default', 'web')
  await waitFor(
    'slices gone',
    () => store.list('endpointslices', {labelSelector: 'endpointslice.kubernetes.io/managed-by'}).items.length === 0,
  )
  t.ok(store.get('endpointslices', 'default', 'mine'), "a user's slice stays")
})
