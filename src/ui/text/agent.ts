import chalk from 'chalk'

import type {RunAgentResult} from '../../services/agent.js'

/** What a person needs once the agent listens: where, the certificate to pin, what callers need. */
export function formatAgentStarted(r: RunAgentResult): string {
  return [
    `node agent for ${chalk.bold(r.node)} on ${r.url} (pid ${r.pid})`,
    `  certificate SHA-256 ${r.fingerprint}${
      r.certificate === 'cluster'
        ? ` (issued by the cluster for CSR ${r.csr})`
        : r.selfSigned
          ? ` (self-signed at start${r.csr ? `; CSR ${r.csr} pending` : ''})`
          : ''
    }`,
    `  reads ${r.reads}`,
    `  callers need get (read) or create (probes) on nodes/proxy of node ${r.node}` +
      (r.audiences.length ? `, with a token for ${r.audiences.join(' or ')}` : ''),
  ].join('\n')
}

/** The agent's log on stderr: one JSON object per line under --json, else a timestamped line. */
export function agentLogger(opts: {json: boolean; node: string}) {
  return (msg: string): void => {
    const time = new Date().toISOString()
    if (opts.json) process.stderr.write(JSON.stringify({time, node: opts.node, msg}) + '\n')
    else process.stderr.write(`${chalk.dim(time)} ${msg}\n`)
  }
}
