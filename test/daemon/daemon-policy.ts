/**
 * NetworkPolicy end to end: node daemons against the lab apiserver and a real kernel, pods on two
 * nodes whose node-side veths are named as cnidbg-ref names them. A deny-all ingress policy stops
 * pod 1 → pod 0, and the DROP in node-0's namespace names it and counts; an allow-from-label policy
 * lets the labelled client through; deleting the policies restores the path. It runs where the lab
 * apiserver serves networking.k8s.io/v1 NetworkPolicies; where it answers 404 the daemon keeps
 * enforcement off, which test/daemon/daemon.ts checks.
 */
import t from 'tap'

import type {ResourceName} from '../../src/lab/apiserver/resources.js'
import {runOk} from '../../src/netns/index.js'
import {decodeComment} from '../../src/daemon/policy-rules.js'
import {eventually, httpGet, ping, startDaemonLab} from '../helpers/daemon-lab.js'

t.test('deny-all, allow-from-label and removal, through the daemon', async (t) => {
  const lab = await startDaemonLab({nodes: 2, pods: true, hostVeth: 'cnidbgvp0'})
  t.teardown(() => lab.dispose())
  const probe = await fetch(`http://127.0.0.1:${lab.api.port}/apis/networking.k8s.io/v1/networkpolicies`, {
    headers: {authorization: `Bearer ${lab.token}`},
  })
  const skip = probe.status === 404 ? 'the lab apiserver does not serve NetworkPolicies' : false
  await t.test('enforced by the node daemon', {skip}, async (t) => {
    const store = lab.api.store
    const NP = 'networkpolicies' as ResourceName
    for (const [i, labels] of [
      [0, {app: 'web'}],
      [1, {app: 'client'}],
    ] as const) {
      const n = lab.nodes[i]!
      const name = `pod-${i}`
      store.create('pods', 'default', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {name, namespace: 'default', labels},
        spec: {nodeName: n.name, containers: [{name: 'c', image: 'x'}]},
      })
      const pod = store.get('pods', 'default', name)!
      store.update(
        'pods',
        'default',
        name,
        {...pod, status: {phase: 'Running', podIP: n.podIP, podIPs: [{ip: n.podIP}]}},
        {
          subresource: 'status',
        },
      )
    }
    for (const i of [0, 1]) await lab.startDaemon(i)
    const pod0 = lab.nodes[0]!
    const pod1 = lab.nodes[1]!
    t.ok(await eventually('ping 1 → 0 before any policy', () => ping(pod1.podNs!, pod0.podIP!)))

    const drops = async () => {
      const r = await runOk('nsenter', [`--net=/run/netns/${pod0.ns}`, '--', 'iptables-save', '-c', '-t', 'filter'])
      return r.stdout
        .split('\n')
        .filter((l) => l.endsWith('-j DROP') && l.includes('cnidbg-policy'))
        .map((l) => ({
          packets: Number(/^\[(\d+):/.exec(l)?.[1] ?? 0),
          comment: decodeComment(/--comment "([^"]*)"/.exec(l)?.[1] ?? ''),
        }))
    }

    store.create(NP, 'default', {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {name: 'deny-all', namespace: 'default'},
      spec: {podSelector: {}, policyTypes: ['Ingress']},
    })
    await eventually('pod 1 → pod 0 denied', async () => !(await ping(pod1.podNs!, pod0.podIP!, 1)))
    const d = await drops()
    t.equal(d.length, 1)
    t.equal(d[0]!.comment, 'cnidbg-policy default-deny ingress default/pod-0 by default/deny-all')
    t.ok(d[0]!.packets > 0, `the DROP counted ${d[0]!.packets}`)
    const diag = await httpGet(lab.daemon(0)!.address!, '/diag', lab.token)
    t.match(diag.body.networkPolicy, {
      state: 'enforcing',
      pods: [{pod: 'default/pod-0', ingress: {policies: ['default/deny-all']}}],
    })

    store.create(NP, 'default', {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {name: 'allow-client', namespace: 'default'},
      spec: {
        podSelector: {matchLabels: {app: 'web'}},
        ingress: [{from: [{podSelector: {matchLabels: {app: 'client'}}}]}],
      },
    })
    t.ok(await eventually('the labelled client gets through', () => ping(pod1.podNs!, pod0.podIP!, 1)))
    t.match((await drops())[0]!.comment, 'by default/allow-client,default/deny-all', 'the deny names both')

    store.delete(NP, 'default', 'allow-client')
    store.delete(NP, 'default', 'deny-all')
    t.ok(await eventually('reachable after removal', () => ping(pod1.podNs!, pod0.podIP!, 1)))
    await eventually('chains removed', async () => (await drops()).length === 0)
  })
})
