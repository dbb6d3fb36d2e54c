import t from 'tap'

import {parseCIDR, formatCIDR, contains, parseIP} from '../../src/core/ip.js'
import type {V1Namespace, V1NetworkPolicy, V1Pod} from '../../src/kube/client.js'
import {
  type CompiledPolicies,
  compilePolicies,
  denyComment,
  policyTypes,
  selectorMatches,
  subtractCidrs,
} from '../../src/daemon/policy-compile.js'
import {
  ALLOW_MARK,
  chainName,
  decodeComment,
  encodeComment,
  ruleLine,
  TOP_CHAIN,
} from '../../src/daemon/policy-rules.js'

const NODE = 'n1'

function pod(
  ns: string,
  name: string,
  ip: string,
  node: string,
  labels: Record<string, string>,
  ports: Array<{name: string; containerPort: number; protocol?: string}> = [],
): V1Pod {
  return {
    metadata: {namespace: ns, name, labels},
    spec: {nodeName: node, containers: [{name: 'c', ports}]},
    status: {phase: 'Running', podIP: ip, podIPs: [{ip}]},
  }
}

const PODS: V1Pod[] = [
  pod('default', 'web', '10.244.0.10', NODE, {app: 'web'}, [
    {name: 'http', containerPort: 80},
    {name: 'dns', containerPort: 53, protocol: 'UDP'},
  ]),
  pod('default', 'db', '10.244.0.11', NODE, {app: 'db'}, [{name: 'pg', containerPort: 5432}]),
  pod('prod', 'api', '10.244.0.12', NODE, {app: 'api'}, [{name: 'http', containerPort: 8080}]),
  pod('default', 'client', '10.244.1.10', 'n2', {app: 'client'}),
  pod('prod', 'client', '10.244.1.11', 'n2', {app: 'client'}),
  pod('dev', 'client', '10.244.1.12', 'n2', {app: 'client'}),
  {
    metadata: {namespace: 'default', name: 'hostnet', labels: {app: 'client'}},
    spec: {nodeName: NODE, hostNetwork: true, containers: [{name: 'c'}]},
    status: {phase: 'Running', podIP: '198.18.0.1'},
  },
]

const NAMESPACES: V1Namespace[] = [
  {metadata: {name: 'default'}},
  {metadata: {name: 'prod', labels: {team: 'a'}}},
  {metadata: {name: 'dev', labels: {team: 'b'}}},
]

const IP: Record<string, string> = {
  web: '10.244.0.10',
  db: '10.244.0.11',
  api: '10.244.0.12',
  client: '10.244.1.10',
  'prod-client': '10.244.1.11',
  'dev-client': '10.244.1.12',
}
const LOCAL = new Set(['10.244.0.10', '10.244.0.11', '10.244.0.12'])

function np(ns: string, name: string, spec: V1NetworkPolicy['spec']): V1NetworkPolicy {
  return {metadata: {namespace: ns, name}, spec}
}

interface Packet {
  src: string
  dst: string
  proto?: 'tcp' | 'udp' | 'sctp'
  dport?: number
  established?: boolean
}

/**
 * What FORWARD does to a packet with the compiled chains, evaluated from the rules' words: the verdict
 * and, for a drop, the DROP rule's comment. A pod on this node sits behind a `cnidbg…` veth.
 */
function forward(c: CompiledPolicies, p: Packet): {verdict: 'accept' | 'drop'; comment?: string} {
  const chains = new Map(c.chains.map((x) => [x.name, x.rules]))
  if (!chains.has(TOP_CHAIN)) return {verdict: 'accept'}
  const iif = LOCAL.has(p.src) ? 'cnidbg0001' : 'eth0'
  const oif = LOCAL.has(p.dst) ? 'cnidbg0002' : 'eth0'
  const proto = p.proto ?? 'tcp'
  let mark = 0
  const inCidr = (cidr: string, ip: string) => contains(parseCIDR(cidr)!, parseIP(ip)!)
  const ifMatch = (pat: string, name: string) => (pat.endsWith('+') ? name.startsWith(pat.slice(0, -1)) : pat === name)
  const matches = (words: string[]): boolean => {
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!
      const v = words[i + 1]!
      switch (w) {
        case '-s':
          if (!inCidr(v, p.src)) return false
          i++
          break
        case '-d':
          if (!inCidr(v, p.dst)) return false
          i++
          break
        case '-i':
          if (!ifMatch(v, iif)) return false
          i++
          break
        case '-o':
          if (!ifMatch(v, oif)) return false
          i++
          break
        case '-p':
          if (v !== proto) return false
          i++
          break
        case '-m':
          i++
          break
        case '--dport': {
          const [lo, hi] = v.split(':').map(Number)
          if (p.dport === undefined || p.dport < lo! || p.dport > (hi ?? lo!)) return false
          i++
          break
        }
        case '--mark':
          if (v !== ALLOW_MARK || (mark & 0x20000) === 0) return false
          i++
          break
        case '--ctstate':
          if (v !== 'RELATED,ESTABLISHED' || !p.established) return false
          i++
          break
        default:
          throw new Error(`test evaluator: unknown match word ${w}`)
      }
    }
    return true
  }
  const walk = (name: string, depth: number): 'return' | {drop: string} => {
    if (depth > 5) throw new Error('chains nest too deep')
    for (const r of chains.get(name) ?? []) {
      if (!matches(r.match)) continue
      const [, target, , value] = r.target
      if (target === 'RETURN') return 'return'
      if (target === 'DROP') return {drop: r.comment}
      if (target === 'MARK') {
        mark = value === ALLOW_MARK ? mark | 0x20000 : mark & ~0x20000
        continue
      }
      if (!chains.has(target!)) throw new Error(`jump to a chain not compiled: ${target}`)
      const res = walk(target!, depth + 1)
      if (res !== 'return') return res
    }
    return 'return'
  }
  const res = walk(TOP_CHAIN, 0)
  return res === 'return' ? {verdict: 'accept'} : {verdict: 'drop', comment: res.drop}
}

const compile = (policies: V1NetworkPolicy[], pods = PODS) =>
  compilePolicies({nodeName: NODE, policies, pods, namespaces: NAMESPACES})

const DENY_ALL_INGRESS = np('default', 'deny-all', {podSelector: {}, policyTypes: ['Ingress']})
const ALLOW_FROM_CLIENT = np('default', 'allow-client', {
  podSelector: {matchLabels: {app: 'web'}},
  ingress: [{_from: [{podSelector: {matchLabels: {app: 'client'}}}]}],
})

interface Case {
  name: string
  policies: V1NetworkPolicy[]
  flows: Array<[Packet, 'accept' | 'drop', string?]>
}

const CASES: Case[] = [
  {
    name: 'no policy: nothing compiled, everything passes',
    policies: [],
    flows: [[{src: IP.client!, dst: IP.web!, dport: 80}, 'accept']],
  },
  {
    name: 'deny-all ingress: default-deny names the policy; egress and other namespaces untouched',
    policies: [DENY_ALL_INGRESS],
    flows: [
      [
        {src: IP.client!, dst: IP.web!, dport: 80},
        'drop',
        'cnidbg-policy default-deny ingress default/web by default/deny-all',
      ],
      [{src: IP.db!, dst: IP.web!, dport: 80}, 'drop', 'default/deny-all'],
      [{src: IP.web!, dst: IP.client!, dport: 80}, 'accept'],
      [{src: IP.client!, dst: IP.api!, dport: 8080}, 'accept'],
      // Replies of a connection the pod opened.
      [{src: IP.client!, dst: IP.web!, dport: 40000, established: true}, 'accept'],
    ],
  },
  {
    name: 'podSelector peer: the labelled client of the same namespace only',
    policies: [ALLOW_FROM_CLIENT],
    flows: [
      [{src: IP.client!, dst: IP.web!, dport: 80}, 'accept'],
      [
        {src: IP['prod-client']!, dst: IP.web!, dport: 80},
        'drop',
        'default-deny ingress default/web by default/allow-client',
      ],
      [{src: IP.db!, dst: IP.web!, dport: 80}, 'drop'],
      // db is not selected: not default-deny.
      [{src: IP['dev-client']!, dst: IP.db!, dport: 5432}, 'accept'],
    ],
  },
  {
    name: "a rule as a watch event carries it: the API's JSON field `from`",
    policies: [
      np('default', 'raw', {
        podSelector: {matchLabels: {app: 'web'}},
        ingress: [{from: [{podSelector: {matchLabels: {app: 'client'}}}]} as never],
      }),
    ],
    flows: [
      [{src: IP.client!, dst: IP.web!, dport: 80}, 'accept'],
      [{src: IP.db!, dst: IP.web!, dport: 80}, 'drop', 'default/raw'],
    ],
  },
  {
    name: 'namespaceSelector peer: every pod of the labelled namespaces',
    policies: [
      np('default', 'from-team-a', {
        podSelector: {matchLabels: {app: 'web'}},
        ingress: [{_from: [{namespaceSelector: {matchLabels: {team: 'a'}}}]}],
      }),
    ],
    flows: [
      [{src: IP['prod-client']!, dst: IP.web!, dport: 80}, 'accept'],
      [{src: IP.api!, dst: IP.web!, dport: 80}, 'accept'],
      [{src: IP['dev-client']!, dst: IP.web!, dport: 80}, 'drop', 'default/from-team-a'],
      [{src: IP.client!, dst: IP.web!, dport: 80}, 'drop'],
    ],
  },
  {
    name: 'namespaceSelector and podSelector in one peer: those pods of those namespaces',
    policies: [
      np('default', 'both', {
        podSelector: {matchLabels: {app: 'web'}},
        ingress: [
          {
            _from: [
              {
                namespaceSelector: {matchExpressions: [{key: 'team', operator: 'In', values: ['a', 'c']}]},
                podSelector: {matchLabels: {app: 'client'}},
              },
            ],
          },
        ],
      }),
    ],
    flows: [
      [{src: IP['prod-client']!, dst: IP.web!, dport: 80}, 'accept'],
      [{src: IP.api!, dst: IP.web!, dport: 80}, 'drop', 'default/both'],
      [{src: IP.client!, dst: IP.web!, dport: 80}, 'drop'],
    ],
  },
  {
    name: 'namespaceSelector by kubernetes.io/metadata.name, which every namespace has',
    policies: [
      np('default', 'by-ns-name', {
        podSelector: {matchLabels: {app: 'web'}},
        ingress: [{_from: [{namespaceSelector: {matchLabels: {'kubernetes.io/metadata.name': 'dev'}}}]}],
      }),
    ],
    flows: [
      [{src: IP['dev-client']!, dst: IP.web!, dport: 80}, 'accept'],
      [{src: IP['prod-client']!, dst: IP.web!, dport: 80}, 'drop'],
    ],
  },
  {
    name: 'ipBlock with except',
    policies: [
      np('default', 'block', {
        podSelector: {matchLabels: {app: 'web'}},
        ingress: [{_from: [{ipBlock: {cidr: '192.168.5.0/24', except: ['192.168.5.128/25', '192.168.5.7/32']}}]}],
      }),
    ],
    flows: [
      [{src: '192.168.5.5', dst: IP.web!, dport: 80}, 'accept'],
      [{src: '192.168.5.8', dst: IP.web!, dport: 80}, 'accept'],
      [{src: '192.168.5.7', dst: IP.web!, dport: 80}, 'drop', 'default/block'],
      [{src: '192.168.5.200', dst: IP.web!, dport: 80}, 'drop'],
      [{src: '192.168.6.1', dst: IP.web!, dport: 80}, 'drop'],
    ],
  },
  {
    name: 'numeric port: TCP unless said, only that port',
    policies: [np('default', 'port80', {podSelector: {matchLabels: {app: 'web'}}, ingress: [{ports: [{port: 80}]}]})],
    flows: [
      [{src: IP.client!, dst: IP.web!, dport: 80}, 'accept'],
      [{src: IP.client!, dst: IP.web!, dport: 81}, 'drop'],
      [{src: IP.client!, dst: IP.web!, proto: 'udp', dport: 80}, 'drop'],
    ],
  },
  {
    name: 'UDP and SCTP ports, and a protocol without a port',
    policies: [
      np('default', 'protos', {
        podSelector: {matchLabels: {app: 'web'}},
        ingress: [{ports: [{port: 53, protocol: 'UDP'}, {port: 9, protocol: 'SCTP'}, {protocol: 'TCP'}]}],
      }),
    ],
    flows: [
      [{src: IP.client!, dst: IP.web!, proto: 'udp', dport: 53}, 'accept'],
      [{src: IP.client!, dst: IP.web!, proto: 'udp', dport: 54}, 'drop'],
      [{src: IP.client!, dst: IP.web!, proto: 'sctp', dport: 9}, 'accept'],
      [{src: IP.client!, dst: IP.web!, proto: 'tcp', dport: 12345}, 'accept'],
    ],
  },
  {
    name: 'endPort: a range',
    policies: [
      np('default', 'range', {
        podSelector: {matchLabels: {app: 'web'}},
        ingress: [{ports: [{port: 8000, endPort: 8100}]}],
      }),
    ],
    flows: [
      [{src: IP.client!, dst: IP.web!, dport: 8000}, 'accept'],
      [{src: IP.client!, dst: IP.web!, dport: 8100}, 'accept'],
      [{src: IP.client!, dst: IP.web!, dport: 7999}, 'drop'],
      [{src: IP.client!, dst: IP.web!, dport: 8101}, 'drop'],
    ],
  },
  {
    name: 'named ingress port: resolved on each selected pod',
    policies: [
      np('default', 'named', {podSelector: {}, ingress: [{ports: [{port: 'http'}]}]}),
      np('prod', 'named', {podSelector: {}, ingress: [{ports: [{port: 'http'}]}]}),
    ],
    flows: [
      [{src: IP.client!, dst: IP.web!, dport: 80}, 'accept'],
      [{src: IP.client!, dst: IP.api!, dport: 8080}, 'accept'],
      [{src: IP.client!, dst: IP.api!, dport: 80}, 'drop', 'prod/named'],
      // db has no port named http: everything to it is denied.
      [{src: IP.client!, dst: IP.db!, dport: 80}, 'drop', 'default/named'],
    ],
  },
  {
    name: 'egress: default-deny of the source pod, a block and a port',
    policies: [
      np('default', 'web-out', {
        podSelector: {matchLabels: {app: 'web'}},
        policyTypes: ['Egress'],
        egress: [{to: [{ipBlock: {cidr: '10.244.1.0/24'}}], ports: [{port: 443}]}],
      }),
    ],
    flows: [
      [{src: IP.web!, dst: IP.client!, dport: 443}, 'accept'],
      [
        {src: IP.web!, dst: IP.client!, dport: 80},
        'drop',
        'cnidbg-policy default-deny egress default/web by default/web-out',
      ],
      [{src: IP.web!, dst: '8.8.8.8', dport: 443}, 'drop'],
      // Ingress of web is not governed by an Egress-only policy.
      [{src: IP.client!, dst: IP.web!, dport: 80}, 'accept'],
    ],
  },
  {
    name: 'named egress port: resolved on the peer',
    policies: [
      np('default', 'to-api', {
        podSelector: {matchLabels: {app: 'web'}},
        policyTypes: ['Egress'],
        egress: [{to: [{namespaceSelector: {}, podSelector: {matchLabels: {app: 'api'}}}], ports: [{port: 'http'}]}],
      }),
    ],
    flows: [
      [{src: IP.web!, dst: IP.api!, dport: 8080}, 'accept'],
      [{src: IP.web!, dst: IP.api!, dport: 80}, 'drop', 'default/to-api'],
    ],
  },
  {
    name: 'same node: the source egress and the destination ingress both apply',
    policies: [
      DENY_ALL_INGRESS,
      np('default', 'db-out', {podSelector: {matchLabels: {app: 'db'}}, policyTypes: ['Egress'], egress: [{}]}),
    ],
    flows: [
      [{src: IP.db!, dst: IP.web!, dport: 80}, 'drop', 'default-deny ingress default/web'],
      [{src: IP.db!, dst: IP.client!, dport: 80}, 'accept'],
    ],
  },
  {
    name: 'union: what any selecting policy allows passes; the deny names them all',
    policies: [
      ALLOW_FROM_CLIENT,
      np('default', 'port81', {podSelector: {matchLabels: {app: 'web'}}, ingress: [{ports: [{port: 81}]}]}),
    ],
    flows: [
      [{src: IP.client!, dst: IP.web!, dport: 80}, 'accept'],
      [{src: IP['dev-client']!, dst: IP.web!, dport: 81}, 'accept'],
      [
        {src: IP['dev-client']!, dst: IP.web!, dport: 80},
        'drop',
        'cnidbg-policy default-deny ingress default/web by default/allow-client,default/port81',
      ],
    ],
  },
  {
    name: 'policyTypes defaulted: egress rules make an Egress policy too',
    policies: [
      np('default', 'both-ways', {
        podSelector: {matchLabels: {app: 'web'}},
        ingress: [{ports: [{port: 80}]}],
        egress: [{ports: [{port: 53, protocol: 'UDP'}]}],
      }),
    ],
    flows: [
      [{src: IP.client!, dst: IP.web!, dport: 80}, 'accept'],
      [{src: IP.client!, dst: IP.web!, dport: 22}, 'drop'],
      [{src: IP.web!, dst: '10.96.0.10', proto: 'udp', dport: 53}, 'accept'],
      [{src: IP.web!, dst: IP.client!, dport: 80}, 'drop', 'default-deny egress default/web'],
    ],
  },
  {
    name: 'an empty rule list: the selected pod is isolated',
    policies: [np('default', 'isolate', {podSelector: {matchLabels: {app: 'web'}}, ingress: [], egress: []})],
    flows: [
      [{src: IP.client!, dst: IP.web!, dport: 80}, 'drop', 'default/isolate'],
      // `egress: []` without policyTypes does not make it an Egress policy.
      [{src: IP.web!, dst: IP.client!, dport: 80}, 'accept'],
    ],
  },
]

for (const c of CASES) {
  t.test(c.name, async (t) => {
    const compiled = compile(c.policies)
    t.same(compiled.problems, [], 'no problems')
    for (const [pkt, verdict, comment] of c.flows) {
      const got = forward(compiled, pkt)
      const what = `${pkt.src} → ${pkt.dst} ${pkt.proto ?? 'tcp'}/${pkt.dport ?? '-'}${pkt.established ? ' (reply)' : ''}`
      t.equal(got.verdict, verdict, what)
      if (comment) t.match(got.comment ?? '', comment, `${what}: the DROP names the policy`)
    }
    // Every word outside a comment is a safe word: rendering never throws.
    for (const ch of compiled.chains) for (const r of ch.rules) ruleLine(ch.name, r)
  })
}

t.test('chain names and comments carry the policy', async (t) => {
  const compiled = compile([ALLOW_FROM_CLIENT, DENY_ALL_INGRESS])
  t.equal(compiled.chains[0]!.name, TOP_CHAIN)
  const pol = compiled.policies.find((p) => p.policy === 'default/allow-client')!
  t.same(pol.selects, ['default/web'])
  t.equal(pol.chains.ingress, chainName('I', 'default/allow-client'))
  t.match(pol.chains.ingress!, /^CNIDBG-NP-I-[A-Z2-7]{16}$/)
  const rules = compiled.chains.find((c) => c.name === pol.chains.ingress)!.rules
  t.same(
    rules.map((r) => r.comment),
    ['cnidbg-policy default/allow-client ingress rule 0'],
  )
  const web = compiled.pods.find((p) => p.pod === 'default/web')!
  t.same(web.ingress?.policies, ['default/allow-client', 'default/deny-all'])
  t.equal(web.egress, null)
  const podChain = compiled.chains.find((c) => c.name === web.ingress!.chain)!
  t.same(podChain.rules.at(-1), {
    match: [],
    comment: 'cnidbg-policy default-deny ingress default/web by default/allow-client,default/deny-all',
    target: ['-j', 'DROP'],
  })
  for (const c of compiled.chains) t.ok(c.name.length <= 28, `${c.name} fits iptables' limit`)
  // Pods of other nodes and host-network pods get no chain.
  t.same(compiled.pods.map((p) => p.pod).sort(), ['default/db', 'default/web'])
})

t.test('invalid fields become problems and allow nothing extra', async (t) => {
  const compiled = compile([
    np('default', 'bad', {
      podSelector: {matchLabels: {app: 'web'}},
      ingress: [
        {_from: [{ipBlock: {cidr: 'not-a-cidr'}}]},
        {_from: [{podSelector: {matchExpressions: [{key: 'x', operator: 'Near'}]}}]},
        {ports: [{port: 70000}]},
        {ports: [{port: 80, endPort: 79}]},
        {ports: [{port: 'http', endPort: 90}]},
        {ports: [{port: 80, protocol: 'ICMP'}]},
        {_from: [{ipBlock: {cidr: '10.0.0.0/8', except: ['bogus']}}]},
        {_from: [{}]},
      ],
    }),
    np('default', 'bad-selector', {podSelector: {matchExpressions: [{key: 'a', operator: 'In'}]}}),
  ])
  t.equal(compiled.problems.length, 9, compiled.problems.join('\n'))
  t.match(compiled.problems.join('\n'), /default\/bad-selector: spec.podSelector/)
  // Nothing of it allows anything: web is default-deny for every source.
  for (const src of ['10.1.2.3', IP.client!, '192.0.2.1']) {
    t.equal(forward(compiled, {src, dst: IP.web!, dport: 80}).verdict, 'drop', src)
  }
})

t.test('malformed shapes never throw; the rule allows nothing and the pod stays default-deny', async (t) => {
  const weird = [
    null,
    {_from: 'everyone'},
    {_from: [null]},
    {ports: [null]},
    {ports: {port: 80}},
    {_from: [{podSelector: {matchExpressions: [{key: 'app', operator: 'In', values: 'client'}]}}]},
    {_from: [{ipBlock: {cidr: '0.0.0.0/0', except: 7}}]},
  ]
  const compiled = compile(
    [
      np('default', 'weird', {
        podSelector: {matchLabels: {app: 'web'}},
        ingress: weird as never,
        policyTypes: 'Ingress' as never,
      }),
    ],
    [
      ...PODS,
      {
        metadata: {namespace: 'default', name: 'odd'},
        spec: {nodeName: NODE, containers: 'x' as never},
        status: {podIPs: 5 as never},
      },
    ],
  )
  t.equal(compiled.problems.length, weird.length, compiled.problems.join('\n'))
  t.same(
    compiled.pods.map((p) => p.pod),
    ['default/web'],
  )
  for (const src of ['10.1.2.3', IP.client!])
    t.equal(forward(compiled, {src, dst: IP.web!, dport: 80}).verdict, 'drop', src)
})

t.test('hostile names stay inside their comment', async (t) => {
  const name = 'x" -j ACCEPT\n-A FORWARD -j ACCEPT \\ %41 ü'
  const compiled = compile([np('default', name, {podSelector: {matchLabels: {app: 'web'}}, ingress: [{}]})])
  for (const ch of compiled.chains) {
    for (const r of ch.rules) {
      const line = ruleLine(ch.name, r)
      t.notMatch(line, /\n/)
      t.equal((line.match(/"/g) ?? []).length, 2, 'one quoted word: the comment')
    }
  }
  const enc = encodeComment(`cnidbg-policy default/${name} ingress rule 0`)
  t.equal(decodeComment(enc), `cnidbg-policy default/${name} ingress rule 0`)
  t.ok(enc.length <= 255)
})

t.test('encodeComment cuts long text between characters', async (t) => {
  const long = 'é'.repeat(200)
  const enc = encodeComment(long)
  t.ok(enc.length <= 255)
  t.ok(enc.endsWith('...'))
  t.ok(decodeComment(enc.slice(0, -3)).length > 0)
  t.ok(
    decodeComment(enc.slice(0, -3))
      .split('')
      .every((c) => c === 'é'),
  )
})

t.test('denyComment fits the comment limit and counts the rest', async (t) => {
  const many = Array.from({length: 40}, (_, i) => `namespace-${i}/policy-number-${i}`)
  const text = denyComment('default/web', 'ingress', many)
  t.ok(Buffer.byteLength(text) <= 255, text)
  t.match(text, /^cnidbg-policy default-deny ingress default\/web by namespace-0\/policy-number-0,/)
  t.match(text, / \+\d+ more$/)
})

t.test('policyTypes defaults', async (t) => {
  t.same(policyTypes(np('a', 'b', {podSelector: {}})), ['ingress'])
  t.same(policyTypes(np('a', 'b', {podSelector: {}, egress: [{}]})), ['ingress', 'egress'])
  t.same(policyTypes(np('a', 'b', {podSelector: {}, egress: []})), ['ingress'])
  t.same(policyTypes(np('a', 'b', {podSelector: {}, policyTypes: ['Egress']})), ['egress'])
})

t.test('selectorMatches', async (t) => {
  const l = {a: '1', b: '2'}
  t.ok(selectorMatches({}, l))
  t.ok(selectorMatches({matchLabels: {a: '1'}}, l))
  t.notOk(selectorMatches({matchLabels: {a: '2'}}, l))
  t.ok(selectorMatches({matchExpressions: [{key: 'c', operator: 'NotIn', values: ['1']}]}, l))
  t.notOk(selectorMatches({matchExpressions: [{key: 'a', operator: 'NotIn', values: ['1']}]}, l))
  t.ok(selectorMatches({matchExpressions: [{key: 'a', operator: 'Exists'}]}, l))
  t.notOk(selectorMatches({matchExpressions: [{key: 'a', operator: 'DoesNotExist'}]}, l))
  t.throws(() => selectorMatches({matchExpressions: [{key: 'a', operator: 'Exists', values: ['x']}]}, l))
})

t.test('subtractCidrs', async (t) => {
  const f = (outer: string, holes: string[]) =>
    subtractCidrs(
      parseCIDR(outer)!,
      holes.map((h) => parseCIDR(h)!),
    ).map(formatCIDR)
  t.same(f('10.0.0.0/24', []), ['10.0.0.0/24'])
  t.same(f('10.0.0.0/24', ['10.0.0.0/25']), ['10.0.0.128/25'])
  t.same(f('10.0.0.0/24', ['10.0.0.0/16']), [])
  t.same(f('10.0.0.0/24', ['10.1.0.0/16']), ['10.0.0.0/24'])
  t.same(f('10.0.0.0/30', ['10.0.0.2/32']), ['10.0.0.0/31', '10.0.0.3/32'])
  t.same(f('0.0.0.0/0', ['10.0.0.0/8']).length, 8)
  // Every address of the block is in exactly one part unless a hole holds it.
  const parts = subtractCidrs(parseCIDR('10.0.0.0/28')!, [parseCIDR('10.0.0.5/32')!, parseCIDR('10.0.0.8/30')!])
  for (let i = 0; i < 16; i++) {
    const a = parseIP(`10.0.0.${i}`)!
    const n = parts.filter((c) => contains(c, a)).length
    t.equal(n, i === 5 || (i >= 8 && i < 12) ? 0 : 1, `10.0.0.${i}`)
  }
})
