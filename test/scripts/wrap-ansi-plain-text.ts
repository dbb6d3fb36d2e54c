/**
 * The CLI bundle patches oclif's wrap-ansi to return a line without escape codes as soon as it is wrapped
 * (scripts/wrap-ansi-plain-text.cjs): the patched module must wrap every string exactly as wrap-ansi does,
 * with every option oclif passes, and skip the rebuilding loop only for lines without escape codes.
 */
import {readFileSync} from 'node:fs'
import Module, {createRequire} from 'node:module'
import {dirname} from 'node:path'

import fc from 'fast-check'
import t from 'tap'

type Wrap = (s: unknown, columns: number, options?: Record<string, boolean>) => string
const require = createRequire(import.meta.url)
const patchWrapAnsi = require('../../scripts/wrap-ansi-plain-text.cjs') as (source: string) => string
// The wrap-ansi oclif core resolves, as the bundle takes it.
const file = createRequire(require.resolve('@oclif/core')).resolve('wrap-ansi')
const source = readFileSync(file, 'utf8')
const wrapAnsi = require(file) as Wrap

/** The patched source as a module of its own beside the original (its requires resolve from there). */
function load(text: string, requireHook?: (id: string) => unknown): Wrap {
  const m = new Module(file) as Module & {_compile(code: string, filename: string): void}
  m.filename = file
  m.paths = (Module as unknown as {_nodeModulePaths(d: string): string[]})._nodeModulePaths(dirname(file))
  if (requireHook) {
    const real = m.require.bind(m)
    m.require = ((id: string) => requireHook(id) ?? real(id)) as NodeJS.Require
  }
  m._compile(text, file)
  return m.exports as Wrap
}
const patched = load(patchWrapAnsi(source))

const OPTIONS: Array<Record<string, boolean>> = [
  {},
  {hard: true},
  {trim: false},
  {trim: false, hard: true},
  {wordWrap: false},
  {wordWrap: false, trim: false},
]

t.test('wraps any string as wrap-ansi does, with any of the options', async (t) => {
  const pieces = fc.oneof(
    {weight: 6, arbitrary: fc.constantFrom('word', 'a', 'longerwordthanmost', '--flag', '<value>', '[default: x]')},
    {weight: 6, arbitrary: fc.constantFrom(' ', '  ', '\n', '\r\n', '\t')},
    {
      weight: 2,
      arbitrary: fc.constantFrom('\u001b[31m', '\u001b[39m', '\u001b[1m', '\u001b]8;;http://x\u0007', '\u009b'),
    },
    // What follows an escape character: the loop looks for a code anywhere after one, of either kind.
    {weight: 2, arbitrary: fc.constantFrom('[31m', '[39m', ']8;;http://y\u0007', ']8;;\u0007')},
    {weight: 2, arbitrary: fc.constantFrom('→', '中文', '👍🏽', 'e\u0301', '\ud800')},
    {weight: 2, arbitrary: fc.string()},
    {weight: 1, arbitrary: fc.string({unit: 'binary'})},
  )
  fc.assert(
    fc.property(
      fc.array(pieces, {maxLength: 30}),
      fc.integer({min: 1, max: 90}),
      fc.constantFrom(...OPTIONS),
      (parts, columns, options) => {
        const s = parts.join('')
        return patched(s, columns, options) === wrapAnsi(s, columns, options)
      },
    ),
    {numRuns: 3000},
  )
  const help = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  for (const columns of [40, 80, 120])
    t.equal(
      patched(help, columns, {trim: false, hard: true}),
      wrapAnsi(help, columns, {trim: false, hard: true}),
      `the README at ${columns} columns`,
    )
})

t.test('a line without escape codes skips the rebuilding loop; one with them takes it', async (t) => {
  // The loop reads ansi-styles' codes for every character: here they throw.
  const guarded = load(patchWrapAnsi(source), (id) =>
    id === 'ansi-styles'
      ? {
          codes: {
            get() {
              throw new Error('the rebuilding loop ran')
            },
          },
        }
      : undefined,
  )
  t.equal(guarded('Where does a packet die between two pods?', 12), 'Where does a\npacket die\nbetween two\npods?')
  t.throws(() => guarded('\u001b[31mred\u001b[39m text', 5), /the rebuilding loop ran/)
})

t.test('the patch refuses a wrap-ansi it was not written for', async (t) => {
  t.throws(
    () => patchWrapAnsi(source.replace("const pre = [...rows.join('\\n')];", 'const pre = rows;')),
    /not the version/,
  )
  t.throws(() => patchWrapAnsi('module.exports = () => ""'), /not the version/)
})
