import {CniError, CODE} from './errors.js'

/**
 * Parses CNI_ARGS (`K=V;K2=V2`, CONVENTIONS.md "CNI_ARGS"). Unknown keys are kept and ignored by the
 * callers: kubelet sends `IgnoreUnknown=1;K8S_POD_NAMESPACE=…;K8S_POD_NAME=…` (checklist P115).
 */
export function parseCniArgs(raw: string | undefined): Map<string, string> {
  const out = new Map<string, string>()
  if (!raw) return out
  for (const pair of raw.split(';')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    if (eq <= 0) {
      throw new CniError(
        CODE.INVALID_ENV,
        `CNI_ARGS has an invalid pair "${pair}"`,
        'CNI_ARGS must be KEY=VALUE pairs separated by ";", e.g. IgnoreUnknown=1;K8S_POD_NAME=web',
      )
    }
    out.set(pair.slice(0, eq), pair.slice(eq + 1))
  }
  return out
}
