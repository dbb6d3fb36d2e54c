/**
 * The error a server's failed listen becomes, for the commands that take --listen (the daemon, the
 * agent). Apart from http.ts, which the lab's API server bundles: errors.ts brings oclif with it.
 */
import {existsSync} from 'node:fs'
import {dirname} from 'node:path'

import {EnvironmentError, UsageError} from './errors.js'

/**
 * Why a server can't listen on `address` (its --listen value; `socketPath` for a unix socket), as an
 * error naming --listen: the machine's (exit 3) when another process holds the address or it needs
 * privileges, the caller's (exit 2) when the address is not this machine's or the socket's directory
 * does not exist. Anything else is returned as it came. The daemon and the agent both use it.
 */
export function listenFailure(error: unknown, address: string, socketPath?: string): unknown {
  const code = (error as NodeJS.ErrnoException)?.code
  const where = `Cannot listen on --listen ${address}`
  // bind(2) on a socket path whose directory is missing fails with EACCES or ENOENT.
  if (socketPath && (code === 'ENOENT' || code === 'EACCES') && !existsSync(dirname(socketPath))) {
    return new UsageError(`${where}: the directory ${dirname(socketPath)} does not exist.`, {
      code: 'LISTEN_NO_DIRECTORY',
      suggestions: ['Create it, or give a socket path in a directory that exists'],
      cause: error,
    })
  }
  if (code === 'EADDRINUSE') {
    return new EnvironmentError(`${where}: another process listens there.`, {
      code: 'LISTEN_IN_USE',
      suggestions: [
        socketPath ? 'Stop it, or give another path' : 'Stop it, or give another port (port 0 picks a free one)',
      ],
      cause: error,
    })
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new EnvironmentError(`${where}: permission denied.`, {
      code: 'LISTEN_DENIED',
      suggestions: [
        socketPath
          ? 'Give a path in a directory this user may create files in'
          : 'A port below 1024 needs root or CAP_NET_BIND_SERVICE: give a higher one',
      ],
      cause: error,
    })
  }
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
    return new UsageError(`${where}: the address is not one of this machine's.`, {
      code: 'LISTEN_NOT_LOCAL',
      suggestions: ['Give an address of one of its interfaces, 127.0.0.1, or 0.0.0.0 for all of them'],
      cause: error,
    })
  }
  return error
}
