/**
 * iptables-restore input from structured data. A rule is a list of words; each word is checked
 * against what iptables-restore's tokenizer reads back unchanged, and written bare or in double
 * quotes. The tokenizer (iptables' xshared.c, add_param_to_argv) splits a line on spaces and tabs,
 * keeps a double-quoted run of characters as one word and gives a backslash a meaning inside quotes;
 * a line starting with '#' is a comment. So a word may hold only printable ASCII other than the
 * quote characters, the backslash and '#', a word with a space is quoted, and nothing else is
 * ever quoted or escaped. Anything outside that set is refused with an error, never rewritten: the
 * rule would otherwise say something else than the data it came from.
 * test/service-proxy/apply.ts round-trips words through the real iptables-restore and
 * iptables-save.
 */

/** Characters a bare word may hold. */
const BARE = /^[A-Za-z0-9_.:/,!=+%@-]+$/
/** Characters a quoted word may hold: the bare ones, space and '>' (kube-proxy's "ns/svc:port -> ip:port"). */
const QUOTABLE = /^[A-Za-z0-9_.:/,!=+%@> -]+$/

export class RestoreWordError extends Error {}

/** One word as iptables-restore must see it; throws RestoreWordError for a word it cannot carry. */
export function restoreWord(word: string): string {
  if (BARE.test(word)) return word
  // A quoted word must hold something besides spaces, and no run of spaces at its ends that a
  // reader could mistake for a separator: iptables keeps them, but nothing we write needs them.
  if (QUOTABLE.test(word) && word.trim() === word && word !== '') return `"${word}"`
  throw new RestoreWordError(`iptables-restore cannot carry the word ${JSON.stringify(word)}`)
}

export function restoreLine(words: readonly string[]): string {
  return words.map(restoreWord).join(' ')
}

/** One table of a restore: chain declarations (flushes them under --noflush), then rules. */
export interface RestoreTable {
  name: 'filter' | 'nat'
  /** Chains declared with `:NAME - [0:0]`: created if missing, flushed if present. */
  chains: string[]
  /** Rules, each a list of words beginning with -A, -I or -X. */
  rules: string[][]
}

const CHAIN = /^[A-Z][A-Z0-9-]{0,28}$/

/** The whole iptables-restore input (for `iptables-restore --noflush`). */
export function renderRestore(tables: readonly RestoreTable[]): string {
  const out: string[] = []
  for (const t of tables) {
    out.push(`*${t.name}`)
    for (const c of t.chains) {
      if (!CHAIN.test(c)) throw new RestoreWordError(`not a chain name: ${JSON.stringify(c)}`)
      out.push(`:${c} - [0:0]`)
    }
    for (const r of t.rules) out.push(restoreLine(r))
    out.push('COMMIT')
  }
  return `${out.join('\n')}\n`
}
