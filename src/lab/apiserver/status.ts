/**
 * Kubernetes `Status` errors. Clients branch on `reason` and `code` (client-go's
 * `apierrors.IsNotFound`, `IsConflict`, `IsResourceExpired`, client-node's informer on `code: 410`),
 * so every failure the server returns is one of these, shaped like the real apiserver's.
 */

export interface StatusCause {
  reason?: string
  message?: string
  field?: string
}

export interface StatusDetails {
  name?: string
  group?: string
  kind?: string
  uid?: string
  causes?: StatusCause[]
  retryAfterSeconds?: number
}

/** metav1.Status as sent on the wire. */
export interface Status {
  kind: 'Status'
  apiVersion: 'v1'
  metadata: Record<string, never>
  status: 'Failure' | 'Success'
  message?: string
  reason?: string
  details?: StatusDetails
  code: number
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message)
    this.name = 'ApiError'
  }

  toStatus(): Status {
    const s: Status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    }
    if (this.details) s.details = this.details
    return s
  }
}

export function notFound(resource: string, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${resource} "${name}" not found`, {name, kind: resource})
}

export function alreadyExists(resource: string, name: string): ApiError {
  return new ApiError(409, 'AlreadyExists', `${resource} "${name}" already exists`, {name, kind: resource})
}

/** Optimistic-concurrency failure: the text client-go users grep for. */
export function conflict(resource: string, name: string, why: string): ApiError {
  return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${resource} "${name}": ${why}`, {
    name,
    kind: resource,
  })
}

export function invalid(kind: string, name: string, causes: StatusCause[]): ApiError {
  const list = causes.map((c) => `${c.field}: ${c.message}`).join(', ')
  const message = `${kind} "${name}" is invalid: ${causes.length > 1 ? `[${list}]` : list}`
  return new ApiError(422, 'Invalid', message, {name, kind, causes})
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message)
}

export function methodNotAllowed(): ApiError {
  return new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource')
}

/** 410 with reason Expired: what both the watch cache and etcd compaction produce. */
export function expired(message: string): ApiError {
  return new ApiError(410, 'Expired', message)
}

export function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized')
}

export function forbidden(resource: string, name: string, why: string): ApiError {
  return new ApiError(403, 'Forbidden', `${resource} "${name}" is forbidden: ${why}`, {name, kind: resource})
}

export function unsupportedMediaType(contentType: string): ApiError {
  return new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: application/json, application/merge-patch+json, application/strategic-merge-patch+json, application/json-patch+json (got ${JSON.stringify(contentType)})`,
  )
}

export function notAcceptable(): ApiError {
  return new ApiError(406, 'NotAcceptable', 'only the following media types are accepted: application/json')
}

/** Real apiservers answer a list or watch for a resourceVersion they have not reached yet with this. */
export function tooLargeResourceVersion(requested: number, current: number): ApiError {
  return new ApiError(504, 'Timeout', `Too large resource version: ${requested}, current: ${current}`, {
    causes: [{reason: 'ResourceVersionTooLarge', message: 'Too large resource version'}],
    retryAfterSeconds: 1,
  })
}
