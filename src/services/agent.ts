/** `cnidbg agent`: the node agent, serving in the foreground until a signal. */
import {runAgent, type RunAgentOptions, type RunAgentResult} from '../agent/agent.js'
import {requireEnvironment} from '../netns/preflight.js'

export {DEFAULT_AGENT_LISTEN, DEFAULT_AGENT_PORT, type RunAgentResult} from '../agent/agent.js'
export {DEFAULT_CACHE_DIR} from '../runtime/cache.js'

/** Starts the agent: resolves once it listens, and it serves on until SIGINT/SIGTERM. */
export function startAgentService(opts: RunAgentOptions): Promise<RunAgentResult> {
  requireEnvironment(['ip', 'nsenter', 'openssl'])
  return runAgent(opts)
}
