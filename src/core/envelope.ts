/** The one JSON envelope every command prints under --json (documented in README "JSON output"). */
export interface Envelope<T> {
  schemaVersion: 1
  command: string
  status: number
  result?: T
  warnings: string[]
  error?: {code: string; message: string; suggestions: string[]}
}

/**
 * Builds the envelope, with its keys in the documented order: BaseCommand prints it under --json and
 * the JSON reporter writes it to a file, and both must give the same shape.
 */
export function envelope<T>(
  head: Pick<Envelope<T>, 'command' | 'status' | 'warnings'>,
  body: {result: T} | {error: NonNullable<Envelope<T>['error']>},
): Envelope<T> {
  return 'result' in body
    ? {schemaVersion: 1, command: head.command, status: head.status, result: body.result, warnings: head.warnings}
    : {schemaVersion: 1, command: head.command, status: head.status, warnings: head.warnings, error: body.error}
}
