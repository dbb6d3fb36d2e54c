/** `cnidbg ref daemon`: the node daemon run in the foreground until a signal (or --once). */
import {FailureError} from '../core/errors.js'
import {EXIT} from '../core/exit-codes.js'
import {runNodeDaemon, type RunDaemonOptions, type RunDaemonResult} from '../daemon/daemon.js'
import {requireEnvironment} from '../netns/preflight.js'

export {BACKEND_TYPES, type BackendType} from '../daemon/annotations.js'
export {DEFAULT_VXLAN_PORT} from '../daemon/backends/vxlan.js'
export {POLICY_MODES, type PolicyMode} from '../daemon/policy-enforcer.js'
export {
  DEFAULT_CLUSTER_CIDR,
  DEFAULT_IFACE,
  DEFAULT_LISTEN,
  DEFAULT_RESYNC_SECONDS,
  type LogLevel,
  type RunDaemonResult,
} from '../daemon/daemon.js'
export {DEFAULT_STATE_DIR} from '../daemon/state.js'
export {DEFAULT_SUBNET_FILE} from '../daemon/subnet-file.js'

export function runDaemon(opts: RunDaemonOptions): Promise<RunDaemonResult> {
  requireEnvironment(['ip', 'bridge', 'nsenter', 'grep'])
  return runNodeDaemon(opts)
}

/**
 * An unhealthy end is an error for a person (thrown), and a result with exit 1 for a script (`json`),
 * which reads why from result.diag. Returns the exit status for the command to set.
 */
export function settleDaemon(result: RunDaemonResult, json: boolean): number {
  if (result.healthy) return EXIT.OK
  if (json) return EXIT.FAILED
  throw new FailureError(`Node ${result.node} did not converge: ${result.problem ?? 'unhealthy'}.`, {
    code: 'DAEMON_NOT_HEALTHY',
    suggestions: ['Run it with --once --json and read result.diag (peers, skippedPeers, lastReconcile.errors)'],
  })
}
