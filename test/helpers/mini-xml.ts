/**
 * A strict little XML 1.0 reader for tests (no new dependencies): it throws on anything a real
 * parser would reject in our JUnit output (unbalanced tags, unquoted or duplicate attributes,
 * raw `<`/`&`, unknown entities, characters XML 1.0 forbids) and returns a tree with decoded text.
 * It does not support DTDs, CDATA, comments or processing instructions other than the prolog.
 */
export interface XmlNode {
  name: string
  attrs: Record<string, string>
  children: XmlNode[]
  text: string
}

// XML 1.0 §2.2 Char, minus the surrogate pairs JS strings hold as two code units (checked below).
// eslint-disable-next-line no-control-regex
const ILLEGAL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const NAME = /^[A-Za-z_:][-A-Za-z0-9_:.]*/

function decode(raw: string, where: string): string {
  if (/[<]/.test(raw)) throw new Error(`raw < in ${where}: ${JSON.stringify(raw.slice(0, 80))}`)
  return raw.replace(/&([^;]*);|&/g, (m, ent: string | undefined) => {
    if (ent === undefined) throw new Error(`bare & in ${where}`)
    const named: Record<string, string> = {amp: '&', lt: '<', gt: '>', quot: '"', apos: "'"}
    if (ent in named) return named[ent]
    const num = /^#(\d+)$/.exec(ent) ?? /^#x([\da-fA-F]+)$/.exec(ent)
    if (!num) throw new Error(`unknown entity &${ent}; in ${where}`)
    const code = Number.parseInt(num[1], ent.startsWith('#x') ? 16 : 10)
    const ch = String.fromCodePoint(code)
    if (ILLEGAL.test(ch) || (code >= 0xd800 && code <= 0xdfff))
      throw new Error(`illegal character reference &${ent}; in ${where}`)
    return ch
  })
}

export function parseXml(text: string): XmlNode {
  if (ILLEGAL.test(text))
    throw new Error(`illegal XML character U+${text.match(ILLEGAL)![0].charCodeAt(0).toString(16)}`)
  if (LONE_SURROGATE.test(text)) throw new Error('lone surrogate in XML text')
  let i = 0
  const prolog = /^<\?xml version="1\.0" encoding="UTF-8"\?>\s*/.exec(text)
  if (!prolog) throw new Error('missing XML declaration')
  i = prolog[0].length
  const root: XmlNode = {name: '#document', attrs: {}, children: [], text: ''}
  const stack: XmlNode[] = [root]
  while (i < text.length) {
    const lt = text.indexOf('<', i)
    const chunk = text.slice(i, lt === -1 ? text.length : lt)
    const top = stack.at(-1)!
    if (stack.length === 1 && chunk.trim() !== '') throw new Error('text outside the root element')
    top.text += decode(chunk, `<${top.name}> text`)
    if (lt === -1) break
    i = lt
    if (text.startsWith('</', i)) {
      const m = /^<\/([^\s>]+)\s*>/.exec(text.slice(i))
      if (!m) throw new Error(`bad end tag at ${i}`)
      const open = stack.pop()!
      if (open.name !== m[1]) throw new Error(`</${m[1]}> closes <${open.name}>`)
      i += m[0].length
      continue
    }
    i++
    const name = NAME.exec(text.slice(i))
    if (!name) throw new Error(`bad tag name at ${i}`)
    i += name[0].length
    const node: XmlNode = {name: name[0], attrs: {}, children: [], text: ''}
    for (;;) {
      const ws = /^\s*/.exec(text.slice(i))![0]
      i += ws.length
      if (text.startsWith('/>', i)) {
        i += 2
        top.children.push(node)
        break
      }
      if (text[i] === '>') {
        i++
        top.children.push(node)
        stack.push(node)
        break
      }
      if (ws === '') throw new Error(`attributes of <${node.name}> need whitespace between them`)
      const a = /^([A-Za-z_:][-A-Za-z0-9_:.]*)="([^"]*)"/.exec(text.slice(i))
      if (!a) throw new Error(`bad attribute in <${node.name}> at ${JSON.stringify(text.slice(i, i + 40))}`)
      if (a[1] in node.attrs) throw new Error(`duplicate attribute ${a[1]} in <${node.name}>`)
      node.attrs[a[1]] = decode(a[2], `${node.name}@${a[1]}`)
      i += a[0].length
    }
    if (stack.length === 1 && root.children.length > 1) throw new Error('more than one root element')
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack.at(-1)!.name}>`)
  if (root.children.length !== 1) throw new Error('no root element')
  return root.children[0]
}

/** Every descendant (depth first) with this element name. */
export function findAll(node: XmlNode, name: string): XmlNode[] {
  return node.children.flatMap((c) => [...(c.name === name ? [c] : []), ...findAll(c, name)])
}
