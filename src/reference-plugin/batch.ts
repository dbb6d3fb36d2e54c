import {CniError, CODE} from './errors.js'

/**
 * Lines for `ip -batch`, built from words so that iproute2 reads every value back byte for byte.
 * How iproute2 6.1 splits a batch line (tried against `ip` itself, test/reference-plugin/batch.ts):
 * - a line ends at a newline; a backslash right before it joins the next line, even inside quotes,
 *   and a backslash at the very end of the input makes ip skip that command and still exit 0;
 * - `#` anywhere, even inside quotes, cuts the rest of the line;
 * - a NUL ends the line (ip reads it as a C string);
 * - words are separated by space, tab, CR or LF (not by \v, \f or a non-breaking space);
 * - a word that starts with ' or " runs to the next identical quote, with no escapes, and the quote
 *   also ends the word; a quote anywhere else in a word is an ordinary byte.
 * So a value is written bare, or wrapped in the quote it does not contain; a value with `#`, a
 * newline or NUL, or one that needs wrapping and contains both quotes, cannot be written at all.
 */

/** A value from an input, with the input's name for the error when it cannot be written. */
export interface BatchArg {
  value: string
  field: string
}

/** A word of a batch line: a keyword of ours, or a value with the field it came from. */
export type BatchWord = string | BatchArg

export const arg = (value: string | number, field: string): BatchArg => ({value: String(value), field})

function why(value: string): string | undefined {
  if (value.includes('\n')) return 'contains a newline'
  if (value.includes('#')) return 'contains "#"'
  if (value.includes('\0')) return 'contains NUL'
  return undefined
}

const needsWrap = (value: string): boolean =>
  value === '' ||
  value[0] === '"' ||
  value[0] === "'" ||
  value.endsWith('\\') ||
  value.includes(' ') ||
  value.includes('\t') ||
  value.includes('\r')

/**
 * One value as a batch word. Throws a CNI error naming `field` when ip could not read it back
 * intact: code 4 for a CNI_* variable (SPEC §5 Error: invalid environment), else 7 (invalid config).
 */
export function batchWord(value: string, field: string): string {
  let problem = why(value)
  if (!problem) {
    if (!needsWrap(value)) return value
    if (!value.includes('"')) return `"${value}"`
    if (!value.includes("'")) return `'${value}'`
    problem = 'needs quoting and contains both quote characters'
  }
  const code = field.startsWith('CNI_') ? CODE.INVALID_ENV : field ? CODE.INVALID_CONFIG : CODE.INTERNAL
  throw new CniError(
    code,
    `${field || 'a command word'} ${JSON.stringify(value)} cannot be passed to ip: it ${problem}`,
    'cnidbg-ref refuses any value that would change the meaning of the commands it runs',
  )
}

/** One batch line: keywords as they are (checked like values), values through batchWord. */
export function batchLine(...words: BatchWord[]): string {
  return words.map((w) => (typeof w === 'string' ? batchWord(w, '') : batchWord(w.value, w.field))).join(' ')
}
