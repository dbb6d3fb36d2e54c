/**
 * The CLI bundle gives oclif's string-width an ASCII fast path (scripts/ascii-string-width.cjs): it
 * must measure every string exactly as string-width does, and skip string-width for printable ASCII.
 */
import {createRequire} from 'node:module'

import fc from 'fast-check'
import t from 'tap'

type Width = (s: unknown, ...rest: unknown[]) => number
const require = createRequire(import.meta.url)
const asciiFastPath = require('../../scripts/ascii-string-width.cjs') as (w: Width) => Width & {default: Width}
// The string-width oclif core and wrap-ansi resolve (the top-level one).
const stringWidth = require('string-width') as Width

const fast = asciiFastPath(stringWidth)

t.test('the same width as string-width for any string', async (t) => {
  const pieces = fc.oneof(
    fc.string(),
    fc.string({unit: 'binary'}),
    fc.string({unit: 'grapheme'}),
    fc.constantFrom(
      '\u001b[31m',
      '\u001b[0m',
      '\u001b]8;;http://x\u0007',
      '→',
      '…',
      '§',
      '×',
      '–',
      '’',
      '−',
      '←',
      '中文',
      '👍🏽',
      'e\u0301',
      '\t',
      '\n',
    ),
  )
  fc.assert(
    fc.property(fc.array(pieces, {maxLength: 8}), (parts) => {
      const s = parts.join('')
      return fast(s) === stringWidth(s)
    }),
    {numRuns: 2000},
  )
  for (const s of ['', 'plain words', '[default: text]', '<options: a|b>', 'tab\there', 'x'.repeat(500)])
    t.equal(fast(s), stringWidth(s), JSON.stringify(s.slice(0, 20)))
  t.equal(fast.default, fast, 'importable as a default export too')
  t.equal(fast(undefined), stringWidth(undefined), 'not a string: string-width decides')
})

t.test('printable ASCII and the narrow punctuation do not reach string-width; anything else does', async (t) => {
  const seen: unknown[] = []
  const spy = asciiFastPath((s) => (seen.push(s), stringWidth(s)))
  t.equal(spy('Where does a packet die?'), 24)
  t.equal(spy('pod eth0 → host veth (§ × – ’ … −)'), 34)
  t.same(seen, [], 'measured by length')
  spy('pod eth0 ← host veth')
  spy('\u001b[1mbold\u001b[22m')
  spy('中文')
  t.same(seen, ['pod eth0 ← host veth', '\u001b[1mbold\u001b[22m', '中文'], 'the rest goes to string-width')
})
