/** The one JSON envelope every command prints under --json (documented in README "JSON output"). */
export interface Envelope<T> {
  schemaVersion: 1
  command: string
  status: number
  result?: T
  warnings: string[]
  error?: {code: string; message: string; suggestions: string[]}
}
