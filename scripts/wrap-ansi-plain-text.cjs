// A patch to wrap-ansi 7, for the CLI bundle (scripts/bundle-cli.mjs). oclif's help wraps each of its lines
// through wrap-ansi, whose exec() ends by rebuilding the wrapped line character by character, so that a
// colour or link open at a line break is closed before it and opened again after it. That loop was a
// tenth of `cnidbg trace --help`. A line with no escape character (\u001B or \u009B) has no code to
// carry, and the loop gives back exactly the rows joined by newlines: the patch returns that at once.
// Lines with escape codes (help on a colour terminal) take the loop as before.
// test/scripts/wrap-ansi-plain-text.ts holds the patched module equal to wrap-ansi on any input.
'use strict'

/** exec()'s head, which names the line `string`; the early return reads it. */
const HEAD = 'const exec = (string, columns, options = {}) => {'
/** The line the early return goes before: the start of the rebuilding loop. */
const ANCHOR = "const pre = [...rows.join('\\n')];"
const EARLY = "if (!/[\\u001B\\u009B]/.test(string)) return rows.join('\\n');"

/** wrap-ansi's source with the early return; throws when the source is not the one it was written for. */
module.exports = function patchWrapAnsi(source) {
  if (source.split(HEAD).length !== 2 || source.split(ANCHOR).length !== 2) {
    throw new Error('wrap-ansi-plain-text: wrap-ansi is not the version this patch was written for')
  }
  return source.replace(ANCHOR, `${EARLY}\n\t${ANCHOR}`)
}
