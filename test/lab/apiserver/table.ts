import t from 'tap'

import type {K8sObject} from '../../../src/lab/apiserver/resources.js'
import {humanDuration, toTable} from '../../../src/lab/apiserver/table.js'

const NOW = Date.parse('2024-01-10T00:00:00Z')

t.test('humanDuration matches apimachinery', async (t) => {
  const s = 1000
  // milliseconds, text
  const cases: [number, string][] = [
    [-5 * s, '<invalid>'],
    [-1 * s, '0s'],
    [0, '0s'],
    [119 * s, '119s'],
    [120 * s, '2m'],
    [200 * s, '3m20s'],
    [45 * 60 * s, '45m'],
    [3 * 3600 * s, '3h'],
    [(3 * 3600 + 5 * 60) * s, '3h5m'],
    [30 * 3600 * s, '30h'],
    [(2 * 24 + 5) * 3600 * s, '2d5h'],
    [30 * 24 * 3600 * s, '30d'],
    [(3 * 365 + 10) * 24 * 3600 * s, '3y10d'],
    [10 * 365 * 24 * 3600 * s, '10y'],
  ]
  for (const [ms, want] of cases) t.equal(humanDuration(ms), want, `${ms} ms`)
})

t.test('node rows: status, roles, addresses, node info', async (t) => {
  const node: K8sObject = {
    metadata: {
      name: 'n1',
      creationTimestamp: '2024-01-09T23:58:00Z',
      labels: {'node-role.kubernetes.io/control-plane': '', 'kubernetes.io/role': 'worker'},
    },
    spec: {unschedulable: true},
    status: {
      conditions: [{type: 'Ready', status: 'True'}],
      addresses: [
        {type: 'Hostname', address: 'n1'},
        {type: 'InternalIP', address: '10.1.0.1'},
      ],
      nodeInfo: {kubeletVersion: 'v1.30.0', osImage: 'Debian', kernelVersion: '6.18', containerRuntimeVersion: 'x://1'},
    },
  }
  const table = toTable('nodes', [node], {resourceVersion: '7'}, {now: NOW})
  t.match(table, {kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: {resourceVersion: '7'}})
  t.same(
    table.columnDefinitions.map((c) => `${c.name}/${c.priority}`),
    [
      'Name/0',
      'Status/0',
      'Roles/0',
      'Age/0',
      'Version/0',
      'Internal-IP/1',
      'External-IP/1',
      'OS-Image/1',
      'Kernel-Version/1',
      'Container-Runtime/1',
    ],
  )
  t.same(table.rows[0].cells, [
    'n1',
    'Ready,SchedulingDisabled',
    'control-plane,worker',
    '2m',
    'v1.30.0',
    '10.1.0.1',
    '<none>',
    'Debian',
    '6.18',
    'x://1',
  ])
  t.match(table.rows[0].object, {kind: 'PartialObjectMetadata', metadata: {name: 'n1'}}, 'metadata by default')
  const bare = toTable('nodes', [{metadata: {name: 'n2'}}], {}, {now: NOW, includeObject: 'None', version: 'v1beta1'})
  t.same(bare.rows[0].cells.slice(0, 4), ['n2', 'Unknown', '<none>', '<unknown>'])
  t.equal(bare.rows[0].object, undefined)
  t.equal(bare.apiVersion, 'meta.k8s.io/v1beta1')
})

t.test('pod rows: ready count, status reasons, restarts, IP and node', async (t) => {
  const base = (status: Record<string, unknown>, extra: Partial<K8sObject['metadata']> = {}): K8sObject => ({
    metadata: {name: 'p', creationTimestamp: '2024-01-09T23:59:30Z', ...extra},
    spec: {nodeName: 'n1', containers: [{name: 'a'}, {name: 'b'}]},
    status,
  })
  const cells = (o: K8sObject) => toTable('pods', [o], {}, {now: NOW, includeObject: 'Object'}).rows[0].cells
  t.same(
    cells(
      base({
        phase: 'Running',
        podIP: '10.244.0.5',
        containerStatuses: [
          {name: 'a', ready: true, restartCount: 2, state: {running: {}}},
          {name: 'b', ready: true, restartCount: 1, state: {running: {}}},
        ],
      }),
    ),
    ['p', '2/2', 'Running', '3', '30s', '10.244.0.5', 'n1', '<none>', '<none>'],
  )
  t.equal(
    cells(
      base({phase: 'Pending', containerStatuses: [{name: 'a', state: {waiting: {reason: 'ContainerCreating'}}}]}),
    )[2],
    'ContainerCreating',
  )
  t.equal(
    cells(base({phase: 'Running', containerStatuses: [{name: 'a', state: {terminated: {exitCode: 3}}}]}))[2],
    'ExitCode:3',
  )
  t.equal(cells(base({phase: 'Running'}, {deletionTimestamp: '2024-01-10T00:00:00Z'}))[2], 'Terminating')
  t.same(cells({metadata: {name: 'q'}})[1], '0/0')
})

t.test('namespace rows', async (t) => {
  const table = toTable(
    'namespaces',
    [{metadata: {name: 'default', creationTimestamp: '2024-01-01T00:00:00Z'}, status: {phase: 'Active'}}],
    {},
    {now: NOW},
  )
  t.same(table.rows[0].cells, ['default', 'Active', '9d'])
})
