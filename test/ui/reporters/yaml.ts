import t from 'tap'
import yaml from 'tap-yaml'

import {quoteYaml, toYaml} from '../../../src/ui/reporters/yaml.js'

// Test names must not carry raw U+2028 themselves: tap's own stream would break on them.
const printable = (s: string) =>
  JSON.stringify(s).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`)

// Round trip through the YAML parser tap itself uses for diagnostics.
const roundTrip = (obj: Record<string, unknown>) => yaml.parse(toYaml(obj as never).join('\n') + '\n')

t.test('scalars that look like other types stay strings', async (t) => {
  const tricky = [
    'yes',
    'no',
    'on',
    'off',
    'null',
    '~',
    'true',
    '1.0',
    '1.0.0',
    '0x10',
    '1e5',
    '.inf',
    '12',
    '-1',
    '',
    ' lead',
    'trail ',
    'a: b',
    'a #b',
    '- x',
    '[x]',
    '{x}',
    '*ref',
    '&a',
    '!tag',
    '%x',
    '@x',
    '`x',
    '|',
    '>',
    "'",
    '"',
    'a#b',
  ]
  for (const s of tricky) t.same(roundTrip({v: s}), {v: s}, printable(s))
})

t.test('multi-line strings become literal blocks when that is safe', async (t) => {
  const lines = toYaml({v: 'first\n  second\n\n...\n---\n#x'}, '  ')
  t.same(lines, ['  v: |-', '    first', '      second', '    ', '    ...', '    ---', '    #x'])
  for (const s of [
    'a\nb',
    'a\nb\n',
    'a\nb\n\n\n',
    ' lead\nx',
    '\nlead',
    'a\r\nb',
    'tab\tx\ny',
    'esc\u001b\nx',
    'a\n\tb',
    'a\n  \n b',
    'a \nb ',
    'a\n#b\n- c\n? d: e',
    'a\n\u2028b',
    'über\nñ 😀',
  ]) {
    t.same(roundTrip({v: s}), {v: s}, printable(s))
  }
})

t.test('nested structures', async (t) => {
  const obj = {
    a: [1, null, true, 'x', ['nested'], {k: 'v', l: [], m: {}}],
    b: {c: {d: 'e\nf'}},
    e: [],
    f: {},
    g: undefined,
    h: Number.POSITIVE_INFINITY,
  }
  const back = roundTrip(obj)
  t.same(back, {
    a: [1, null, true, 'x', ['nested'], {k: 'v', l: [], m: {}}],
    b: {c: {d: 'e\nf'}},
    e: [],
    f: {},
    h: Number.POSITIVE_INFINITY,
  })
  t.notOk('g' in back, 'undefined keys are left out')
})

t.test('quoteYaml escapes what YAML cannot hold raw', async (t) => {
  t.equal(quoteYaml('a"b\\c\n\t\r\u001b\u0000\u007f\u0085\u2028'), '"a\\"b\\\\c\\n\\t\\r\\e\\x00\\x7f\\x85\\u2028"')
  t.equal(yaml.parse(`v: ${quoteYaml('x\uD800y')}`).v, 'x\uFFFDy', 'a lone surrogate becomes U+FFFD')
})
