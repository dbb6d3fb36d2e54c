/** What t.throws / t.rejects should match for a cnidbg error: its code, and its exit code when given. */
export function cnidbgError(code: string, exit?: number, message?: RegExp): Error {
  // tap's ErrorMatch type has no slot for extra fields; the match itself is a plain object pattern.
  return {
    cnidbgCode: code,
    ...(exit === undefined ? {} : {oclif: {exit}}),
    ...(message ? {message} : {}),
  } as unknown as Error
}
