/**
 * The words of the NetworkPolicy rules the daemon writes, and the one place that turns them into
 * iptables-restore lines. Every word but a comment comes from validated fields (addresses formatted by
 * core/ip.ts, port numbers checked, chain names from a hash, fixed keywords) and must match SAFE_WORD;
 * a comment, which carries names from the API, goes through `commentWord`, whose output the parser of
 * iptables-restore reads back byte for byte (test/daemon/policy-apply.ts proves it against the real
 * iptables-restore and iptables-save).
 */
import {createHash} from 'node:crypto'

/** The mark bit a policy chain sets on a packet some rule allows (kube-proxy uses 0x4000 and 0x8000). */
export const ALLOW_MARK = '0x20000/0x20000'
export const CLEAR_MARK = '0x0/0x20000'
/** Every chain the daemon owns starts with this; nothing else it reads or deletes. */
export const CHAIN_PREFIX = 'CNIDBG-NP-'
/** The chain FORWARD jumps to. */
export const TOP_CHAIN = 'CNIDBG-NP-FORWARD'
/** iptables' chain name limit (XT_EXTENSION_MAXNAMELEN 29, with the NUL). */
export const MAX_CHAIN = 28
/** The comment match's limit (XT_MAX_COMMENT_LEN 256, with the NUL). */
export const MAX_COMMENT = 255

/** The words allowed outside a comment: no quote, backslash, space or shell/parser metacharacter. */
const SAFE_WORD = /^[A-Za-z0-9._/:,!+-]+$/

/** Bytes a comment keeps as they are; every other byte becomes %XX (so % itself is escaped). */
const PLAIN = /^[A-Za-z0-9 ._/:,=+-]$/
const ALL_PLAIN = /^[A-Za-z0-9 ._/:,=+-]*$/

/**
 * A comment as iptables-restore reads it: inside double quotes its parser (add_param_to_argv) takes
 * every byte literally except `"`, `\` and the line end, none of which the encoding leaves. Bytes
 * outside PLAIN are percent-encoded as UTF-8, like the reference plugin's ifalias; `decodeComment`
 * is the inverse. Longer text is cut to MAX_COMMENT bytes between characters and ends with `...`.
 */
export function encodeComment(text: string): string {
  if (text.length <= MAX_COMMENT && ALL_PLAIN.test(text)) return text
  const parts: string[] = []
  for (const ch of text) {
    if (PLAIN.test(ch)) parts.push(ch)
    else
      parts.push([...Buffer.from(ch, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''))
  }
  const whole = parts.join('')
  if (whole.length <= MAX_COMMENT) return whole
  // Cut between characters, so neither an escape nor a UTF-8 sequence is split.
  let out = ''
  for (const p of parts) {
    if (out.length + p.length > MAX_COMMENT - 3) break
    out += p
  }
  return `${out}...`
}

export function decodeComment(text: string): string {
  return decodeURIComponent(text)
}

/** A comment word for a restore line: the encoded text in double quotes. */
export function commentWord(text: string): string {
  return `"${encodeComment(text)}"`
}

/** A rule: the words after `-A CHAIN`; `comment` is added as `-m comment --comment` before the target. */
export interface Rule {
  match: string[]
  comment: string
  target: string[]
}

/** `-A CHAIN …` as an iptables-restore line. Throws on any word outside SAFE_WORD (a bug upstream). */
export function ruleLine(chain: string, rule: Rule): string {
  const words = [chain, ...rule.match, ...rule.target]
  for (const w of words) {
    if (!SAFE_WORD.test(w)) throw new Error(`unsafe word in a policy rule: ${JSON.stringify(w)}`)
  }
  return ['-A', chain, ...rule.match, '-m', 'comment', '--comment', commentWord(rule.comment), ...rule.target].join(' ')
}

/** RFC 4648 base32 without padding, as kube-proxy names its chains. */
function base32(bytes: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = 0
  let value = 0
  let out = ''
  for (const b of bytes) {
    value = (value << 8) | b
    bits += 8
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
    value &= (1 << bits) - 1
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31]
  return out
}

/**
 * A chain name: the prefix (policy or pod, ingress or egress) and the base32 SHA-256 of the object's
 * NAMESPACE/NAME, cut to MAX_CHAIN. Deterministic, so a restart finds its chains; the object's name
 * itself is in the comments of the rules that jump there.
 */
export function chainName(kind: 'I' | 'E' | 'PI' | 'PE', key: string): string {
  const prefix = `${CHAIN_PREFIX}${kind}-`
  const hash = base32(createHash('sha256').update(key).digest())
  return (prefix + hash).slice(0, MAX_CHAIN)
}
