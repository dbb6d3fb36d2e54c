/**
 * The lab apiserver as a background process (the lab starts it under /run/cnidbg/lab/<name>/):
 *
 *   node dist/lab/apiserver/main.js --port 0 --kubeconfig K --state S [--history N]
 *        [--token-file F] [--tls-cert-file C --tls-private-key-file K] [--service-account-key-file S]
 *        [--cluster-signing-cert-file CA --cluster-signing-key-file CAKEY]
 *        [--server-version v1.30.0] [--host 127.0.0.1] [--socket PATH] [--log]
 *
 * --token-file is kube-apiserver's --token-auth-file format, `token,user,uid,"group1,group2"` per line
 * (auth.ts says who may do what); it must be owned by the server's user and closed to group and
 * others. --kubeconfig gets the token of the file's first system:masters user. --service-account-key-file
 * holds the key that signs ServiceAccount tokens (at least 32 bytes, closed to group and others), so
 * that tokens minted before a restart stay valid; without it each process signs with a key of its own.
 * --cluster-signing-* name the cluster CA the node agents' CSRs are signed with (csr.ts), as
 * kube-controller-manager's flags of those names do.
 *
 * Prints its URL on stdout, one line, once it is listening (the lab waits for that line). On
 * SIGTERM or SIGINT it ends every watch, writes the state file and exits 0. With --state, a
 * restarted server continues from the saved objects and resourceVersion.
 */
import fs from 'node:fs'
import {parseArgs} from 'node:util'

import {surviveUnhandledRejections} from '../../core/http.js'
import {readTokenFile, type TokenEntry} from './auth.js'
import {readSigningKey} from './sa-tokens.js'
import {startApiServer, type ApiServer} from './server.js'
import {isEntryPoint} from '../entry-point.js'

export interface MainFlags {
  host: string
  port: number
  kubeconfig?: string
  state?: string
  history?: number
  /** Single admin token from $CNIDBG_APISERVER_TOKEN (no token file). */
  token?: string
  tokens?: TokenEntry[]
  tls?: {cert: Buffer; key: Buffer}
  serviceAccountKey?: Buffer
  clusterSigning?: {certFile: string; keyFile: string}
  serverVersion?: string
  /** Also serve on this unix socket (server.ts, socketPath). */
  socket?: string
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
      'tls-cert-file': {type: 'string'},
      'tls-private-key-file': {type: 'string'},
      'service-account-key-file': {type: 'string'},
      'cluster-signing-cert-file': {type: 'string'},
      'cluster-signing-key-file': {type: 'string'},
      'server-version': {type: 'string'},
      socket: {type: 'string'},
      log: {type: 'boolean', default: false},
    },
  })
  const int = (name: string, v: string, max: number): number => {
    if (!/^\d+$/.test(v) || Number(v) > max) throw new Error(`--${name} must be an integer from 0 to ${max}, not ${v}`)
    return Number(v)
  }
  // A token file rather than a flag: argv is world-readable in /proc.
  const tokens = values['token-file'] ? readTokenFile(values['token-file']) : undefined
  if (tokens && tokens.length === 0) throw new Error(`--token-file ${values['token-file']} holds no token`)
  const token = tokens ? undefined : process.env.CNIDBG_APISERVER_TOKEN
  const certFile = values['tls-cert-file']
  const keyFile = values['tls-private-key-file']
  if (Boolean(certFile) !== Boolean(keyFile)) throw new Error('--tls-cert-file and --tls-private-key-file go together')
  const tls = certFile && keyFile ? {cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile)} : undefined
  const caCert = values['cluster-signing-cert-file']
  const caKey = values['cluster-signing-key-file']
  if (Boolean(caCert) !== Boolean(caKey))
    throw new Error('--cluster-signing-cert-file and --cluster-signing-key-file go together')
  // Readable now, so a wrong path fails at start rather than at the first CSR.
  for (const f of [caCert, caKey]) if (f) fs.accessSync(f, fs.constants.R_OK)
  return {
    host: values.host as string,
    port: int('port', values.port as string, 65535),
    kubeconfig: values.kubeconfig,
    state: values.state,
    history: values.history === undefined ? undefined : int('history', values.history, 10_000_000),
    token: token || undefined,
    tokens,
    tls,
    serviceAccountKey: values['service-account-key-file']
      ? readSigningKey(values['service-account-key-file'])
      : undefined,
    clusterSigning: caCert && caKey ? {certFile: caCert, keyFile: caKey} : undefined,
    serverVersion: values['server-version'],
    socket: values.socket,
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
    tokens: f.tokens,
    tls: f.tls,
    serviceAccountKey: f.serviceAccountKey,
    clusterSigning: f.clusterSigning,
    snapshotPath: f.state,
    serverVersion: f.serverVersion,
    socketPath: f.socket,
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
