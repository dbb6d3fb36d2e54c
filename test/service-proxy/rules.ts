// The service proxy's pure parts: chain names as kube-proxy computes them, the model built from
// Services and EndpointSlices, the rules' layout and the restore text.
import t from 'tap'

import {buildModel, type ServicePort} from '../../src/service-proxy/model.js'
import {renderRestore, restoreWord} from '../../src/service-proxy/restore.js'
import {
  base32,
  buildRules,
  endpointChain,
  parseExisting,
  probability,
  serviceChain,
} from '../../src/service-proxy/rules.js'

const port = (ns: string, name: string, portName: string, protocol: ServicePort['protocol']): ServicePort => ({
  namespace: ns,
  name,
  portName,
  protocol,
  clusterIP: '10.96.0.1',
  port: 1,
  endpoints: [],
})

t.test('base32 is RFC 4648', async (t) => {
  // RFC 4648 section 10 vectors, without padding.
  const cases: [string, string][] = [
    ['', ''],
    ['f', 'MY'],
    ['fo', 'MZXQ'],
    ['foo', 'MZXW6'],
    ['foob', 'MZXW6YQ'],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI'],
  ]
  for (const [input, out] of cases) t.equal(base32(Buffer.from(input)), out, JSON.stringify(input))
})

t.test('chain names are the ones kube-proxy gives the same service ports', async (t) => {
  // Names any kube-proxy cluster shows for these Services (kubeadm's kubernetes and kube-dns).
  t.equal(serviceChain(port('default', 'kubernetes', 'https', 'tcp')), 'KUBE-SVC-NPX46M4PTMTKRN6Y')
  t.equal(serviceChain(port('kube-system', 'kube-dns', 'dns', 'udp')), 'KUBE-SVC-TCOU7JCQXEZGVUNU')
  t.equal(serviceChain(port('kube-system', 'kube-dns', 'dns-tcp', 'tcp')), 'KUBE-SVC-ERIFXISQEP7F7OF4')
  t.equal(serviceChain(port('kube-system', 'kube-dns', 'metrics', 'tcp')), 'KUBE-SVC-JD5MR3NA4I4DYORP')
  // kube-proxy's own test fixture: ns1/svc1:p80 and its endpoint 10.180.0.1:80.
  const p = port('ns1', 'svc1', 'p80', 'tcp')
  t.equal(serviceChain(p), 'KUBE-SVC-XPGD46QRK7WJZT7O')
  t.equal(endpointChain(p, {ip: '10.180.0.1', port: 80}), 'KUBE-SEP-SXIVWICOYRO3J4NJ')
  // The protocol is part of the hash: the same port name over UDP is another chain.
  t.not(serviceChain(port('ns1', 'svc1', 'p80', 'udp')), serviceChain(p))
})

const service = (name: string, spec: Record<string, unknown>, ns = 'shop') => ({
  metadata: {name, namespace: ns},
  spec: {type: 'ClusterIP', ...spec},
})
const slice = (svc: string, ports: unknown[], endpoints: unknown[], ns = 'shop') => ({
  metadata: {name: `${svc}-x`, namespace: ns, labels: {'kubernetes.io/service-name': svc}},
  addressType: 'IPv4',
  ports,
  endpoints,
})

t.test('the model: ready endpoints per service port, invalid objects left out', async (t) => {
  const m = buildModel(
    [
      service('web', {
        clusterIP: '10.96.0.10',
        ports: [
          {name: 'http', port: 80, protocol: 'TCP'},
          {name: 'dns', port: 53, protocol: 'UDP'},
        ],
      }),
      service('headless', {clusterIP: 'None', ports: [{port: 80}]}),
      service('Bad_Name', {clusterIP: '10.96.0.11', ports: [{port: 80}]}),
      service('odd-ip', {clusterIP: '10.96.0.12 ', ports: [{port: 80}]}),
      service('np', {type: 'NodePort', clusterIP: '10.96.0.13', ports: [{port: 80}]}),
    ],
    [
      slice(
        'web',
        [{name: 'http', port: 8080, protocol: 'TCP'}],
        [
          {addresses: ['10.244.2.5'], conditions: {ready: true}},
          {addresses: ['10.244.1.9'], conditions: {}},
          {addresses: ['10.244.1.10'], conditions: {ready: false}},
          {addresses: ['not-an-ip'], conditions: {ready: true}},
        ],
      ),
      // The same endpoint again in a second slice is one endpoint; a port out of range is left out.
      slice(
        'web',
        [
          {name: 'http', port: 8080, protocol: 'TCP'},
          {name: 'big', port: 99999, protocol: 'TCP'},
        ],
        [{addresses: ['10.244.2.5']}],
      ),
      // Another namespace's Service of the same name is another Service.
      slice('web', [{name: 'http', port: 9999, protocol: 'TCP'}], [{addresses: ['10.244.3.3']}], 'other'),
    ],
  )
  t.same(
    m.ports.map((p) => [p.namespace, p.name, p.portName, p.protocol, p.clusterIP, p.port, p.endpoints]),
    [
      ['shop', 'web', 'dns', 'udp', '10.96.0.10', 53, []],
      [
        'shop',
        'web',
        'http',
        'tcp',
        '10.96.0.10',
        80,
        [
          {ip: '10.244.1.9', port: 8080},
          {ip: '10.244.2.5', port: 8080},
        ],
      ],
    ],
  )
  t.same(
    m.skipped,
    [
      'shop/web: EndpointSlice web-x: endpoint address "not-an-ip" is not an IPv4 address',
      'shop/web: EndpointSlice web-x: port {"name":"big","port":99999,"protocol":"TCP"} is not valid',
      'shop/Bad_Name: not a namespace/name of DNS labels',
      'shop/odd-ip: clusterIP "10.96.0.12 " is not an IPv4 address',
      'shop/np: type NodePort is not ClusterIP',
    ],
    'every object left out, with why',
  )
})

t.test("the rules: kube-proxy's layout", async (t) => {
  const model = buildModel(
    [
      service('web', {clusterIP: '10.96.0.10', ports: [{name: 'http', port: 80, protocol: 'TCP'}]}),
      service('nobody', {clusterIP: '10.96.0.11', ports: [{port: 81, protocol: 'TCP'}]}),
    ],
    [
      slice(
        'web',
        [{name: 'http', port: 8080, protocol: 'TCP'}],
        ['10.244.1.2', '10.244.1.3', '10.244.2.2'].map((a) => ({addresses: [a]})),
      ),
    ],
  )
  const text = renderRestore(buildRules(model, {clusterCidr: '10.244.0.0/16'}))
  const web = model.ports.find((p) => p.name === 'web')!
  const svc = serviceChain(web)
  const seps = web.endpoints.map((e) => endpointChain(web, e))
  t.equal(
    text,
    [
      '*filter',
      ':KUBE-SERVICES - [0:0]',
      '-I FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-I OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A KUBE-SERVICES -m comment --comment "shop/nobody has no endpoints" -m tcp -p tcp -d 10.96.0.11 --dport 81 -j REJECT',
      'COMMIT',
      '*nat',
      ':KUBE-SERVICES - [0:0]',
      ':KUBE-POSTROUTING - [0:0]',
      ':KUBE-MARK-MASQ - [0:0]',
      `:${svc} - [0:0]`,
      ...seps.map((s) => `:${s} - [0:0]`),
      '-I OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-I PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-I POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
      '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
      '-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000',
      '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
      '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
      `-A KUBE-SERVICES -m comment --comment "shop/web:http cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j ${svc}`,
      `-A ${svc} -m comment --comment "shop/web:http cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ`,
      `-A ${svc} -m comment --comment "shop/web:http -> 10.244.1.2:8080" -m statistic --mode random --probability 0.3333333333 -j ${seps[0]}`,
      `-A ${svc} -m comment --comment "shop/web:http -> 10.244.1.3:8080" -m statistic --mode random --probability 0.5000000000 -j ${seps[1]}`,
      `-A ${svc} -m comment --comment "shop/web:http -> 10.244.2.2:8080" -j ${seps[2]}`,
      ...web.endpoints.flatMap((e, i) => [
        `-A ${seps[i]} -m comment --comment shop/web:http -s ${e.ip} -j KUBE-MARK-MASQ`,
        `-A ${seps[i]} -m comment --comment shop/web:http -m tcp -p tcp -j DNAT --to-destination ${e.ip}:8080`,
      ]),
      'COMMIT',
      '',
    ].join('\n'),
  )
  t.equal(probability(4), '0.2500000000')
  t.equal(probability(7), '0.1428571429')

  // Against a node that has the jumps already and chains of a deleted Service.
  const existing = parseExisting(
    [
      '*filter',
      ':FORWARD ACCEPT [0:0]',
      ':KUBE-SERVICES - [0:0]',
      '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      'COMMIT',
      '*nat',
      ':KUBE-SVC-OLDOLDOLDOLDOLDO - [0:0]',
      ':KUBE-SEP-OLDOLDOLDOLDOLDO - [0:0]',
      `:${svc} - [0:0]`,
      ':CNI-KEEP - [0:0]',
      '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
      'COMMIT',
    ].join('\n'),
  )
  const again = renderRestore(buildRules(model, {clusterCidr: '10.244.0.0/16'}, existing))
  t.notMatch(again, /^-I /m, 'no jump inserted twice')
  t.match(again, /^:KUBE-SEP-OLDOLDOLDOLDOLDO - \[0:0\]$/m)
  t.match(again, /^-X KUBE-SEP-OLDOLDOLDOLDOLDO\n-X KUBE-SVC-OLDOLDOLDOLDOLDO\nCOMMIT\n$/m, 'stale chains removed last')
  t.notMatch(again, /-X (CNI-KEEP|KUBE-SVC-(?!OLD))/, "only stale KUBE-SVC/SEP chains, never another's")
})

t.test('ClientIP affinity: recent-match rules first, then the random ones', async (t) => {
  const model = buildModel(
    [service('sticky', {clusterIP: '10.96.0.20', sessionAffinity: 'ClientIP', ports: [{port: 80}]})],
    [slice('sticky', [{port: 80, protocol: 'TCP'}], [{addresses: ['10.244.1.2']}, {addresses: ['10.244.1.3']}])],
  )
  const text = renderRestore(buildRules(model, {clusterCidr: '10.244.0.0/16'}))
  const p = model.ports[0]!
  const sep = endpointChain(p, p.endpoints[0]!)
  t.match(text, `-m recent --name ${sep} --rcheck --seconds 10800 --reap -j ${sep}`)
  t.match(text, `-A ${sep} -m comment --comment shop/sticky -m recent --name ${sep} --set -m tcp -p tcp -j DNAT`)
  // The order is the point: a client seen before must hit its recent-match rule before any random
  // pick (or the last, unconditional jump) takes it elsewhere.
  const svcRules = text.split('\n').filter((l) => l.startsWith(`-A ${serviceChain(p)} `) && l.includes(' -j KUBE-SEP-'))
  const rcheck = svcRules.flatMap((l, i) => (l.includes('--rcheck') ? [i] : []))
  const picks = svcRules.flatMap((l, i) => (l.includes('--rcheck') ? [] : [i]))
  t.equal(rcheck.length, 2, 'one recent-match rule per endpoint')
  t.equal(picks.length, 2, 'one random pick, then the last jump')
  t.ok(Math.max(...rcheck) < Math.min(...picks), 'every --rcheck rule before the first random pick', {svcRules})
  t.match(svcRules[picks[0]!], /--probability/)
})

t.test('restore words: bare, quoted, or refused', async (t) => {
  t.equal(restoreWord('ns/svc:port'), 'ns/svc:port')
  t.equal(restoreWord('ns/svc:http -> 10.0.0.1:80'), '"ns/svc:http -> 10.0.0.1:80"')
  for (const bad of ['a"b', "a'b", 'a\\b', '#x', 'a\nb', 'tab\there', ' lead', 'trail ', '', 'ünï']) {
    t.throws(() => restoreWord(bad), {message: /cannot carry/}, JSON.stringify(bad))
  }
  t.throws(() => renderRestore([{name: 'nat', chains: ['bad chain'], rules: []}]), /not a chain name/)
})
