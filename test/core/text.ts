import t from 'tap'

import {capText} from '../../src/core/text.js'

t.test('capText keeps text up to the limit and says how much it cut beyond it', async (t) => {
  t.equal(capText('', 3), '')
  t.equal(capText('abc', 3), 'abc')
  t.equal(capText('abcd', 3), 'abc…[1 more characters cut]')
  t.equal(capText('x'.repeat(10_000), 5), 'xxxxx…[9995 more characters cut]')
})
