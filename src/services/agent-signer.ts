/**
 * `cnidbg agent-signer`: the approver and signer of the node agents' CSRs on a real cluster
 * (src/kube/agent-signer.ts), one pass (--once) or watching until a signal.
 */
import {accessSync, constants} from 'node:fs'

import {EnvironmentError, UsageError} from '../core/errors.js'
import {surviveUnhandledRejections} from '../core/http.js'
import type {SignerEvent} from '../kube/agent-signer.js'
import {redact} from '../kube/redact.js'
import {requirePrograms} from '../netns/preflight.js'
import {onCleanup} from '../process/cleanup.js'

export type {SignerEvent} from '../kube/agent-signer.js'

export interface AgentSignerServiceOptions {
  /** Default: $KUBECONFIG, ~/.kube/config or in-cluster. */
  kubeconfigPath?: string
  /** The cluster CA the agents' certificates are signed with (PEM files). */
  caCert: string
  caKey: string
  once: boolean
  log?: (event: SignerEvent) => void
}

export interface AgentSignerResult {
  /** --once: what the pass did (pending CSRs included); watching: nothing yet. */
  events: SignerEvent[]
  watching: boolean
}

export async function runAgentSigner(opts: AgentSignerServiceOptions): Promise<AgentSignerResult> {
  // No root: it only talks to the API and runs openssl (deploy/optional runs it as nobody).
  requirePrograms(['openssl'])
  for (const [flag, file] of [
    ['--ca-cert', opts.caCert],
    ['--ca-key', opts.caKey],
    ...(opts.kubeconfigPath ? [['--kubeconfig', opts.kubeconfigPath]] : []),
  ] as const) {
    try {
      accessSync(file, constants.R_OK)
    } catch (error) {
      throw new UsageError(`Can't read ${flag} ${file}: ${(error as Error).message}`, {code: 'SIGNER_FILE'})
    }
  }
  // client-node is loaded only by the commands that talk to the API (src/kube/client.ts).
  const [{KubeConfig}, {AgentSigner}] = await Promise.all([
    import('../kube/client.js'),
    import('../kube/agent-signer.js'),
  ])
  const kc = new KubeConfig()
  if (opts.kubeconfigPath) kc.loadFromFile(opts.kubeconfigPath)
  else kc.loadFromDefault()
  const signer = new AgentSigner({kc, ca: {certFile: opts.caCert, keyFile: opts.caKey}, log: opts.log})
  if (opts.once) {
    try {
      return {events: await signer.pass(), watching: false}
    } catch (error) {
      // Listing the CSRs or the Nodes failed: the cluster, not cnidbg (the per-CSR failures are events).
      throw new EnvironmentError(`The API server did not answer the signer: ${redact((error as Error).message)}`, {
        code: 'SIGNER_API',
        suggestions: ['Check the kubeconfig (--kubeconfig, $KUBECONFIG) and that its user may list CSRs and Nodes.'],
      })
    }
  }
  signer.start()
  // The watch's retry timer is unref'd (src/kube/informers.ts), so while the API server can't be
  // reached, or between a dropped watch and the next, nothing else keeps the process up: this holds
  // it until the signal's cleanup stops the signer, as the help promises.
  const hold = setInterval(() => {}, 2 ** 30)
  onCleanup('agent signer', async () => {
    clearInterval(hold)
    await signer.stop()
  })
  // Runs for the cluster's lifetime: a stray rejection is logged, not the end of the signer.
  surviveUnhandledRejections((line) => opts.log?.({csr: '', outcome: 'error', why: line}))
  return {events: [], watching: true}
}
