/**
 * Text kept for people: a plugin's flooded output, a finding that lists 100,000 problems. Megabytes of
 * it make every report, envelope and terminal line that carries it unreadable and can exhaust memory,
 * so such text keeps its start and says how much was cut.
 *
 * No imports (src/core is for code every other folder may use).
 */

/** `text` cut to its first `max` characters, followed by how many more there were. */
export function capText(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…[${text.length - max} more characters cut]` : text
}
