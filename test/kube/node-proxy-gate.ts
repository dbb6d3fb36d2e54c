// The agent's gate on its own: bearer parsing, the TokenReview then SubjectAccessReview order, answers
// cached by the token's digest for a while (a clock the test moves), refusals cached shorter,
// audiences, an unreachable API as a 503 whose message never holds the token, and a bounded cache.
import t from 'tap'

import {bearerToken, Gate, GateRefusal, scrub, type Caller, type Reviewer} from '../../src/kube/node-proxy-gate.js'

/** What a promise failed with ('no failure' when it did not). */
const failure = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => 'no failure',
    (e: unknown) => e,
  )

function counting(opts: {allow?: (u: Caller, verb: string) => boolean; audiences?: string[]; fail?: boolean} = {}) {
  const calls = {token: [] as string[], access: [] as string[]}
  const reviewer: Reviewer = {
    async reviewToken(token, audiences) {
      calls.token.push(`${token}|${(audiences ?? []).join(',')}`)
      if (opts.fail) throw new Error(`connect ECONNREFUSED while reviewing ${token}`)
      if (!token.startsWith('good-')) return {authenticated: false}
      return {
        authenticated: true,
        user: {username: token.slice(5), groups: ['g']},
        audiences: opts.audiences ?? ['https://kubernetes.default.svc.cluster.local'],
      }
    },
    async reviewAccess(user, attrs) {
      calls.access.push(`${user.username} ${attrs.verb} ${attrs.node}`)
      return {allowed: opts.allow ? opts.allow(user, attrs.verb) : true, reason: 'because'}
    },
  }
  return {reviewer, calls}
}

t.test('bearer tokens and scrubbing', async (t) => {
  t.equal(bearerToken('Bearer abc'), 'abc')
  t.equal(bearerToken('bearer  abc '), 'abc')
  t.equal(bearerToken('Basic abc'), undefined)
  t.equal(bearerToken('Bearer a b'), undefined)
  t.equal(bearerToken(undefined), undefined)
  t.equal(scrub('token xyz failed for xyz', 'xyz'), 'token <token> failed for <token>')
})

t.test('reviews once, then answers from the cache until it expires', async (t) => {
  let now = 1000
  const {reviewer, calls} = counting({allow: (u, verb) => u.username === 'alice' || verb === 'get'})
  const gate = new Gate(reviewer, {node: 'n1', ttlMs: 10_000, negativeTtlMs: 2000, now: () => now})
  const alice = await gate.authenticate('Bearer good-alice')
  t.same(alice, {username: 'alice', groups: ['g']})
  await gate.authorize(alice, 'create')
  await gate.authenticate('Bearer good-alice')
  await gate.authorize(alice, 'create')
  t.same(calls, {token: ['good-alice|'], access: ['alice create n1']}, 'one review of each')
  now += 10_001
  await gate.authorize(await gate.authenticate('Bearer good-alice'), 'create')
  t.equal(calls.token.length, 2, 'reviewed again after the TTL')

  const bob = await gate.authenticate('Bearer good-bob')
  await gate.authorize(bob, 'get')
  t.match(await failure(gate.authorize(bob, 'create')), {
    status: 403,
    message: /"bob" may not create nodes\/proxy of node "n1": because/,
  })
  t.match(await failure(gate.authorize(bob, 'create')), {status: 403})
  t.equal(calls.access.filter((c) => c === 'bob create n1').length, 1, 'the refusal is cached')
  now += 2001
  t.match(await failure(gate.authorize(bob, 'create')), {status: 403})
  t.equal(calls.access.filter((c) => c === 'bob create n1').length, 2, '…for a shorter time')

  t.match(await failure(gate.authenticate(undefined)), {status: 401, message: /bearer token is required/})
  t.match(await failure(gate.authenticate('Bearer bad-x')), {status: 401})
  t.match(await failure(gate.authenticate('Bearer bad-x')), {status: 401})
  t.equal(calls.token.filter((c) => c.startsWith('bad-x')).length, 1, 'an invalid token is cached too')
})

t.test('audiences: asked for, and checked in the answer', async (t) => {
  const wrong = counting({audiences: ['https://kubernetes.default.svc.cluster.local']})
  const gate = new Gate(wrong.reviewer, {node: 'n1', audiences: ['cnidbg-agent']})
  t.match(await failure(gate.authenticate('Bearer good-alice')), {status: 401})
  t.same(wrong.calls.token, ['good-alice|cnidbg-agent'])
  const right = counting({audiences: ['cnidbg-agent']})
  t.ok(await new Gate(right.reviewer, {node: 'n1', audiences: ['cnidbg-agent']}).authenticate('Bearer good-alice'))
})

t.test('an API that cannot be asked is a 503 without the token, and nothing is cached', async (t) => {
  const down = counting({fail: true})
  const gate = new Gate(down.reviewer, {node: 'n1'})
  const e = await gate.authenticate('Bearer good-secret-123').catch((x: GateRefusal) => x)
  t.ok(e instanceof GateRefusal)
  t.equal((e as GateRefusal).status, 503)
  t.notMatch((e as GateRefusal).message, 'good-secret-123')
  t.match((e as GateRefusal).message, /ECONNREFUSED while reviewing <token>/)
  await gate.authenticate('Bearer good-secret-123').catch(() => undefined)
  t.equal(down.calls.token.length, 2)
})

t.test('the caches are bounded', async (t) => {
  const {reviewer} = counting()
  const gate = new Gate(reviewer, {node: 'n1', maxEntries: 3})
  for (let i = 0; i < 10; i++) await gate.authenticate(`Bearer good-u${i}`)
  t.equal(gate.cached.users, 3)
})
