// ejs with a fast path, for the CLI bundle (scripts/bundle-cli.mjs). oclif's help renders every
// description, flag summary and example through ejs.render, which compiles each into a function even
// when it holds no tag: a fifth of `cnidbg trace --help`. A template with neither `<%` nor `%>` (every
// ejs tag, even a stray closing one, holds one of them) renders to itself, so it is returned as is;
// anything else, or custom delimiters, goes to ejs itself.
// test/scripts/ejs-plain-text.ts holds the two equal.
'use strict'

const DELIMITER_OPTIONS = ['delimiter', 'openDelimiter', 'closeDelimiter']

/** Wraps the ejs module: the same module, with render() taking the fast path. */
module.exports = function plainTextFastPath(ejs) {
  const render = (template, data, ...rest) =>
    typeof template === 'string' &&
    !template.includes('<%') &&
    !template.includes('%>') &&
    rest.length === 0 &&
    !(data && typeof data === 'object' && DELIMITER_OPTIONS.some((k) => k in data))
      ? template
      : ejs.render(template, data, ...rest)
  return {...ejs, render}
}
