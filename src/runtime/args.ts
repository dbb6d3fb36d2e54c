import {UsageError} from '../core/errors.js'
import type {JsonObject} from './types.js'
import {parseJson} from '../core/json.js'

/** Parses CNI_ARGS-style `K=V;K2=V2` (CONVENTIONS "CNI_ARGS"). Like cnitool, empty keys or values are errors. */
export function parseCniArgs(text: string | undefined): Array<[string, string]> {
  if (!text) return []
  return text
    .split(';')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const eq = pair.indexOf('=')
      const k = eq === -1 ? '' : pair.slice(0, eq)
      const v = eq === -1 ? '' : pair.slice(eq + 1)
      if (!k || !v)
        throw new UsageError(`Invalid CNI_ARGS pair "${pair}": expected KEY=VALUE.`, {
          code: 'INVALID_ARGS',
          suggestions: ['Example: --args "IgnoreUnknown=1;K8S_POD_NAME=web-0"'],
        })
      return [k, v] as [string, string]
    })
}

export const formatCniArgs = (args: Array<[string, string]>): string => args.map(([k, v]) => `${k}=${v}`).join(';')

/** Parses CAP_ARGS: a JSON object of capability args, e.g. {"portMappings": [...]}. */
export function parseCapArgs(text: string | undefined): JsonObject {
  if (!text) return {}
  let v: unknown
  try {
    v = parseJson(text)
  } catch (error) {
    throw new UsageError(`CAP_ARGS is not valid JSON: ${(error as Error).message}`, {
      code: 'INVALID_CAP_ARGS',
      suggestions: [`Example: --cap-args '{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}'`],
    })
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new UsageError('CAP_ARGS must be a JSON object keyed by capability name.', {code: 'INVALID_CAP_ARGS'})
  return v as JsonObject
}
