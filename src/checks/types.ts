/**
 * The data model of `cnidbg conformance`. Checks produce these; reporters (pretty/ink, tap, junit,
 * json) only render them. Plain data only, so it can go into the --json envelope as is.
 */
import type {SpecVersion} from '../runtime/versions.js'

export type Severity = 'must' | 'should' | 'info'
export type CheckStatus = 'pass' | 'fail' | 'warn' | 'skip'
/**
 * What the plugin under test is held to. `loopback` is the one interface plugin with a contract of
 * its own: it brings up `lo` whatever CNI_IFNAME says, so the checks built on CNI_IFNAME do not apply.
 */
export type PluginRole = 'interface' | 'chained' | 'ipam' | 'loopback'
/** `default` fails MUSTs and the SHOULDs that hurt in production; `spec-minimum` fails only MUSTs. */
export type Profile = 'default' | 'spec-minimum'

export interface Evidence {
  /** What the spec (or our profile) expected, in one line. */
  expected?: string
  /** What we saw instead. */
  observed?: string
  /** Plugin invocations that matter: verb, exit code, stdout, stderr (bounded). */
  invocations?: Array<{verb: string; exitCode: number | null; stdout: string; stderr: string; durationMs: number}>
  /** Kernel/state diff lines, e.g. "+ link cni0 (host)" or "- addr 10.1.0.2/24 eth0 (container)". */
  diff?: string[]
  /**
   * The command that reruns exactly this check at this version, sandboxed as the suite is; it exits
   * 1 for as long as the finding persists.
   */
  reproduce?: string
  /** The same plugin calls by hand: one `cnidbg exec invoke … --sandbox` line each (env and stdin), in order. */
  byHand?: string[]
}

export interface CheckResult {
  id: string
  title: string
  /**
   * The `type` of the plugin the finding is about: the plugin under test, or under the chained role,
   * when the finding shows with the plugins before it alone, those plugins (`ptp`, `bridge+tuning`).
   */
  plugin: string
  /** Set when the finding is about the plugins before the one under test (chained role), not about it. */
  context?: boolean
  status: CheckStatus
  /** The spec version the case ran at, or null for version-independent checks. */
  version: string | null
  /** Checklist requirement ids, e.g. ['P72']. */
  requirements: string[]
  /** Anchor into the CNI SPEC.md, e.g. 'SPEC.md#del-remove-container-from-network-or-un-apply-modifications'. */
  spec: string
  severity: Severity
  /** Which profile turned a violation into fail or warn (absent for pass/skip). */
  decidedBy?: Profile | 'upstream-departure'
  message: string
  evidence?: Evidence
  durationMs: number
  /** Served mode (--served): the case's own plugin server and the ADD and DEL requests it ran. */
  server?: {pid: number; served: number}
}

export interface ConformanceSummary {
  passed: number
  failed: number
  warned: number
  skipped: number
}

export interface ConformanceReport {
  conf: string
  plugins: Array<{type: string; path: string; supportedVersions: string[]}>
  role: PluginRole
  profile: Profile
  strict: boolean
  /** Set when the run tested cnidbg-ref's served mode (--served): every case had its own plugin server. */
  served?: boolean
  versions: SpecVersion[]
  /** Counts of the findings about the plugin under test; context findings are counted in `context`. */
  summary: ConformanceSummary
  /**
   * Chained role: the plugins before the one under test, and the counts of the findings about them
   * (reported apart; they do not decide the exit status). Absent when no finding is about them.
   */
  context?: {plugins: string[]; summary: ConformanceSummary}
  checks: CheckResult[]
  durationMs: number
  /** Summed wall time of every plugin invocation: the suite's own overhead is durationMs minus this (over parallelism). */
  pluginTimeMs: number
}

/** Events the runner emits while it works; the live views subscribe to them, the runner knows no UI. */
export interface RunEvents {
  'check:start': {id: string; version: string | null; title: string}
  'check:end': CheckResult
  done: ConformanceReport
}
