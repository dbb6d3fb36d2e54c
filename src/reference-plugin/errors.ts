/**
 * CNI error codes (SPEC §5 "Error"). 0–99 are reserved for the well-known meanings; ours start at 100.
 */
export const CODE = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  UNKNOWN_CONTAINER: 3,
  INVALID_ENV: 4,
  IO_FAILURE: 5,
  DECODE_FAILURE: 6,
  INVALID_CONFIG: 7,
  TRY_AGAIN: 11,
  NOT_AVAILABLE: 50,
  LIMITED_CONNECTIVITY: 51,
  /** A kernel operation (an `ip` command) failed. */
  KERNEL_OPERATION_FAILED: 100,
  /** CNI_IFNAME already exists in the container (SPEC §2 ADD). */
  INTERFACE_EXISTS: 101,
  /** A requested IP (args.cni.ips, runtimeConfig.ips, CNI_ARGS IP) is taken or outside every range. */
  REQUESTED_IP_UNAVAILABLE: 102,
  /**
   * ADD found no free address in a range set. Not 50, which says the plugin cannot serve ADD at all
   * (what STATUS reports for the same pool); upstream host-local's is a generic error.
   */
  POOL_EXHAUSTED: 103,
  /** CHECK found the attachment differs from prevResult. */
  CHECK_FAILED: 110,
  /** The delegated IPAM plugin crashed or printed something that is not a result or an error. */
  DELEGATE_FAILED: 120,
  /** A bug in the plugin. */
  INTERNAL: 199,
} as const

/** An error the plugin reports as a SPEC error object `{cniVersion, code, msg, details}`. */
export class CniError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details?: string,
  ) {
    super(msg)
  }
}

export interface ErrorObject {
  cniVersion: string
  code: number
  msg: string
  details?: string
}

export function toErrorObject(err: unknown, cniVersion: string): ErrorObject {
  if (err instanceof CniError) {
    // SPEC §5 Error: details is the longer explanation; never leave it out.
    return {cniVersion, code: err.code, msg: err.message, details: err.details || err.message}
  }
  const e = err as {message?: string; stack?: string}
  return {
    cniVersion,
    code: CODE.INTERNAL,
    msg: `internal error: ${e?.message ?? String(err)}`,
    details: e?.stack ?? String(err),
  }
}

/** Several errors as one (GC keeps going and reports all of them, SPEC §2 GC). */
export function joinErrors(errors: CniError[]): CniError {
  if (errors.length === 1) return errors[0]!
  return new CniError(
    errors[0]!.code,
    errors.map((e) => e.message).join('; '),
    errors
      .map((e) => e.details)
      .filter(Boolean)
      .join('\n'),
  )
}
