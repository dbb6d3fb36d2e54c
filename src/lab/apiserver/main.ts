/**
 * The lab apiserver as a background process (the lab starts it under /run/cnidbg/lab/<name>/):
 *
 *   node dist/lab/apiserver/main.js --port 0 --kubeconfig K --state S [--history N]
 *        [--token-file F] [--server-version v1.30.0] [--host 127.0.0.1] [--log]
 *
 * Prints its URL on stdout, one line, once it is listening (the lab waits for that line). On
 * SIGTERM or SIGINT it ends every watch, writes the state file and exits 0. With --state, a
 * restarted server continues from the saved objects and resourceVersion.
 */
import fs from 'node:fs'
import {parseArgs} from 'node:util'

import {surviveUnhandledRejections} from '../../core/http.js'
import {startApiServer, type ApiServer} from './server.js'
import {isEntryPoint} from '../entry-point.js'

export interface MainFlags {
  host: string
  port: number
  kubeconfig?: string
  state?: string
  history?: number
  token?: string
  serverVersion?: string
  log: boolean
}

export function parseFlags(argv: readonly string[]): MainFlags {
  const {values} = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      host: {type: 'string', default: '127.0.0.1'},
      port: {type: 'string', default: '0'},
      kubeconfig: {type: 'string'},
      state: {type: 'string'},
      history: {type: 'string'},
      'token-file': {type: 'string'},
      'server-version': {type: 'string'},
      log: {type: 'boolean', default: false},
    },
  })
  const int = (name: string, v: string, max: number): number => {
    if (!/^\d+$/.test(v) || Number(v) > max) throw new Error(`--${name} must be an integer from 0 to ${max}, not ${v}`)
    return Number(v)
  }
  // A token file rather than a flag: argv is world-readable in /proc.
  const token = values['token-file']
    ? fs.readFileSync(values['token-file'], 'utf8').trim()
    : process.env.CNIDBG_APISERVER_TOKEN
  return {
    host: values.host as string,
    port: int('port', values.port as string, 65535),
    kubeconfig: values.kubeconfig,
    state: values.state,
    history: values.history === undefined ? undefined : int('history', values.history, 10_000_000),
    token: token || undefined,
    serverVersion: values['server-version'],
    log: values.log as boolean,
  }
}

/** Starts the server from argv, writes the kubeconfig, then reports the URL through `out`. */
export async function runMain(argv: readonly string[], out: (line: string) => void): Promise<ApiServer> {
  const f = parseFlags(argv)
  const server = await startApiServer({
    host: f.host,
    port: f.port,
    historySize: f.history,
    token: f.token,
    snapshotPath: f.state,
    serverVersion: f.serverVersion,
    log: f.log ? (line) => process.stderr.write(`${line}\n`) : undefined,
  })
  if (f.kubeconfig) server.writeKubeconfig(f.kubeconfig)
  out(server.url)
  return server
}

if (isEntryPoint(import.meta.url)) {
  surviveUnhandledRejections((line) => process.stderr.write(`cnidbg lab apiserver: ${line}\n`))
  runMain(process.argv.slice(2), (line) => process.stdout.write(`${line}\n`)).then(
    (server) => {
      let stopping = false
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) return
        stopping = true
        process.stderr.write(`cnidbg lab apiserver: ${signal}, shutting down\n`)
        server.close().then(
          () => process.exit(0),
          (e: unknown) => {
            process.stderr.write(`cnidbg lab apiserver: ${(e as Error).message}\n`)
            process.exit(1)
          },
        )
      }
      process.on('SIGTERM', stop)
      process.on('SIGINT', stop)
    },
    (e: unknown) => {
      process.stderr.write(`cnidbg lab apiserver: ${(e as Error).message}\n`)
      process.exit(1)
    },
  )
}
