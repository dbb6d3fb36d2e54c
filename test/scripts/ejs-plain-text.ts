/**
 * The CLI bundle gives oclif's ejs a fast path for text without tags (scripts/ejs-plain-text.cjs): it
 * must render every template exactly as ejs does, and skip ejs only for text with neither `<%` nor `%>`.
 */
import {createRequire} from 'node:module'
import {isDeepStrictEqual} from 'node:util'

import fc from 'fast-check'
import t from 'tap'

type Render = (template: unknown, data?: unknown, ...rest: unknown[]) => string
interface Ejs {
  render: Render
  compile: unknown
}
const require = createRequire(import.meta.url)
const plainTextFastPath = require('../../scripts/ejs-plain-text.cjs') as (ejs: Ejs) => Ejs
const ejs = require('ejs') as Ejs
const fast = plainTextFastPath(ejs)

/** What a render gives: its output, or the error it throws. */
const outcome = (render: Render, ...args: unknown[]) => {
  try {
    return {out: render(...(args as [unknown]))}
  } catch (error) {
    return {error: (error as Error).message}
  }
}

t.test('renders every template as ejs does', async (t) => {
  const data = {config: {bin: 'cnidbg'}, command: {id: 'trace'}}
  const pieces = fc.oneof(
    fc.string(),
    fc.string({unit: 'binary'}),
    fc.constantFrom('<%', '%>', '<%=', '<%-', '<%%', '%%>', '-%>', '_%>', '<%#', '<%_', '%', '<', '>', '\n', '\r\n'),
    fc.constantFrom('<%= config.bin %>', '<%- command.id %>', '`${x}`', '\\', '"', "'"),
  )
  // One assertion for the whole property, not one per template: a generated template is arbitrary
  // text, and as an assertion's name it once cut the TAP stream short.
  const run = fc.check(
    fc.property(fc.array(pieces, {maxLength: 8}), (parts) => {
      const s = parts.join('')
      return isDeepStrictEqual(outcome(fast.render, s, data), outcome(ejs.render, s, data))
    }),
    {numRuns: 1500},
  )
  const [parts] = run.counterexample ?? []
  t.notOk(
    run.failed,
    run.failed
      ? `differs from ejs for ${JSON.stringify(parts?.join(''))} (seed ${run.seed}, path ${run.counterexamplePath})`
      : `${run.numRuns} generated templates render as ejs renders them`,
  )
  t.equal(fast.render('<%= config.bin %> trace a b', data), 'cnidbg trace a b', 'tags still render')
  t.equal(fast.render('x %> y', data), ejs.render('x %> y', data), 'a stray closing tag goes to ejs')
  t.equal(fast.compile, ejs.compile, 'the rest of ejs is ejs')
})

t.test('text without tags does not reach ejs; custom delimiters do', async (t) => {
  const seen: unknown[] = []
  const spy = plainTextFastPath({...ejs, render: (s, ...rest) => (seen.push(s), ejs.render(s, ...rest))})
  t.equal(spy.render('Where does a packet die?\n\nEXIT CODES', {}), 'Where does a packet die?\n\nEXIT CODES')
  t.same(seen, [], 'plain text returned as is')
  spy.render('a <%= x %>', {x: 1})
  spy.render('plain', {delimiter: '?'})
  spy.render('plain', {}, {delimiter: '?'})
  t.same(seen, ['a <%= x %>', 'plain', 'plain'], 'tags and delimiter options go to ejs')
})
