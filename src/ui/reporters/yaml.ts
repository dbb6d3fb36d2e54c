/**
 * A deliberately small YAML emitter for TAP diagnostic blocks: plain objects, arrays, strings,
 * numbers, booleans and null. We don't take a YAML library as a runtime dependency for this; the
 * output is checked by parsing it back with tap-parser (which uses the `yaml` package) in tests.
 */

export type YamlValue = string | number | boolean | null | undefined | YamlValue[] | {[key: string]: YamlValue}

// YAML 1.2 c-printable minus the line breaks we handle ourselves; anything else must be escaped.
// eslint-disable-next-line no-control-regex
const NON_PRINTABLE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\uFFFE\uFFFF\u2028\u2029\uFEFF]/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g
const HAS_LONE_SURROGATE = new RegExp(LONE_SURROGATE.source)
// Strings that a YAML parser would read back as something other than the same string.
const NOT_A_STRING =
  /^(?:~|null|true|false|yes|no|on|off|y|n|[-+]?(?:\.?\d[\d_.]*(?:e[-+]?\d+)?|\.inf|\.nan)|0x[\da-f]+|0o[0-7]+)$/i

/** A double-quoted YAML scalar; every character that could break the block is escaped. */
export function quoteYaml(s: string): string {
  let out = '"'
  for (const ch of s.replace(LONE_SURROGATE, '\uFFFD')) {
    const code = ch.codePointAt(0) as number
    if (ch === '"') out += '\\"'
    else if (ch === '\\') out += '\\\\'
    else if (ch === '\n') out += '\\n'
    else if (ch === '\t') out += '\\t'
    else if (ch === '\r') out += '\\r'
    else if (ch === '\u001B') out += '\\e'
    else if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) out += `\\x${code.toString(16).padStart(2, '0')}`
    else if (NON_PRINTABLE.test(ch)) out += `\\u${code.toString(16).padStart(4, '0')}`
    else out += ch
  }
  return out + '"'
}

function isPlainSafe(s: string): boolean {
  // Conservative: letters first, no `: `, no ` #`, nothing YAML 1.1 or 1.2 would read as a bool/null.
  return /^[A-Za-z][A-Za-z0-9 _./@()+,#-]*$/.test(s) && !/ #| $/.test(s) && !NOT_A_STRING.test(s)
}

/** A multi-line string can be a literal block (readable) unless YAML would alter or reject it. */
function canBeLiteral(s: string): boolean {
  return (
    s.includes('\n') &&
    !s.includes('\r') &&
    !NON_PRINTABLE.test(s) &&
    !HAS_LONE_SURROGATE.test(s) &&
    // The block's indentation is auto-detected from its first line, so that line must not start
    // with whitespace (and must not be empty).
    /^\S/.test(s)
  )
}

function scalar(v: string | number | boolean | null): string {
  if (v === null) return 'null'
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : v > 0 ? '.inf' : v < 0 ? '-.inf' : '.nan'
  if (typeof v === 'boolean') return String(v)
  return isPlainSafe(v) ? v : quoteYaml(v)
}

function literal(s: string, pad: string): {header: string; lines: string[]} {
  const trailing = /\n*$/.exec(s)?.[0].length ?? 0
  const chomp = trailing === 0 ? '-' : trailing === 1 ? '' : '+'
  // The last line break is implied by the block; `|+` keeps the empty lines before it.
  const body = trailing > 0 ? s.slice(0, -1) : s
  // Every content line gets the full indentation, empty ones too: tap-parser ends the block at
  // the first line that does not start with the block's indent.
  return {header: `|${chomp}`, lines: body.split('\n').map((l) => pad + l)}
}

function isObject(v: YamlValue): v is {[key: string]: YamlValue} {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** `key: value` (or `- value` when key is null) as lines, indented by `pad`. */
function entry(key: string | null, v: YamlValue, pad: string): string[] {
  const lead = key === null ? `${pad}- ` : `${pad}${key}:`
  const sep = key === null ? '' : ' '
  if (Array.isArray(v)) {
    if (v.length === 0) return [`${lead}${sep}[]`]
    const items = v.flatMap((item) => entry(null, item, pad + '  '))
    return key === null ? [`${pad}-`, ...items] : [lead, ...items]
  }
  if (isObject(v)) {
    const fields = Object.entries(v).filter(([, x]) => x !== undefined)
    if (fields.length === 0) return [`${lead}${sep}{}`]
    if (key === null) {
      // Compact form: the first field on the dash line, the rest aligned under it.
      const [first, ...rest] = fields.map(([k, x]) => entry(k, x, pad + '  '))
      return [`${lead}${first[0].slice(pad.length + 2)}`, ...first.slice(1), ...rest.flat()]
    }
    return [lead, ...fields.flatMap(([k, x]) => entry(k, x, pad + '  '))]
  }
  const value = v === undefined ? null : v
  if (typeof value === 'string' && canBeLiteral(value)) {
    const {header, lines} = literal(value, pad + '  ')
    return [`${lead}${sep}${header}`, ...lines]
  }
  return [`${lead}${sep}${scalar(value)}`]
}

/**
 * Serialises a plain object as block YAML, each line prefixed with `indent`. Keys whose value is
 * undefined are left out.
 * @example
 * toYaml({severity: 'fail', diff: ['+ link cni0']}, '  ')
 * // ['  severity: fail', '  diff:', '    - "+ link cni0"']
 */
export function toYaml(obj: {[key: string]: YamlValue}, indent = ''): string[] {
  return Object.entries(obj)
    .filter(([, v]) => v !== undefined)
    .flatMap(([k, v]) => entry(k, v, indent))
}
