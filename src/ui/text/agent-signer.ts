import chalk from 'chalk'

import type {AgentSignerResult, SignerEvent} from '../../services/agent-signer.js'

/**
 * A request's own words (its subject, in `why`) and its name come from whoever made it: control
 * characters are shown as `?`, so no request writes escapes or lines of its own into the log.
 */
// eslint-disable-next-line no-control-regex
const printable = (s: string | undefined) => (s ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, '?')

/** One line per CSR a pass acted on or left pending. */
export function formatSignerEvent(raw: SignerEvent): string {
  const e = {...raw, csr: printable(raw.csr), why: printable(raw.why)}
  const what = e.csr ? `CSR ${e.csr}` : 'agent-signer'
  switch (e.outcome) {
    case 'signed':
      return `${chalk.green('signed')} ${what}${e.approved ? ' (approved: an agent’s serving certificate for its own node)' : ''}`
    case 'pending':
      return `${chalk.yellow('pending')} ${what}: ${e.why} (approve it by hand to have it signed: kubectl certificate approve ${e.csr})`
    case 'failed':
      return `${chalk.red('failed')} ${what}: ${e.why}`
    default:
      return `${chalk.red('error')} ${what}: ${e.why}`
  }
}

/** The log of a watching signer: a line per event, JSON lines with --json. */
export function signerLogger(opts: {json: boolean}) {
  return (e: SignerEvent): void => {
    const time = new Date().toISOString()
    if (opts.json) process.stderr.write(JSON.stringify({time, ...e}) + '\n')
    else process.stderr.write(`${chalk.dim(time)} ${formatSignerEvent(e)}\n`)
  }
}

export function formatSignerResult(r: AgentSignerResult): string {
  if (r.watching)
    return 'agent-signer: watching CertificateSigningRequests of cnidbg.dev/agent-serving (until SIGINT/SIGTERM)'
  if (!r.events.length) return 'No unsigned CertificateSigningRequest of cnidbg.dev/agent-serving.'
  return r.events.map(formatSignerEvent).join('\n')
}
