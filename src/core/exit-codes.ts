/**
 * cnidbg's process exit codes: one table for every command (README "Exit codes"). A plugin's own CNI error code
 * (e.g. `{"code": 7}`) is data in the result, never one of these.
 */
export const EXIT = {
  /** The command did what was asked and everything it checked is fine. */
  OK: 0,
  /** It ran, and what it tested failed: a plugin error, a failed check, an unreachable pod. */
  FAILED: 1,
  /** Bad flags, arguments or config. Fix the input. */
  USAGE: 2,
  /** The machine is not ready: not root, no ip(8), a missing kernel feature or package. */
  ENVIRONMENT: 3,
  /** A bug in cnidbg itself. Please report it with --debug output. */
  INTERNAL: 70,
} as const

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** The table as printed in every command's --help (`EXIT CODES` section) and in the README. */
export const EXIT_CODE_HELP: Record<string, string> = {
  '0': 'success: everything asked for worked',
  '1': 'ran, but the thing under test failed (plugin error, failed check, unreachable)',
  '2': 'usage or config error',
  '3': 'environment not ready (not root, no ip(8), missing package)',
  '70': 'internal error in cnidbg (re-run with --debug and report it)',
}
