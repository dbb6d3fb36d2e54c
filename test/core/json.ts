import t from 'tap'

import {JsonTooDeepError, MAX_JSON_DEPTH, nestedDeeperThan, parseJson} from '../../src/core/json.js'

const nested = (depth: number, open = '[', close = ']'): string => open.repeat(depth) + close.repeat(depth)

t.test('nestedDeeperThan counts objects and arrays inside one another', async (t) => {
  t.notOk(nestedDeeperThan('', 0))
  t.notOk(nestedDeeperThan('1', 0))
  t.ok(nestedDeeperThan('[]', 0))
  t.notOk(nestedDeeperThan('[]', 1))
  t.notOk(nestedDeeperThan('[[],[],{"a":[]}]', 3), 'siblings do not add up')
  t.ok(nestedDeeperThan('[[],[],{"a":[[]]}]', 3))
  t.notOk(nestedDeeperThan(nested(10), 10))
  t.ok(nestedDeeperThan(nested(11), 10))
  t.ok(nestedDeeperThan('{"a":{"b":{"c":1}}}', 2))
})

t.test('brackets inside strings, escaped quotes and backslashes included, do not count', async (t) => {
  t.notOk(nestedDeeperThan(`{"a":"${nested(50)}"}`, 1))
  t.notOk(nestedDeeperThan(`{"a":"\\"[[[[","b":"\\\\"}`, 1), 'an escaped quote does not end the string')
  t.ok(nestedDeeperThan(`{"a":"\\\\",   "b":[[]]}`, 2), 'an escaped backslash does: the brackets after it count')
})

t.test('parseJson: what JSON.parse gives, up to MAX_JSON_DEPTH levels', async (t) => {
  t.same(parseJson('{"cniVersion":"1.0.0","ips":[]}'), {cniVersion: '1.0.0', ips: []})
  t.equal((parseJson(nested(MAX_JSON_DEPTH)) as unknown[]).length, 1)
  t.throws(() => parseJson('{"a":'), SyntaxError, 'invalid JSON still fails as JSON.parse does')
})

t.test(
  'parseJson: deeper than the limit is a JsonTooDeepError, a SyntaxError, before JSON.parse walks it',
  async (t) => {
    const err = t.throws(() => parseJson(nested(MAX_JSON_DEPTH + 1))) as unknown as Error
    t.type(err, JsonTooDeepError)
    t.type(err, SyntaxError)
    t.equal(err.message, `JSON nested deeper than ${MAX_JSON_DEPTH} levels`)
    // Deep enough to overflow Node's stack in JSON.stringify, and in cnidbg's own walks.
    t.throws(() => parseJson(nested(20_000, '{"a":', '}').replace(/\{"a":\}/, '{"a":1}')), JsonTooDeepError)
    t.throws(() => parseJson(nested(5, '{"a":', '}'), 4), JsonTooDeepError, 'the limit can be given')
  },
)
