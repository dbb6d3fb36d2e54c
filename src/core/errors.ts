import {Errors} from '@oclif/core'

import {EXIT, type ExitCode} from './exit-codes.js'

interface ErrorOptions {
  code: string
  exit?: ExitCode
  suggestions?: string[]
  cause?: unknown
}

/**
 * An error the user can act on. Which subclass is thrown says whose fault it is (README "Exit codes"); the base
 * command turns it into one line plus suggestions, or the JSON envelope's `error`.
 */
export class CnidbgError extends Errors.CLIError {
  readonly cnidbgCode: string

  constructor(message: string, opts: ErrorOptions) {
    super(message, {code: opts.code, exit: opts.exit ?? EXIT.FAILED, suggestions: opts.suggestions})
    this.cnidbgCode = opts.code
    if (opts.cause !== undefined) (this as {cause?: unknown}).cause = opts.cause
  }
}

/** Bad flags, arguments or config: exit 2. */
export class UsageError extends CnidbgError {
  constructor(message: string, opts: Omit<ErrorOptions, 'exit'>) {
    super(message, {...opts, exit: EXIT.USAGE})
  }
}

/** The machine can't run this (privileges, binaries, kernel): exit 3. */
export class EnvironmentError extends CnidbgError {
  constructor(message: string, opts: Omit<ErrorOptions, 'exit'>) {
    super(message, {...opts, exit: EXIT.ENVIRONMENT})
  }
}

/** The thing under test failed in a way that stops the command: exit 1. */
export class FailureError extends CnidbgError {
  constructor(message: string, opts: Omit<ErrorOptions, 'exit'>) {
    super(message, {...opts, exit: EXIT.FAILED})
  }
}

export function isCnidbgError(err: unknown): err is CnidbgError {
  return err instanceof CnidbgError
}
