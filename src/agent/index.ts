/** The node agent (`cnidbg agent`): its server, its API, and the client and reader for its callers. */
export {runAgent, startAgent, parseListen, DEFAULT_AGENT_LISTEN, DEFAULT_AGENT_PORT} from './agent.js'
export type {RunAgentOptions, RunAgentResult, RunningAgent} from './agent.js'
export {
  AgentClient,
  AgentError,
  AgentKernelReader,
  AgentNode,
  type AgentApi,
  type AgentClientOptions,
} from './client.js'
export {AgentOps, type AgentOpsOptions} from './ops.js'
export {PATHS, LIVE_PATHS, API_VERSION, verbFor} from './api.js'
export type {NodeInfo, PodsAnswer, SnapshotAnswer, SnapshotBody, Target} from './api.js'
export {Gate, GateRefusal, apiReviewer, type Reviewer, type Caller} from '../kube/node-proxy-gate.js'
