/**
 * Splits a plugin's stdout into JSON values and the noise around them. SPEC §5: stdout carries exactly
 * one JSON object; anything else (log lines before it, a second object after it) breaks runtimes
 * (libcni's parser rejects the whole output), so we find it, report it, and still recover the object.
 */
import {JsonTooDeepError, parseJson} from '../core/json.js'

export interface SplitOutput {
  objects: unknown[]
  /** Non-whitespace text outside the JSON values. */
  noise: string
  /** Text that looks like JSON but does not parse. */
  unparsed: string
  /** Set when a value in `unparsed` is JSON nested deeper than cnidbg reads: what core/json.ts said. */
  unparsedTooDeep?: string
}

function endOfValue(text: string, start: number): number {
  let depth = 0
  let inString = false
  for (let i = start; i < text.length; i++) {
    const c = text[i]
    if (inString) {
      if (c === '\\') i++
      else if (c === '"') inString = false
      continue
    }
    if (c === '"') inString = true
    else if (c === '{' || c === '[') depth++
    else if (c === '}' || c === ']') {
      depth--
      if (depth === 0) return i + 1
    }
  }
  return -1
}

export function splitJsonOutput(stdout: string): SplitOutput {
  const objects: unknown[] = []
  let noise = ''
  let unparsed = ''
  let unparsedTooDeep: string | undefined
  let i = 0
  while (i < stdout.length) {
    const next = stdout.indexOf('{', i)
    if (next === -1) {
      noise += stdout.slice(i)
      break
    }
    noise += stdout.slice(i, next)
    const end = endOfValue(stdout, next)
    if (end === -1) {
      unparsed += stdout.slice(next)
      break
    }
    const chunk = stdout.slice(next, end)
    try {
      objects.push(parseJson(chunk))
    } catch (error) {
      unparsed += chunk
      if (error instanceof JsonTooDeepError) unparsedTooDeep ??= error.message
    }
    i = end
  }
  return {noise: noise.trim(), objects, unparsed: unparsed.trim(), ...(unparsedTooDeep ? {unparsedTooDeep} : {})}
}

/**
 * A value from a plugin's output as text: a string as it is, anything else as JSON. Never throws,
 * unlike String() or a template literal on an object whose "toString" key is not a function.
 */
export function valueText(v: unknown): string {
  return typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v))
}
