import type {CaseEnv} from './case-env.js'
import type {Evidence, PluginRole, Severity} from './types.js'

/**
 * One conformance check (README "cnidbg conformance"): a plain object with its requirement ids, spec
 * anchor and severity, and a `run` that gets everything through the case environment. No work at
 * import time.
 */
export interface Check {
  /** `<area>.<property>`, matching the file name in kebab-case. */
  id: string
  title: string
  /** Checklist ids (fixtures/spec/cni-spec-checklist.md), e.g. ['P72']. */
  requirements: string[]
  /** Anchor into SPEC.md. */
  spec: string
  /** What a violation is by the spec's own words. */
  severity: Severity
  /** A SHOULD that the default profile still fails because it hurts in production (leaks, lying results, DEL that blocks the runtime). */
  productionCritical?: boolean
  roles: readonly PluginRole[]
  /** Runs once per spec version (true) or once at the highest version (false). */
  perVersion: boolean
  /**
   * Every plugin call it judges is a call of the plugin under test (the plugins before it in a chain
   * only make its prevResult), so under the chained role its findings are about that plugin. Checks
   * without it judge the list's calls and kernel state, and a finding of theirs that shows with the
   * plugins before it alone is about those plugins.
   */
  judgesSubjectOnly?: boolean
  /** Whether it applies at this version (verbs by version, from src/runtime/versions.ts). */
  appliesTo?: (version: string) => boolean
  run(env: CaseEnv): Promise<CheckOutcome>
}

export type CheckOutcome =
  | {status: 'pass'; message?: string; evidence?: Evidence}
  | {
      status: 'violation'
      message: string
      evidence?: Evidence
      severity?: Severity
      upstreamDeparture?: boolean
      /** The index in the list of the plugin the finding is about, when it is not the one under test. */
      pluginIndex?: number
    }
  | {status: 'skip'; message: string}

export const pass = (message?: string, evidence?: Evidence): CheckOutcome => ({evidence, message, status: 'pass'})
export const skip = (message: string): CheckOutcome => ({message, status: 'skip'})
export const violation = (
  message: string,
  evidence?: Evidence,
  extra: {severity?: Severity; upstreamDeparture?: boolean; pluginIndex?: number} = {},
): CheckOutcome => ({
  evidence,
  message,
  status: 'violation',
  ...extra,
})

export const SPEC = {
  add: 'SPEC.md#add-add-container-to-network-or-apply-modifications',
  addSuccess: 'SPEC.md#add-success',
  check: 'SPEC.md#check-check-containers-networking-is-as-expected',
  chained: 'CONVENTIONS.md#chained-plugins',
  cniArgs: 'CONVENTIONS.md#cni_args',
  config: 'SPEC.md#plugin-configuration-objects',
  del: 'SPEC.md#del-remove-container-from-network-or-un-apply-modifications',
  delegation: 'SPEC.md#delegated-plugin-protocol',
  dynamic: 'CONVENTIONS.md#dynamic-plugin-specific-fields-capabilities--runtime-configuration',
  error: 'SPEC.md#error',
  errors: 'SPEC.md#errors',
  gc: 'SPEC.md#gc-clean-up-any-stale-resources',
  ipam: 'SPEC.md#delegated-plugins-ipam',
  lifecycle: 'SPEC.md#lifecycle--ordering',
  overview: 'SPEC.md#overview-1',
  parameters: 'SPEC.md#parameters',
  status: 'SPEC.md#status-check-plugin-status',
  version: 'SPEC.md#version-probe-plugin-version-support',
  versionSuccess: 'SPEC.md#version-success',
} as const
