// string-width with a fast path, for the CLI bundle (scripts/bundle-cli.mjs). oclif's help wraps every
// word of a command's description through wrap-ansi, and string-width 4 runs a large emoji regular
// expression over each: a third of `cnidbg trace --help`. A string of printable ASCII is as wide as it
// is long (no escape codes, emoji, combining or wide characters), and so is one that adds only the
// narrow punctuation our help texts use (§ × – ’ … → −: single UTF-16 units, none of them emoji,
// wide or combining); such strings skip that work, and any other goes to string-width itself.
// test/scripts/ascii-string-width.ts holds the two equal.
'use strict'

const NARROW_TEXT = /^[\x20-\x7e§×–’…→−]*$/

/** Wraps a string-width function. */
module.exports = function asciiFastPath(stringWidth) {
  const width = (string, ...rest) =>
    typeof string === 'string' && NARROW_TEXT.test(string) ? string.length : stringWidth(string, ...rest)
  width.default = width
  return width
}
