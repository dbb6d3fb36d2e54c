import t from 'tap'

import {
  defaultPodName,
  labNetnsPrefix,
  NETNS_NAME_MAX,
  LAB_NAME_RE,
  nodeIP,
  nodeNetns,
  podCidr,
  podNetns,
  underlayNetns,
  validateLabName,
} from '../../src/lab/names.js'
import {cnidbgError} from '../helpers/errors.js'

t.test('namespaces are named after the lab, node and pod', async (t) => {
  t.equal(underlayNetns('lab'), 'cnidbg-lab-lab-ul')
  t.equal(nodeNetns('lab', 'node1'), 'cnidbg-lab-lab-node1')
  t.equal(podNetns('lab', 'node1', 'default', 'pod-a'), 'cnidbg-lab-lab-node1-pod-a')
  t.equal(
    podNetns('lab', 'node1', 'kube-system', 'dns'),
    'cnidbg-lab-lab-node1-kube-system_dns',
    'other Kubernetes namespaces are spelled out',
  )
  for (const n of [underlayNetns('t1a2'), nodeNetns('t1a2', 'node3'), podNetns('t1a2', 'node3', 'default', 'x')])
    t.ok(n.startsWith(labNetnsPrefix('t1a2')), n)
})

t.test('lab names cannot make one lab a prefix of another', async (t) => {
  for (const good of ['lab', 'lab2', 't0f3a', 'a']) t.equal(validateLabName(good), good)
  for (const bad of ['', 'Lab', 'a-b', '2lab', 'a_b', 'abcdefghijklmnopq', 'a.b']) {
    t.throws(() => validateLabName(bad), cnidbgError('BAD_LAB_NAME'), JSON.stringify(bad))
    t.notOk(LAB_NAME_RE.test(bad))
  }
})

t.test('addresses follow the plan: node N is 198.18.0.(1+N) with pod CIDR 10.244.N.0/24', async (t) => {
  t.equal(nodeIP(1), '198.18.0.2')
  t.equal(nodeIP(3), '198.18.0.4')
  t.equal(podCidr(1), '10.244.1.0/24')
  t.equal(podCidr(20), '10.244.20.0/24')
})

t.test('default pod names count pod-a, pod-b, … pod-z, pod-aa', async (t) => {
  t.same([0, 1, 2, 25, 26, 27, 51, 52].map(defaultPodName), [
    'pod-a',
    'pod-b',
    'pod-c',
    'pod-z',
    'pod-aa',
    'pod-ab',
    'pod-az',
    'pod-ba',
  ])
  const names = Array.from({length: 1000}, (_, i) => defaultPodName(i))
  t.equal(new Set(names).size, names.length, 'no duplicates')
})

t.test('a pod name too long for a namespace name is cut and hashed, the same way every time', async (t) => {
  const long = 'p'.repeat(253)
  const a = podNetns('abcdefghijklmnop', 'node20', 'kube-system', long)
  t.equal(a.length, NETNS_NAME_MAX, 'as long as a namespace name may be')
  t.ok(a.startsWith(`${nodeNetns('abcdefghijklmnop', 'node20')}-kube-system_ppp`), 'with the lab, node and pod first')
  t.equal(podNetns('abcdefghijklmnop', 'node20', 'kube-system', long), a, 'deterministic')
  t.not(podNetns('abcdefghijklmnop', 'node20', 'kube-system', `${long.slice(1)}q`), a, 'another pod, another name')
  t.not(podNetns('abcdefghijklmnop', 'node20', 'default', long), a)
  const fits = 'p'.repeat(255 - nodeNetns('lab', 'node1').length - 1)
  t.equal(podNetns('lab', 'node1', 'default', fits).length, 255, 'a name that fits is kept whole')
  t.ok(podNetns('lab', 'node1', 'default', fits).endsWith(fits))
})
