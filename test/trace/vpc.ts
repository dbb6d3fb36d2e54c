// vpc: a route-table entry missing because the table's quota refused its CreateRoute is said so, from
// the owning node's daemon (its /diag's last errors); any other missing entry is left as it was.
import t from 'tap'

import type {TraceHop, TraceNode} from '../../src/trace/types.js'
import {refineVpcHops, type DaemonErrorsReader} from '../../src/trace/vpc.js'

const node3: TraceNode = {name: 'node3', nodeIP: '198.18.0.4', podCIDR: '10.244.3.0/24', diagUrl: 'http://x:1'}
const node1: TraceNode = {name: 'node1', nodeIP: '198.18.0.2', podCIDR: '10.244.1.0/24', diagUrl: 'http://x:1'}

const missingHop = (direction: TraceHop['direction']): TraceHop => ({
  index: 3,
  direction,
  node: 'vpc-router',
  netns: 'cnidbg-lab-x-vpc',
  device: 'vpc0',
  stage: 'route',
  status: 'fail',
  reason: 'route-table-missing',
  detail: 'the VPC route table has no entry for 10.244.3.0/24 (node3)',
  evidence: ['route table: 10.244.1.0/24 via 198.18.0.2'],
  hint: 'ip route replace …',
})

const REFUSAL =
  'CreateRoute 10.244.3.0/24 → node3: refused, the route table is full (POST /v1/routes: 409 RouteLimitExceeded: the route table holds its quota of 2 routes); trying again in 4 s (attempt 2): raise the table’s route quota or delete an entry no node uses'

const reader =
  (answers: Record<string, Awaited<ReturnType<DaemonErrorsReader>>>): DaemonErrorsReader =>
  async (n) =>
    answers[n.name] ?? {error: 'unknown node'}

t.test('the quota refused the owner’s entry: detail, evidence and hint say so', async (t) => {
  const hop = missingHop('forward')
  const notes = await refineVpcHops([hop], () => node3, reader({node3: {errors: ['other', REFUSAL]}}))
  t.same(notes, [])
  t.equal(hop.reason, 'route-table-missing', 'the reason stays')
  t.match(
    hop.detail,
    /no entry for 10\.244\.3\.0\/24 \(node3\): the route table is full, its quota refused node3's CreateRoute$/,
  )
  t.same(hop.evidence, ['route table: 10.244.1.0/24 via 198.18.0.2', `node3's daemon: ${REFUSAL}`])
  t.match(hop.hint, /raise the route table's quota, or delete an entry no node uses/)
})

t.test('another cause, another node’s refusal, or a passing hop: nothing changes', async (t) => {
  const hop = missingHop('forward')
  const before = structuredClone(hop)
  await refineVpcHops([hop], () => node3, reader({node3: {errors: []}}))
  t.same(hop, before, 'the daemon reports no refusal')
  const other = REFUSAL.replaceAll('10.244.3.0/24', '10.244.9.0/24')
  await refineVpcHops([hop], () => node3, reader({node3: {errors: [other]}}))
  t.same(hop, before, 'a refusal for another CIDR')
  const ok: TraceHop = {...missingHop('forward'), status: 'ok', reason: undefined}
  const okBefore = structuredClone(ok)
  await refineVpcHops([ok], () => node3, reader({node3: {errors: [REFUSAL]}}))
  t.same(ok, okBefore, 'a hop that passed')
})

t.test('the return direction asks the source’s node; an unreadable daemon is a note', async (t) => {
  const hop = missingHop('return')
  const asked: string[] = []
  const notes = await refineVpcHops(
    [hop],
    (d) => (d === 'forward' ? node3 : node1),
    async (n) => {
      asked.push(n.name)
      return {error: `${n.name} /diag unreachable (ECONNREFUSED): its daemon is stopped?`}
    },
  )
  t.same(asked, ['node1'])
  t.same(notes, [
    'why 10.244.1.0/24 has no route-table entry: node1 /diag unreachable (ECONNREFUSED): its daemon is stopped?',
  ])
  t.equal(hop.evidence?.length, 1, 'the hop is unchanged')
})
