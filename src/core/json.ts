/**
 * JSON from outside cnidbg (a config file, a plugin's stdout, a cache entry, an HTTP body, an agent's
 * answer) with its nesting bounded. JSON.parse itself takes any depth, but what cnidbg does with the
 * value next does not: JSON.stringify overflows Node's stack at about 5,000 levels, structuredClone and
 * cnidbg's own recursive walks (the libcni cache encoder, merge patches, canonical forms) sooner. A
 * file or a plugin that nests 20,000 arrays then ended a run with "Maximum call stack size exceeded"
 * and "This is a bug in cnidbg", and the lab apiserver answered it with a 500.
 *
 * Go's encoding/json, which libcni, the upstream plugins and the Kubernetes apiserver decode with,
 * refuses more than 10,000 levels ("exceeded max depth"). cnidbg's limit is lower, so that every
 * walk of an accepted value has stack to spare; no CNI config, result or Kubernetes object comes near
 * it.
 *
 * No imports (src/core is for code every other folder may use).
 */

/** The deepest nesting of objects and arrays accepted. */
export const MAX_JSON_DEPTH = 512

/** A JSON text nested deeper than MAX_JSON_DEPTH: a SyntaxError, as JSON.parse's own failures are. */
export class JsonTooDeepError extends SyntaxError {
  constructor(readonly limit: number) {
    super(`JSON nested deeper than ${limit} levels`)
    this.name = 'JsonTooDeepError'
  }
}

/**
 * Whether `text` opens more than `limit` objects and arrays inside one another. Counts brackets
 * outside strings only; it does not check that the text is JSON (JSON.parse does that next).
 */
export function nestedDeeperThan(text: string, limit: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // backslash: the next char is escaped
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return false
}

/** JSON.parse for text from outside: also throws (JsonTooDeepError) on nesting deeper than `limit`. */
export function parseJson(text: string, limit: number = MAX_JSON_DEPTH): unknown {
  if (nestedDeeperThan(text, limit)) throw new JsonTooDeepError(limit)
  return JSON.parse(text) as unknown
}
