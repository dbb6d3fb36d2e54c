/**
 * Label and field selectors, with the grammar and matching rules of k8s.io/apimachinery's
 * pkg/labels and pkg/fields. A malformed selector is a 400, as on a real apiserver.
 */
import {badRequest} from './status.js'

export type LabelOp = '=' | '!=' | 'in' | 'notin' | 'exists' | '!exists' | 'gt' | 'lt'

export interface LabelRequirement {
  key: string
  op: LabelOp
  values: string[]
}

export interface FieldRequirement {
  field: string
  op: '=' | '!='
  value: string
}

// labels.validateLabelKey / validateLabelValue: qualified names, values up to 63 characters.
const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

function validKey(key: string): boolean {
  const slash = key.indexOf('/')
  const [prefix, name] = slash < 0 ? ['', key] : [key.slice(0, slash), key.slice(slash + 1)]
  if (slash >= 0 && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false
  return name.length > 0 && name.length <= 63 && NAME.test(name)
}

function validValue(v: string): boolean {
  return v === '' || (v.length <= 63 && NAME.test(v))
}

type Token = {t: 'id'; v: string} | {t: 'op'; v: string}

// The lexer of pkg/labels/selector.go: identifiers run until whitespace or a special character.
function lex(s: string): Token[] {
  const out: Token[] = []
  let i = 0
  while (i < s.length) {
    const c = s[i]
    if (/\s/.test(c)) {
      i++
      continue
    }
    const two = s.slice(i, i + 2)
    if (two === '==' || two === '!=') {
      out.push({t: 'op', v: two})
      i += 2
      continue
    }
    if ('=!(),<>'.includes(c)) {
      out.push({t: 'op', v: c})
      i++
      continue
    }
    let j = i
    while (j < s.length && !/\s/.test(s[j]) && !'=!(),<>'.includes(s[j])) j++
    out.push({t: 'id', v: s.slice(i, j)})
    i = j
  }
  return out
}

/** Parses `a=b,c!=d,e in (f,g),!h,i` into requirements, all of which must hold (AND). */
export function parseLabelSelector(selector: string): LabelRequirement[] {
  const fail = (why: string) =>
    badRequest(`unable to parse requirement: ${why} (in label selector ${JSON.stringify(selector)})`)
  const toks = lex(selector)
  const reqs: LabelRequirement[] = []
  let i = 0
  const peek = () => toks[i]
  const isOp = (v: string) => peek()?.t === 'op' && peek()?.v === v
  const ident = (what: string): string => {
    const tk = toks[i]
    if (!tk || tk.t !== 'id') throw fail(`expected ${what}`)
    i++
    return tk.v
  }
  while (i < toks.length) {
    let negate = false
    if (isOp('!')) {
      negate = true
      i++
    }
    const key = ident('a label key')
    if (!validKey(key)) throw fail(`invalid label key ${JSON.stringify(key)}`)
    const next = peek()
    if (negate || !next || isOp(',')) {
      reqs.push({key, op: negate ? '!exists' : 'exists', values: []})
    } else if (next.t === 'op' && (next.v === '=' || next.v === '==' || next.v === '!=')) {
      i++
      // `a=` selects an empty value, as it does in kubectl.
      const tk = peek()
      const value = tk && tk.t === 'id' ? (i++, tk.v) : ''
      if (!validValue(value)) throw fail(`invalid label value ${JSON.stringify(value)}`)
      reqs.push({key, op: next.v === '!=' ? '!=' : '=', values: [value]})
    } else if (next.t === 'op' && (next.v === '<' || next.v === '>')) {
      i++
      const value = ident('an integer')
      if (!/^-?\d+$/.test(value)) throw fail(`for 'gt', 'lt' operators, the value must be an integer`)
      reqs.push({key, op: next.v === '>' ? 'gt' : 'lt', values: [value]})
    } else if (next.t === 'id' && (next.v === 'in' || next.v === 'notin')) {
      i++
      if (!isOp('(')) throw fail(`found ${JSON.stringify(peek()?.v ?? '')}, expected: '('`)
      i++
      const values: string[] = []
      for (;;) {
        const tk = peek()
        if (tk && tk.t === 'id') {
          if (!validValue(tk.v)) throw fail(`invalid label value ${JSON.stringify(tk.v)}`)
          values.push(tk.v)
          i++
        } else if (isOp(',') || isOp(')')) {
          values.push('')
        }
        if (isOp(',')) {
          i++
          continue
        }
        if (isOp(')')) {
          i++
          break
        }
        throw fail(`found ${JSON.stringify(peek()?.v ?? '')}, expected: ',' or ')'`)
      }
      reqs.push({key, op: next.v, values})
    } else {
      throw fail(`found ${JSON.stringify(next.v)}, expected: in, notin, =, ==, !=, gt, lt`)
    }
    if (i < toks.length) {
      if (!isOp(',')) throw fail(`found ${JSON.stringify(peek()?.v)}, expected: ','`)
      i++
      if (i >= toks.length) throw fail('found end of string after a comma')
    }
  }
  return reqs
}

/** True when every requirement holds. `!=` and `notin` also match objects without the label. */
export function matchLabels(reqs: readonly LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {}
  return reqs.every(({key, op, values}) => {
    const has = Object.hasOwn(l, key)
    const v = l[key]
    switch (op) {
      case 'exists':
        return has
      case '!exists':
        return !has
      case '=':
      case 'in':
        return has && values.includes(v)
      case '!=':
      case 'notin':
        return !has || !values.includes(v)
      case 'gt':
      case 'lt': {
        if (!has || !/^-?\d+$/.test(v)) return false
        return op === 'gt' ? Number(v) > Number(values[0]) : Number(v) < Number(values[0])
      }
    }
    return false
  })
}

// pkg/fields: terms split on unescaped commas; `\,`, `\=` and `\\` escape inside values.
function splitUnescaped(s: string, sep: string): string[] {
  const parts: string[] = []
  let cur = ''
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && i + 1 < s.length) {
      cur += s[i] + s[i + 1]
      i++
    } else if (s[i] === sep) {
      parts.push(cur)
      cur = ''
    } else cur += s[i]
  }
  parts.push(cur)
  return parts
}

function unescapeValue(v: string): string {
  let out = ''
  for (let i = 0; i < v.length; i++) {
    if (v[i] === '\\') {
      const n = v[i + 1]
      if (n !== '\\' && n !== ',' && n !== '=')
        throw badRequest(`invalid field selector: invalid escape sequence in ${JSON.stringify(v)}`)
      out += n
      i++
    } else if (v[i] === ',' || v[i] === '=') {
      throw badRequest(`invalid field selector: unescaped ${v[i]} in ${JSON.stringify(v)}`)
    } else out += v[i]
  }
  return out
}

/**
 * Parses `spec.nodeName=n1,status.phase!=Failed`. `allowed` is the resource's field labels: an
 * unknown one is a 400 ("field label not supported"), which is what kubectl users see from a real server.
 */
export function parseFieldSelector(selector: string, allowed?: readonly string[]): FieldRequirement[] {
  if (selector.trim() === '') return []
  return splitUnescaped(selector, ',').map((term) => {
    // pkg/fields tries `!=`, then `==`, then `=`.
    for (const op of ['!=', '==', '='] as const) {
      const at = term.indexOf(op)
      if (at <= 0) continue
      const field = term.slice(0, at).trim()
      if (allowed && !allowed.includes(field)) throw badRequest(`field label not supported: ${field}`)
      return {field, op: op === '!=' ? '!=' : '=', value: unescapeValue(term.slice(at + op.length))}
    }
    throw badRequest(`invalid selector: '${selector}'; can't understand '${term}'`)
  })
}

export function matchFields(reqs: readonly FieldRequirement[], get: (field: string) => string): boolean {
  return reqs.every(({field, op, value}) => (get(field) === value) === (op === '='))
}
