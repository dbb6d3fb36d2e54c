import {resolve} from 'node:path'

import type {CheckResult, PluginRole, Profile} from '../checks/types.js'
import {shellWord} from '../core/quote.js'

/** What of a run the reproduce line must repeat. */
export interface ReproduceRun {
  conf: string
  cniPath: string[]
  role: PluginRole
  /** The conf file lists the plugins before the one under test itself (not put in front by the suite). */
  contextInConf: boolean
  profile: Profile
  strict: boolean
  host: boolean
  /** cnidbg-ref's served mode (--served). */
  served: boolean
  timeoutSeconds: number
  /** The version a version-independent check ran at (the highest of the run). */
  highest: string
  /**
   * A lone chained plugin: the list the suite ran, with its upstream in front (as JSON), and the path
   * its plugins were found on. A finding about that upstream is reproduced on it.
   */
  suiteChain?: {conf: string; cniPath: string[]}
}

/**
 * The primary reproduce line of a finding: the suite again, on the same config, with only that
 * check at that version, sandboxed as the suite is; it exits 1 for as long as the finding persists
 * (a warning is asked with --strict, so it fails too). A finding about the plugins before the one
 * under test (chained role) is not the run's failure, so the line tests the list in the interface
 * role, where it is the run's: the config itself when it lists them, or, when the suite put them in
 * front of a lone chained plugin, that list, piped in as the config.
 * @example
 * reproduceLine(run, {id: 'del.idempotent', version: '1.0.0', status: 'fail'})
 * // 'cnidbg conformance /etc/cni/net.d/10-bridge.conflist --only del.idempotent --versions 1.0.0 --role interface --cni-path /usr/lib/cni'
 */
export function reproduceLine(
  run: ReproduceRun,
  r: Pick<CheckResult, 'context' | 'id' | 'status' | 'version'>,
): string {
  const piped = r.context && !run.contextInConf ? run.suiteChain : undefined
  const role = r.context && (run.contextInConf || piped) ? 'interface' : run.role
  const argv = [
    'cnidbg',
    'conformance',
    piped ? '/dev/stdin' : resolve(run.conf),
    '--only',
    r.id,
    '--versions',
    r.version ?? run.highest,
    '--role',
    role,
    '--cni-path',
    (piped?.cniPath ?? run.cniPath).map((d) => resolve(d)).join(':'),
    ...(run.profile === 'default' ? [] : ['--profile', run.profile]),
    ...(run.strict || r.status === 'warn' ? ['--strict'] : []),
    ...(run.host ? ['--host'] : []),
    ...(run.served ? ['--served'] : []),
    ...(run.timeoutSeconds === 30 ? [] : ['--timeout', String(run.timeoutSeconds)]),
  ]
  return `${piped ? `printf '%s\\n' ${shellWord(piped.conf)} | ` : ''}${argv.map(shellWord).join(' ')}`
}
