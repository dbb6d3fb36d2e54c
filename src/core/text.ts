/**
 * Text from outside (a plugin's output, its error message, another program's answer) kept for people.
 * Megabytes of it make every report, envelope and terminal line that carries it unreadable and can
 * exhaust memory, so such text keeps its start and says how much was cut (capText). Control
 * characters in it would drive the terminal that shows it, so they are dropped or made visible
 * (visible, oneLine).
 *
 * No imports (src/core is for code every other folder may use).
 */

/** `text` cut to its first `max` characters, followed by how many more there were. */
export function capText(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…[${text.length - max} more characters cut]` : text
}

// Terminal colour/cursor sequences (CSI, OSC, and two-byte ESC forms) that plugins' stderr carries.
// eslint-disable-next-line no-control-regex
export const ANSI_SEQUENCE = /\u001B(?:\[[0-?]*[ -/]*[@-~]|\][^\u0007\u001B]*(?:\u0007|\u001B\\)|[@-Z\\-_])/g
// C0 controls except tab/newline, DEL, C1 controls, and UTF-16 halves without their partner.
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/**
 * Text from a plugin (or another program) made safe to show on a terminal: colour and cursor
 * sequences dropped, other control characters made visible (`\x00`), so it can't move the cursor,
 * erase a line, set the clipboard (OSC 52) or truncate a CI log. Tabs and newlines stay. Machine
 * outputs that must round-trip (TAP YAML, JSON) keep the raw text instead.
 */
export function visible(text: string): string {
  return text
    .replace(/\r\n/g, '\n')
    .replace(ANSI_SEQUENCE, '')
    .replace(INVISIBLE, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`)
    .replace(LONE_SURROGATE, '\uFFFD')
}

/** Collapses whitespace runs (newlines included) so a value fits on one line; controls made visible. */
export function oneLine(text: string): string {
  return visible(text).replace(/\s+/g, ' ').trim()
}

/**
 * Plain data about to be shown, with every string in it, at any depth, passed through `visible`: for
 * renderers that interpolate dozens of fields from outside (what agents and the kernel said on a trace
 * path, a process name a pod chose).
 */
export function visibleStrings<T>(value: T): T {
  if (typeof value === 'string') return visible(value) as T
  if (Array.isArray(value)) return value.map((v: unknown) => visibleStrings(v)) as T
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = visibleStrings(v)
    return out as T
  }
  return value
}
