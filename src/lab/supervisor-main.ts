/**
 * The lab supervisor as a background process (started by `lab up`, stopped by `lab down`):
 *
 *   node dist/lab/supervisor-main.js --dir /run/cnidbg/lab/<name>
 *
 * Logs to stdout (the lab sends it to logs/supervisor.log). On SIGTERM or SIGINT it stops every node
 * agent and exits 0; the namespaces and their state stay for `lab down` to remove.
 */
import {parseArgs} from 'node:util'

import {surviveUnhandledRejections} from '../core/http.js'
import {Supervisor} from './supervisor.js'
import {isEntryPoint} from './entry-point.js'

export async function runSupervisor(argv: readonly string[]): Promise<Supervisor> {
  const {values} = parseArgs({args: [...argv], strict: true, options: {dir: {type: 'string'}}})
  if (!values.dir) throw new Error('--dir is required')
  const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`)
  const sup = new Supervisor(values.dir, log)
  await sup.start()
  return sup
}

if (isEntryPoint(import.meta.url)) {
  // It hosts every node's daemon and kubelet: one stray rejection must not stop them all.
  surviveUnhandledRejections((line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`))
  runSupervisor(process.argv.slice(2)).then(
    (sup) => {
      let stopping = false
      const stop = (signal: NodeJS.Signals) => {
        if (stopping) return
        stopping = true
        process.stdout.write(`${new Date().toISOString()} ${signal}: stopping\n`)
        const force = setTimeout(() => process.exit(1), 15_000)
        force.unref()
        sup.stop().then(
          () => process.exit(0),
          (e: unknown) => {
            process.stderr.write(`cnidbg lab supervisor: ${(e as Error).message}\n`)
            process.exit(1)
          },
        )
      }
      process.on('SIGTERM', stop)
      process.on('SIGINT', stop)
      process.on('SIGHUP', stop)
    },
    (e: unknown) => {
      process.stderr.write(`cnidbg lab supervisor: ${(e as Error).stack ?? String(e)}\n`)
      process.exit(1)
    },
  )
}
